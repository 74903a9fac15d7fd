"""CNN blob sections (blob kind KIND_CNN): the one definition of their bytes.

Written by the host (``ulearn_host.nn.export``), read by ``ulearn.nn.model``; both import these
constants. All little-endian, every section 4-byte aligned by the container (``ulearn.blob``).

``META`` (JSON): ``name``, ``classes``, ``input_shape``, ``input_scale``, ``input_zero_point``,
``output_shape``, ``output_scale``, ``output_zero_point``, ``params``, ``macs``, ``scales`` (output
scale of every layer, for host tools), ``ops`` (op names, informative).

``LAYR`` layer table: header ``<HHHH`` (layout version NN_VERSION, layer count, record size
LAYER_SIZE, 0), then one LAYER_FORMAT record per layer::

    op u8 (OP_*), flags u8 (FLAG_BIAS), act_min i8, act_max i8,
    in_h, in_w, in_c, out_h, out_w, out_c                      u16 (1-D ops: h = 1; vectors: 1, 1, n)
    k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left   u16
    depth_multiplier u16, in_zp i16, out_zp i16, reserved u16
    w_off u32, w_len u32      byte range of this layer's weights in WGHT
    q_off u32                 first channel of this layer in BIAS / QMUL / QSFT (out_c entries)
    extra i32                 softmax: diff_min; otherwise 0

``WGHT`` int8 weights of all layers (conv OHWI, conv1d OWI, depthwise 1HW(C*M), dense (O, I)), each
layer's block starting on a 4-byte boundary. ``BIAS`` int32, ``QMUL`` int32 multipliers, ``QSFT``
int8 shifts (TFLite sign: positive = left), one entry per output channel of every weighted layer
and softmax (softmax: input multiplier and input left shift; its bias entry is 0). Layers without a
bias keep zeros there and FLAG_BIAS clear.

``PLAN`` arena plan: header ``<IIHH`` (arena bytes, scratch offset, tensor count = layers + 1, 0),
then ``<II`` (offset, bytes) per tensor; tensor i is the input of layer i, tensor n the model output.
The im2col scratch of conv layers starts at the scratch offset and runs to the end of the arena.
"""

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NN_VERSION = const(1)

TAG_LAYERS = b"LAYR"
TAG_WEIGHTS = b"WGHT"
TAG_BIAS = b"BIAS"
TAG_MULT = b"QMUL"
TAG_SHIFT = b"QSFT"
TAG_PLAN = b"PLAN"

LAYR_HEADER = "<HHHH"
LAYR_HEADER_SIZE = const(8)
LAYER_FORMAT = "<BBbb6H8HHhhHIIIi"
LAYER_SIZE = const(56)
PLAN_HEADER = "<IIHH"
PLAN_HEADER_SIZE = const(12)
PLAN_ENTRY = "<II"
PLAN_ENTRY_SIZE = const(8)

FLAG_BIAS = const(1)

OP_CONV = const(1)          # conv1d and conv2d (1-D: in_h = k_h = 1)
OP_DEPTHWISE = const(2)
OP_DENSE = const(3)
OP_MAX_POOL = const(4)      # 1-D and 2-D
OP_AVG_POOL = const(5)
OP_RESHAPE = const(6)
OP_SOFTMAX = const(7)

OP_NAMES = {
    OP_CONV: "conv",
    OP_DEPTHWISE: "depthwise_conv2d",
    OP_DENSE: "dense",
    OP_MAX_POOL: "max_pool",
    OP_AVG_POOL: "avg_pool",
    OP_RESHAPE: "reshape",
    OP_SOFTMAX: "softmax",
}

# largest depthwise layer (bytes of its weights expanded to a dense conv: out_c*k_h*k_w*in_c) that
# compiled backends run through conv_s8; larger ones use the direct loops
DW_EXPAND_MAX = const(8192)

# im2col rows per block that the arena plan reserves scratch for (a backend may ask for more at
# load; the model then grows the scratch at the end of the arena).
COL_ROWS = const(16)


def col_bytes(in_c, k_h, k_w, out_h, out_w):
    """Scratch bytes the plan reserves for one conv layer: min(out_h*out_w, COL_ROWS) im2col rows."""
    rows = out_h * out_w
    if rows > COL_ROWS:
        rows = COL_ROWS
    return (rows * k_h * k_w * in_c + 3) & ~3

