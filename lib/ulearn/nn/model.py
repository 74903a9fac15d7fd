"""The int8 CNN model (blob kind KIND_CNN): load, predict, info.

    m = ulearn.load("fan.mpy")         # -> Model (through from_blob)
    cls = m.predict(x)                 # x: array('b') int8 quantized input, or array('f') floats
    cls = m.predict(x, out)            # out: array('b') int8 scores, or array('f') dequantized scores
    m.confidence()                     # float score of the last predicted class (softmax: probability)
    m.info()

Loading validates every length, shape and range of the blob (``ulearn.nn.format``) before it
allocates, then allocates once: the activation arena (static plan from the host, im2col scratch at
its end), one int8 array (weights, then the per-channel shifts), one int32 array ``q`` (model words
H_*, biases, multipliers) and the layer program ``g`` (per layer ``[op, kernel words...]``, int16
words when they fit; see ulearn.nn._alloc). Kernels take whole buffers and read their arguments from
the program, so a model holds no tuple or memoryview per layer. A raw blob file (``ulearn.load("m.ulb")``,
``ulearn.nn.load_raw``) is read section by section straight into those arrays and the metadata
sections (META, LAYR, PLAN) are not kept, so the model's heap is within blob + arena. A bytes blob
(a ``.mpy`` constant) is copied once into the int8 array. After the first call with a given input
object, ``predict`` allocates nothing for int8 inputs (on 32-bit ports, where integers beyond +-2^30
are heap objects: with the viper or native backend; the pure-Python one boxes Q31 values there);
float inputs are quantized at the edge (round half away from zero), which boxes floats on ports
without immediate floats.
"""

import sys

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import ulearn.backend  # noqa: F401 - the package chooses the provider once, at import
from ulearn import int8_array  # noqa: F401 - also used by ulearn.nn and ulearn.nn._alloc
from ulearn.fixedpoint import LIMBS
from ulearn.nn import format as F

if not LIMBS:  # every model ends in a softmax: with the model code (32-bit ports: ulearn.nn._slimbs)
    from ulearn.nn._softmax import softmax as _softmax

# the module itself (the package attribute `ulearn.backend` is a forwarding callable)
backend = sys.modules["ulearn.backend"]

_COMPILED = ("viper", "native")  # backends whose port compiles viper: pooling follows them
_IN_PLACE = ("viper", "native", "ulab")  # backends whose kernels read the weights from bytes in place
_vp = None  # ulearn.nn._vpool (viper pooling), or False on a port without viper
_L = None   # ulearn.nn.layers (the Python kernels), loaded when first needed


def _viper():
    global _vp
    if _vp is None:
        try:
            from ulearn.nn import _vpool as v
        except (ImportError, SyntaxError, ValueError, AttributeError):  # no viper on this port
            v = False
        _vp = v
    return _vp


def _layers():
    global _L
    if _L is None:
        from ulearn.nn import layers
        _L = layers
    return _L


# model words at the start of q (written by ulearn.nn._alloc)
_H_WIDE = const(0)      # 1: the layer program is an array('i'), 0: array('h')
_H_COUNT = const(1)     # layers
_H_N_IN = const(2)
_H_N_OUT = const(3)
_H_Y0 = const(4)        # arena offset of the model output
_H_IN0 = const(5)       # arena offset of the quantized input (float inputs)
_H_IN_ZP = const(6)
_H_OUT_ZP = const(7)
_H_LAST = const(8)      # class of the last predict
_H_FLAGS = const(9)     # 1: x is float, 2: out is float
_H_ARENA = const(10)
_H_WBYTES = const(11)
_H_PARAMS = const(12)
_H_MACS = const(13)
_H_COPIED = const(14)
_H_NDIM = const(15)     # then the input shape in words 16 .. 18
_H_LIMBS = const(19)    # 1: weighted records are followed by 2 words per channel (ulearn.fixedpoint.LIMBS)
_native_pool = None
_native_softmax = None
_slimbs = None
_vsoftmax = None
_SOFTMAX_MAX = const(4095)  # longest softmax the viper one takes (its int32 sum of exps cannot wrap)


def _vsm():
    # ulearn.nn._vsoftmax.softmax (viper, 32-bit ports), or False without viper
    global _vsoftmax
    if _vsoftmax is None:
        try:
            from ulearn.nn._vsoftmax import softmax as f
        except (ImportError, SyntaxError, ValueError, AttributeError):
            f = False
        _vsoftmax = f
    return _vsoftmax


def _limb_softmax():
    # ulearn.nn._slimbs.softmax_limbs: the softmax without heap integers on 31-bit-small-int ports
    global _slimbs
    if _slimbs is None:
        from ulearn.nn._slimbs import softmax_limbs as f
        _slimbs = f
    return _slimbs


def _nsm():
    # ulearn_native.softmax_s8 (C softmax) when the native module has it, else False
    global _native_softmax
    if _native_softmax is None:
        _native_softmax = getattr(sys.modules.get("ulearn_native"), "softmax_s8", None) or False
    return _native_softmax


def _npool():
    # ulearn_native.pool_s8 (C pooling) when the native module has it, else False
    global _native_pool
    if _native_pool is None:
        _native_pool = getattr(sys.modules.get("ulearn_native"), "pool_s8", None) or False
    return _native_pool


# words of a layer record [op, kernel words...] by op (depthwise: + 26 when it carries an expanded conv)
_SIZE = (0, 27, 29, 15, 17, 17, 1, 7)


def run_layer(m, p, src):
    """Run the layer whose program record starts at m._g[p] on `src` (the layer input: predict's x for
    the layers that read the model input, else the arena); its output lands in the arena. Returns the
    next record. Used by predict and profiling."""
    g = m._g
    op = g[p]
    act = m._arena
    w = m._w
    if w is None:  # the weights follow the activations in the same array
        w = act
    if op == F.OP_CONV:
        backend.conv_s8(src, act, w, m._q, g, p + 1)
        if m._q[_H_LIMBS]:
            return p + 27 + 2 * g[p + 12]
    elif op == F.OP_DENSE:
        backend.gemm_s8(src, act, w, m._q, g, p + 1)
        if m._q[_H_LIMBS]:
            return p + 15 + 2 * g[p + 8]
    elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
        name = backend.NAME
        if name == "native" and _npool():
            _native_pool(src, act, g, p + 1)
        elif name in _COMPILED and _viper():
            _vp.pool(src, act, g, p + 1, m._q[_H_WIDE])
        else:
            _layers().pool(src, act, g, p + 1)
    elif op == F.OP_DEPTHWISE:
        ix = g[p + 1]
        end = p + (55 if ix >= 0 else 29)
        if ix >= 0 and backend.NAME != "python":  # as a dense conv whose weights are zero off the diagonal
            backend.conv_s8(src, act, m._extra[ix], m._q, g, p + 29)
        else:
            _layers().depthwise_conv(src, act, w, m._q, g, p + 2, end if m._q[_H_LIMBS] else -1)
        return end + (2 * g[p + 13] if m._q[_H_LIMBS] else 0)
    elif op == F.OP_SOFTMAX:
        limbs = m._q[_H_LIMBS]
        if backend.NAME == "native" and g[p + 3] <= _SOFTMAX_MAX and _nsm():
            _native_softmax(src, act, m._q, g, p + 1)  # C (ulearn_native.softmax_s8), the same integers
        elif limbs and backend.NAME in _COMPILED and g[p + 3] <= _SOFTMAX_MAX and _vsm():
            _vsoftmax(src, act, m._q, g, p + 1, m._q[_H_WIDE])  # 32-bit ports: machine words
        elif limbs:  # 32-bit ports: no heap integers
            _limb_softmax()(src, act, m._q, g, p + 1, p + 7)
        else:
            _softmax(src, act, m._q, g, p + 1)
        if limbs:
            return p + 9
    return p + _SIZE[op]


def _release(name):
    # forget a load-time module so its bytecode can be collected (boards keep modules in RAM)
    sys.modules.pop("ulearn.nn." + name, None)
    pkg = sys.modules.get("ulearn.nn")
    if pkg is not None and name in pkg.__dict__:
        delattr(pkg, name)


def _reserve(plan, source):
    # free-heap check for everything the model will allocate, then its one large block: the arena
    # followed by the int8 weights and shifts (only the arena when the weights are used in place)
    from ulearn.blob import BlobError
    total, need = plan[4], plan[6]
    try:
        import gc
        gc.collect()
        free = gc.mem_free()
    except (ImportError, AttributeError):
        free = None
    if free is not None and need > free:
        raise BlobError("%s: model needs %d bytes of heap (arena %d, weights, quantization and layers %d), "
                        "only %d free: use a smaller model or free memory first" % (
                            source, need, total, need - total, free))
    try:
        if plan[14] is not None:  # weights in place
            return int8_array(total)
        buf = int8_array(total + plan[12] + plan[2], zero=False)
        for i in range(total):
            buf[i] = 0
        return buf
    except MemoryError:
        raise BlobError("%s: model needs about %d bytes of heap (arena %d), allocation failed: use a "
                        "smaller model or free memory first" % (source, need, total)) from None


class Model:
    """An int8 CNN from a validated blob (see the module docstring)."""

    # defaults kept on the class, so a model's attribute dict holds only what it sets
    _extra = None   # expanded depthwise weights (compiled backends), when a model has such layers
    _w = None       # the weights buffer when it is not the arena's tail (weights used in place)
    _in_buf = None  # where float inputs are quantized (made at the first float predict)
    _unit = ""      # META input_unit
    _x_seen = None  # the input object checked last (predict checks a new one once)
    _out_seen = None

    def __init__(self, blob, source="<bytes>", path=None):
        """Validate `blob` (ulearn.blob.Blob of kind CNN), or the raw blob file `path` (then `blob` is
        None), and allocate; BlobError if unusable."""
        from ulearn.nn import _load
        try:
            plan, sec = _load.prepare(self, blob, path, source)
        finally:
            _release("_load")  # the checking code leaves the heap before the buffers are made
        arena = _reserve(plan, source)  # the largest buffer first, into the space just freed
        from ulearn.nn import _alloc
        try:
            _alloc.build(self, source, plan, arena, sec, path)
        finally:
            _release("_alloc")

    # ---- plain numbers (model words in q: no attribute each)

    @property
    def input_shape(self):
        """The input shape (tuple, e.g. (128, 3) for T x C windows)."""
        q = self._q
        if q[_H_NDIM] == 1:
            return (q[16],)
        if q[_H_NDIM] == 2:
            return (q[16], q[17])
        return (q[16], q[17], q[18]) if q[_H_NDIM] == 3 else ()

    @property
    def params(self):
        """Parameters of the model (from its blob)."""
        return self._q[_H_PARAMS]

    @property
    def macs(self):
        """Multiply-accumulates per inference (from its blob)."""
        return self._q[_H_MACS]

    @property
    def arena_bytes(self):
        """Bytes of the activation arena (im2col scratch included)."""
        return self._q[_H_ARENA]

    @property
    def weight_bytes(self):
        """Bytes of int8 weights."""
        return self._q[_H_WBYTES]

    @property
    def weights_copied(self):
        """True when the weights were copied from an in-memory blob (False: read from a raw file into
        the model's array, or used in place; see weights_in_place)."""
        return self._q[_H_COPIED] == 1

    @property
    def weights_in_place(self):
        """True when the weights are read where the blob holds them (a .mpy constant: in flash on ROMFS
        boards), without a copy (viper, native and ulab backends on MicroPython)."""
        return self._q[_H_COPIED] == 2

    def _own_weights(self):
        # weights used in place (unsigned bytes of the blob) -> an int8 copy at the same offsets, for a
        # backend whose kernels read Python integers (chosen after the load)
        src = self._w
        w = int8_array(len(src), zero=False)
        for i in range(len(src)):
            v = src[i]
            w[i] = v - 256 if v > 127 else v
        self._w = w
        self._q[_H_COPIED] = 1

    # ---- inference

    def _check_input(self, x):
        q = self._q
        n = q[_H_N_IN]
        try:
            got = len(x)
        except TypeError:
            raise ValueError("x: expected an array('b') (int8) or array('f') of %d values" % n) from None
        if got != n:
            raise ValueError("x: expected %d values (input shape %r), got %d" % (n, self.input_shape, got))
        if isinstance(x[0], float):
            q[_H_FLAGS] |= 1
            if self._in_buf is None:  # where predict quantizes float inputs (the input tensor's place)
                o = q[_H_IN0]
                self._in_buf = self._arena if o == 0 else memoryview(self._arena)[o:o + n]
        else:
            try:
                size = len(bytes(x))
            except (TypeError, ValueError, OverflowError):
                size = -1
            if size != n:
                raise ValueError("x: int8 array('b') or float array('f') expected (got %d-byte items)" %
                                 (size // n if size > 0 else 0))
            for v in x:
                if v > 127:
                    raise ValueError("x: value %d is not int8: pass an array('b') of quantized values" % v)
            q[_H_FLAGS] &= 2
        self._x_seen = x

    def _quantize(self, x):
        buf = self._in_buf
        f = self._f  # input scale, output scale[, mean per channel, std per channel]
        scale, zp = f[0], self._q[_H_IN_ZP]
        nc = (len(f) - 2) // 2
        c = 0
        for i in range(self._q[_H_N_IN]):
            if nc:
                v = (x[i] - f[2 + c]) / f[2 + nc + c] / scale
                c += 1
                if c == nc:
                    c = 0
            else:  # no standardization in this blob
                v = x[i] / scale
            v = int(v + 0.5) if v >= 0 else int(v - 0.5)
            v += zp
            buf[i] = -128 if v < -128 else (127 if v > 127 else v)

    def _check_out(self, out):
        q = self._q
        n = q[_H_N_OUT]
        try:
            got = len(out)
        except TypeError:
            raise ValueError("out: expected an array('b') or array('f') of %d values" % n) from None
        if got != n:
            raise ValueError("out: expected %d values, got %d" % (n, got))
        if isinstance(out[0], float):
            q[_H_FLAGS] |= 2
        else:
            try:
                size = len(bytes(out))
            except (TypeError, ValueError, OverflowError):
                size = -1
            if size != n:
                raise ValueError("out: int8 array('b') or float array('f') expected")
            q[_H_FLAGS] &= 1
        self._out_seen = out

    def predict(self, x, out=None):
        """Run the model on one input; returns the index of the largest output (the class).

        x: array('b') of quantized int8 values (input scale/zero point in info()), or array('f')
        of floats standardized per channel (input_mean/input_std of the blob, if any) and quantized
        here; flat, in the input shape's row-major order. out (optional):
        array('b') receives the int8 outputs, array('f') the dequantized outputs (probabilities
        after softmax). Raises ValueError naming the argument for a wrong length or typecode.
        """
        q = self._q
        if q[_H_COPIED] == 2 and backend.NAME not in _IN_PLACE:
            self._own_weights()
        if x is not self._x_seen:
            self._check_input(x)
        elif len(x) != q[_H_N_IN]:
            raise ValueError("x: expected %d values, got %d" % (q[_H_N_IN], len(x)))
        if q[_H_FLAGS] & 1:
            self._quantize(x)
            x = self._in_buf
        g = self._g
        p = 0
        act = self._arena
        for _ in range(q[_H_COUNT]):
            if g[p] != F.OP_RESHAPE:
                p = run_layer(self, p, x)
                x = act
            else:
                p += 1
        y0 = q[_H_Y0]
        n = q[_H_N_OUT]
        if x is not act:  # only reshapes: the output is the input
            for i in range(n):
                act[y0 + i] = x[i]
        best = 0
        top = act[y0]
        for i in range(1, n):
            if act[y0 + i] > top:
                top = act[y0 + i]
                best = i
        q[_H_LAST] = best
        if out is not None:
            if out is not self._out_seen:
                self._check_out(out)
            if q[_H_FLAGS] & 2:
                s, zp = self._f[1], q[_H_OUT_ZP]
                for i in range(n):
                    out[i] = (act[y0 + i] - zp) * s
            else:
                for i in range(n):
                    out[i] = act[y0 + i]
        return best

    @property
    def output(self):
        """The int8 outputs of the last predict (a memoryview into the arena, made per call; do not
        keep it)."""
        y0 = self._q[_H_Y0]
        return memoryview(self._arena)[y0:y0 + self._q[_H_N_OUT]]

    def confidence(self, index=None):
        """Float score of class `index` (default: the last predicted one) after the last predict.

        With a softmax output this is the probability (q + 128) / 256.
        """
        q = self._q
        i = q[_H_LAST] if index is None else index
        return (self._arena[q[_H_Y0] + i] - q[_H_OUT_ZP]) * self._f[1]

    def label(self, index=None):
        """Class name of `index` (default: the last prediction), or its number as a string."""
        i = self._q[_H_LAST] if index is None else index
        return self.classes[i] if i < len(self.classes) else str(i)

    def info(self):
        """Dict: kind, name, layers [(op, in (h, w, c), out (h, w, c))], params, macs, arena bytes,
        weight bytes (copied or not), backend, input/output quantization, classes."""
        shape = self.input_shape
        c = shape[-1] if shape else 1
        f = self._f
        std = len(f) > 2
        return {
            "kind": "cnn",
            "name": self.name,
            "layers": self._layer_shapes(),
            "params": self.params,
            "macs": self.macs,
            "arena_bytes": self.arena_bytes,
            "weight_bytes": self.weight_bytes,
            "weights_copied": self.weights_copied,
            "weights_in_place": self.weights_in_place,
            "backend": backend.NAME,
            "input_shape": shape,
            "input_scale": f[0],
            "input_zero_point": self._q[_H_IN_ZP],
            "input_mean": [f[2 + i] for i in range(c)] if std else [0.0] * c,
            "input_unit": self._unit,
            "input_std": [f[2 + c + i] for i in range(c)] if std else [1.0] * c,
            "output_scale": f[1],
            "output_zero_point": self._q[_H_OUT_ZP],
            "classes": self.classes,
        }

    def records(self):
        """[(op, program offset)] of the layers, in order (for profiling with run_layer)."""
        g = self._g
        res = []
        p = 0
        limbs = self._q[_H_LIMBS]
        for _ in range(self._q[_H_COUNT]):
            op = g[p]
            res.append((op, p))
            p += _SIZE[op]
            if op == F.OP_DEPTHWISE:
                p += (26 if g[p - 28] >= 0 else 0) + (2 * g[p - 16] if limbs else 0)
            elif limbs and op == F.OP_CONV:
                p += 2 * g[p - 15]
            elif limbs and op == F.OP_DENSE:
                p += 2 * g[p - 7]
            elif limbs and op == F.OP_SOFTMAX:
                p += 2
        return res

    def _layer_shapes(self):
        # [(op name, in (h, w, c), out (h, w, c))] from the program (a reshape: between its neighbours)
        q = self._g
        res = []
        shape = self.input_shape
        prev = shape if len(shape) == 3 else (1,) * (3 - len(shape)) + shape
        for op, p in self.records():
            a = p + 1
            if op == F.OP_DEPTHWISE:
                a += 1
            if op == F.OP_CONV or op == F.OP_DEPTHWISE:
                shape = ((q[a + 8], q[a + 9], q[a + 10]), (q[a + 20], q[a + 21], q[a + 11]))
            elif op == F.OP_DENSE:
                shape = ((1, 1, q[a + 8]), (1, 1, q[a + 7]))
            elif op == F.OP_SOFTMAX:
                shape = ((1, 1, q[a + 2]), (1, 1, q[a + 2]))
            elif op == F.OP_RESHAPE:
                shape = (prev, None)
            else:
                shape = ((q[a + 3], q[a + 4], q[a + 5]), (q[a + 6], q[a + 7], q[a + 5]))
            if res and res[-1][2] is None:
                res[-1] = (res[-1][0], res[-1][1], shape[0])
            res.append((F.OP_NAMES[op], shape[0], shape[1]))
            prev = shape[1]
        if res and res[-1][2] is None:
            res[-1] = (res[-1][0], res[-1][1], (1, 1, self._q[_H_N_OUT]))
        return res

    def __repr__(self):
        return "<ulearn CNN %r: %d layers, %d params, %d MACs, arena %d B, backend %s>" % (
            self.name, self._q[_H_COUNT], self.params, self.macs, self.arena_bytes, backend.NAME)


def from_blob(blob, source="<bytes>"):
    """Model from a validated ulearn.blob.Blob of kind KIND_CNN (called by ulearn.load)."""
    return Model(blob, source)


def from_file(path):
    """Model from a raw CNN blob file (`.ulb`): its CRC32 is checked reading the file in chunks, then
    the weights and quantization sections are read straight into the arrays the model keeps."""
    return Model(None, path, path)
