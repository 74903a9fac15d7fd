"""The int8 CNN model (blob kind KIND_CNN): load, predict, info.

    m = ulearn.load("fan.mpy")         # -> Model (through from_blob)
    cls = m.predict(x)                 # x: array('b') int8 quantized input, or array('f') floats
    cls = m.predict(x, out)            # out: array('b') int8 scores, or array('f') dequantized scores
    m.confidence()                     # float score of the last predicted class (softmax: probability)
    m.info()

Loading validates every length, shape and range of the blob (``ulearn.nn.format``) before it
allocates, then allocates once: the activation arena (static plan from the host, im2col scratch at
its end), one int32 array (biases, multipliers, pooling parameters, softmax tables) and one tuple per
layer. A raw blob file (``ulearn.load("m.ulb")``, ``ulearn.nn.load_raw``) is read section by section
straight into those arrays: the int8 weights are never copied and the metadata sections (META,
LAYR, PLAN) are not kept, so the model's heap is about blob + arena. From a signed in-memory blob the
weights stay a memoryview (CPython casts); a bytes blob (a ``.mpy`` constant) is copied once into an
int8 array. After the first call with a given input object, ``predict`` allocates nothing for int8
inputs (on 32-bit ports, where integers beyond +-2^30 are heap objects: with the viper or native
backend; the pure-Python one boxes Q31 values there); float inputs are quantized at the edge (round
half away from zero), which boxes floats on ports without immediate floats.
"""

import sys

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import ulearn.backend  # noqa: F401 - the package chooses the provider once, at import
from ulearn import int8_array  # noqa: F401 - also used by ulearn.nn and ulearn.nn._alloc
from ulearn.nn import format as F
from ulearn.nn.layers import depthwise_conv, pool, softmax

# the module itself (the package attribute `ulearn.backend` is a forwarding callable)
backend = sys.modules["ulearn.backend"]

_ZERO = (0.0,)  # mean and std when the blob has none (see Model._quantize)
_ONE = (1.0,)
_COMPILED = ("viper", "native")  # backends whose port compiles viper: pooling follows them
_vpool = None
_vsoftmax = None
_SOFTMAX_MAX = const(4095)  # longest softmax the viper one takes (its int32 sum of exps cannot wrap)


def _viper_pool():
    global _vpool
    if _vpool is None:
        try:
            from ulearn.nn._vpool import pool as f
        except (ImportError, SyntaxError, ValueError, AttributeError):  # no viper on this port
            f = pool
        _vpool = f
    return _vpool


def _viper_softmax():
    # the viper softmax allocates nothing on 32-bit ports too (the Python one boxes its Q31 integers)
    global _vsoftmax
    if _vsoftmax is None:
        try:
            from ulearn.nn._vpool import softmax as f
        except (ImportError, SyntaxError, ValueError, AttributeError):  # no viper on this port
            f = softmax
        _vsoftmax = f
    return _vsoftmax


# Each layer is one tuple (made at load by ulearn.nn._alloc): op, output view, then its kernel's
# arguments in call order. conv/depthwise: w, bias, mult, shift, in_h, in_w, in_c, out_c, k_h, k_w,
# stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off, act_min,
# act_max (+ depth multiplier, dense-expanded weights or None for depthwise); dense: w, bias, mult,
# shift, n, k, in_off, out_off, act_min, act_max; pooling: its int32 parameters; softmax: n, exp table;
# reshape: nothing (the next layer reads the same bytes).

def run_layer(L, src, col):
    """Run one layer `L` (a tuple from the load, see above) on buffer `src` ('b'); returns its output
    buffer (`src` itself for a reshape). `col` is the im2col scratch. Used by predict and profiling."""
    op = L[0]
    if op == F.OP_CONV:
        backend.conv_s8(src, L[2], L[3], L[4], L[5], L[1], col, L[6], L[7], L[8], L[9], L[10], L[11], L[12],
                        L[13], L[14], L[15], L[16], L[17], L[18], L[19], L[20], L[21], L[22], L[23])
    elif op == F.OP_DENSE:
        backend.gemm_s8(src, L[2], L[3], L[4], L[5], L[1], 1, L[6], L[7], L[8], 0, L[9], L[10], L[11])
    elif op == F.OP_RESHAPE:
        return src
    elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
        if backend.NAME in _COMPILED:
            _viper_pool()(src, L[1], L[2])
        else:
            pool(src, L[1], L[2])
    elif op == F.OP_DEPTHWISE and L[25] is not None and backend.NAME != "python":
        # as a dense conv whose weights are zero off the diagonal (made at load): im2col + GEMM
        backend.conv_s8(src, L[25], L[3], L[4], L[5], L[1], col, L[6], L[7], L[8], L[9], L[10], L[11], L[12],
                        L[13], L[14], L[15], L[16], L[17], L[18], L[19], L[20], L[21], L[22], L[23])
    elif op == F.OP_DEPTHWISE:
        depthwise_conv(src, L[2], L[3], L[4], L[5], L[1], L[6], L[7], L[8], L[18], L[19], L[24], L[10],
                       L[11], L[12], L[13], L[14], L[15], L[16], L[17], L[20], L[21], L[22], L[23])
    elif backend.NAME in _COMPILED and L[2] <= _SOFTMAX_MAX:
        _viper_softmax()(src, L[1], L[2], L[3])
    else:  # softmax
        softmax(src, L[1], L[2], L[3])
    return L[1]


def _release(name):
    # forget a load-time module so its bytecode can be collected (boards keep modules in RAM)
    sys.modules.pop("ulearn.nn." + name, None)
    pkg = sys.modules.get("ulearn.nn")
    if pkg is not None and name in pkg.__dict__:
        delattr(pkg, name)


def _reserve(plan, source):
    # free-heap check for everything the model will allocate, then the arena (int8, one block)
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
        return int8_array(total)
    except MemoryError:
        raise BlobError("%s: model needs about %d bytes of heap (arena %d), allocation failed: use a "
                        "smaller model or free memory first" % (source, need, total)) from None


class Model:
    """An int8 CNN from a validated blob (see the module docstring)."""

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

    # ---- inference

    def _check_input(self, x):
        n = self._n_in
        try:
            got = len(x)
        except TypeError:
            raise ValueError("x: expected an array('b') (int8) or array('f') of %d values" % n) from None
        if got != n:
            raise ValueError("x: expected %d values (input shape %r), got %d" % (n, self.input_shape, got))
        if isinstance(x[0], float):
            self._x_float = True
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
            self._x_float = False
        self._x_seen = x

    def _quantize(self, x):
        q = self._in_view
        scale, zp = self._in_scale, self._in_zp
        mean, std = self._mean, self._std
        if mean is None:  # no standardization in this blob
            mean = _ZERO
            std = _ONE
        nc = len(mean)
        c = 0
        for i in range(self._n_in):
            v = (x[i] - mean[c]) / std[c] / scale
            c += 1
            if c == nc:
                c = 0
            v = int(v + 0.5) if v >= 0 else int(v - 0.5)
            v += zp
            q[i] = -128 if v < -128 else (127 if v > 127 else v)

    def _check_out(self, out):
        try:
            got = len(out)
        except TypeError:
            raise ValueError("out: expected an array('b') or array('f') of %d values" % self._n_out) from None
        if got != self._n_out:
            raise ValueError("out: expected %d values, got %d" % (self._n_out, got))
        self._out_float = isinstance(out[0], float)
        if not self._out_float:
            try:
                size = len(bytes(out))
            except (TypeError, ValueError, OverflowError):
                size = -1
            if size != self._n_out:
                raise ValueError("out: int8 array('b') or float array('f') expected")
        self._out_seen = out

    def predict(self, x, out=None):
        """Run the model on one input; returns the index of the largest output (the class).

        x: array('b') of quantized int8 values (input scale/zero point in info()), or array('f')
        of floats standardized per channel (input_mean/input_std of the blob, if any) and quantized
        here; flat, in the input shape's row-major order. out (optional):
        array('b') receives the int8 outputs, array('f') the dequantized outputs (probabilities
        after softmax). Raises ValueError naming the argument for a wrong length or typecode.
        """
        if x is not self._x_seen:
            self._check_input(x)
        elif len(x) != self._n_in:
            raise ValueError("x: expected %d values, got %d" % (self._n_in, len(x)))
        if self._x_float:
            self._quantize(x)
            x = self._in_view
        col = self._col
        for L in self._layers:
            x = run_layer(L, x, col)
        self._y = y = x
        best = 0
        top = y[0]
        for i in range(1, self._n_out):
            if y[i] > top:
                top = y[i]
                best = i
        self._last = best
        if out is not None:
            if out is not self._out_seen:
                self._check_out(out)
            if self._out_float:
                s, zp = self._out_scale, self._out_zp
                for i in range(self._n_out):
                    out[i] = (y[i] - zp) * s
            else:
                for i in range(self._n_out):
                    out[i] = y[i]
        return best

    @property
    def output(self):
        """The int8 outputs of the last predict (a memoryview into the arena; do not keep it)."""
        return self._y

    def confidence(self, index=None):
        """Float score of class `index` (default: the last predicted one) after the last predict.

        With a softmax output this is the probability (q + 128) / 256.
        """
        i = self._last if index is None else index
        return (self._y[i] - self._out_zp) * self._out_scale

    def label(self, index=None):
        """Class name of `index` (default: the last prediction), or its number as a string."""
        i = self._last if index is None else index
        return self.classes[i] if i < len(self.classes) else str(i)

    def info(self):
        """Dict: kind, name, layers [(op, in (h, w, c), out (h, w, c))], params, macs, arena bytes,
        weight bytes (copied or not), backend, input/output quantization, classes."""
        c = self.input_shape[-1] if self.input_shape else 1
        return {
            "kind": "cnn",
            "name": self.name,
            "layers": self._layer_shapes(),
            "params": self.params,
            "macs": self.macs,
            "arena_bytes": self.arena_bytes,
            "weight_bytes": self.weight_bytes,
            "weights_copied": self.weights_copied,
            "backend": backend.NAME,
            "input_shape": self.input_shape,
            "input_scale": self._in_scale,
            "input_zero_point": self._in_zp,
            "input_mean": self._mean or [0.0] * c,
            "input_unit": self._unit,
            "input_std": self._std or [1.0] * c,
            "output_scale": self._out_scale,
            "output_zero_point": self._out_zp,
            "classes": self.classes,
        }

    def _layer_shapes(self):
        # [(op name, in (h, w, c), out (h, w, c))] from the layer tuples (a reshape: between its neighbours)
        res = []
        prev = tuple(self.input_shape) if len(self.input_shape) == 3 else (1,) * (3 - len(self.input_shape)) + \
            tuple(self.input_shape)
        for L in self._layers:
            op = L[0]
            if op == F.OP_CONV or op == F.OP_DEPTHWISE:
                shape = ((L[6], L[7], L[8]), (L[18], L[19], L[9]))
            elif op == F.OP_DENSE:
                shape = ((1, 1, L[7]), (1, 1, L[6]))
            elif op == F.OP_SOFTMAX:
                shape = ((1, 1, L[2]), (1, 1, L[2]))
            elif op == F.OP_RESHAPE:
                shape = (prev, None)
            else:
                p = L[2]
                shape = ((p[1], p[2], p[3]), (p[4], p[5], p[3]))
            if res and res[-1][2] is None:
                res[-1] = (res[-1][0], res[-1][1], shape[0])
            res.append((F.OP_NAMES[op], shape[0], shape[1]))
            prev = shape[1]
        if res and res[-1][2] is None:
            res[-1] = (res[-1][0], res[-1][1], (1, 1, self._n_out))
        return res

    def __repr__(self):
        return "<ulearn CNN %r: %d layers, %d params, %d MACs, arena %d B, backend %s>" % (
            self.name, len(self._layers), self.params, self.macs, self.arena_bytes,
            backend.NAME)


def from_blob(blob, source="<bytes>"):
    """Model from a validated ulearn.blob.Blob of kind KIND_CNN (called by ulearn.load)."""
    return Model(blob, source)


def from_file(path):
    """Model from a raw CNN blob file (`.ulb`): its CRC32 is checked reading the file in chunks, then
    the weights and quantization sections are read straight into the arrays the model keeps."""
    return Model(None, path, path)
