"""The int8 CNN model (blob kind KIND_CNN): load, predict, info.

    m = ulearn.load("fan.mpy")         # -> Model (through from_blob)
    cls = m.predict(x)                 # x: array('b') int8 quantized input, or array('f') floats
    cls = m.predict(x, out)            # out: array('b') int8 scores, or array('f') dequantized scores
    m.confidence()                     # float score of the last predicted class (softmax: probability)
    m.info()

Loading validates every length, shape and range of the blob (``ulearn.nn.format``) before it
allocates, then allocates once: the activation arena (static plan from the host, im2col scratch at
its end) and small per-channel arrays. Weights stay a memoryview into the blob when the blob is a
signed buffer (``ulearn.nn.load_raw`` reads a raw blob that way; CPython casts); a bytes blob (a
``.mpy`` constant) is copied once into an int8 array. After the first call with a given input
object, ``predict`` allocates nothing for int8 inputs; float inputs are quantized at the edge
(round half away from zero), which boxes floats on ports without immediate floats.
"""

import sys
from array import array

import ulearn.backend  # noqa: F401 - the package chooses the provider once, at import
from ulearn import int8_array  # noqa: F401 - also used by ulearn.nn and ulearn.nn._alloc
from ulearn.nn import format as F
from ulearn.nn.layers import depthwise_conv, pool, softmax

# the module itself (the package attribute `ulearn.backend` is a forwarding callable)
backend = sys.modules["ulearn.backend"]

_COMPILED = ("viper", "native")  # backends whose port compiles viper: pooling follows them
_vpool = None


def _viper_pool():
    global _vpool
    if _vpool is None:
        from ulearn.nn._vpool import pool as _vpool_fn
        _vpool = _vpool_fn
    return _vpool


def run_layer(L, src, dst, col):
    """Run one decoded layer `L` from buffer `src` into `dst` ('b'); returns the output buffer
    (`src` itself for a reshape). `col` is the im2col scratch. Used by predict and by profiling."""
    op, w, bias, mult, shift, r, extra = L
    if op == F.OP_CONV:
        backend.conv_s8(src, w, bias, mult, shift, dst, col, r[4], r[5], r[6], r[9], r[10], r[11],
                        r[12], r[13], r[14], r[15], r[16], r[17], r[7], r[8], -r[19], r[20], r[2], r[3])
    elif op == F.OP_DENSE:
        backend.gemm_s8(src, w, bias, mult, shift, dst, 1, r[9], r[4] * r[5] * r[6], -r[19], 0,
                        r[20], r[2], r[3])
    elif op == F.OP_RESHAPE:
        return src
    elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
        if extra is not None and backend.NAME in _COMPILED:
            _viper_pool()(src, dst, extra)
        else:
            pool(src, dst, op == F.OP_MAX_POOL, r[4], r[5], r[6], r[7], r[8], r[10], r[11], r[12], r[13],
                 r[16], r[17], r[2], r[3])
    elif op == F.OP_DEPTHWISE and extra is not None and backend.NAME != "python":
        # as a dense conv whose weights are zero off the diagonal (made at load): im2col + GEMM
        backend.conv_s8(src, extra, bias, mult, shift, dst, col, r[4], r[5], r[6], r[9], r[10], r[11],
                        r[12], r[13], r[14], r[15], r[16], r[17], r[7], r[8], -r[19], r[20], r[2], r[3])
    elif op == F.OP_DEPTHWISE:
        depthwise_conv(src, w, bias, mult, shift, dst, r[4], r[5], r[6], r[7], r[8], r[18], r[10],
                       r[11], r[12], r[13], r[14], r[15], r[16], r[17], -r[19], r[20], r[2], r[3])
    else:  # softmax
        softmax(src, dst, r[9], r[25], extra)
    return dst


def _release(name):
    # forget a load-time module so its bytecode can be collected (boards keep modules in RAM)
    sys.modules.pop("ulearn.nn." + name, None)
    pkg = sys.modules.get("ulearn.nn")
    if pkg is not None and name in pkg.__dict__:
        delattr(pkg, name)


def _reserve(plan, source):
    # free-heap check for everything the model will allocate, then the arena (int8, one block)
    from ulearn.blob import BlobError
    wsec, nch, total, need, copy_w = plan[2], plan[6], plan[7], plan[9], plan[10]
    try:
        import gc
        gc.collect()
        free = gc.mem_free()
    except (ImportError, AttributeError):
        free = None
    if free is not None and need > free:
        raise BlobError("%s: model needs %d bytes of heap (arena %d, weights %d, quantization %d), only %d "
                        "free: use a smaller model or free memory first" % (
                            source, need, total, len(wsec) if copy_w else 0, 9 * nch, free))
    try:
        return int8_array(total)
    except MemoryError:
        raise BlobError("%s: model needs about %d bytes of heap (arena %d), allocation failed: use a "
                        "smaller model or free memory first" % (source, need, total)) from None


class Model:
    """An int8 CNN from a validated blob (see the module docstring)."""

    def __init__(self, blob, source="<bytes>"):
        """Validate `blob` (ulearn.blob.Blob of kind CNN) and allocate; BlobError if unusable."""
        from ulearn.nn import _load
        try:
            plan = _load.check(self, blob, source)
        finally:
            _release("_load")  # the checking code leaves the heap before the buffers are made
        arena = _reserve(plan, source)  # the largest buffer first, into the space just freed
        from ulearn.nn import _alloc
        try:
            _alloc.build(self, source, plan, arena)
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
        bufs = self._bufs
        if self._x_float:
            self._quantize(x)
            x = self._in_view
        col = self._col
        i = 0
        for L in self._layers:
            i += 1
            x = run_layer(L, x, bufs[i], col)
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
        return {
            "kind": "cnn",
            "name": self.name,
            "layers": [(F.OP_NAMES[L[0]], tuple(L[5][4:7]), tuple(L[5][7:10])) for L in self._layers],  # h,w,c
            "params": self.params,
            "macs": self.macs,
            "arena_bytes": self.arena_bytes,
            "weight_bytes": self.weight_bytes,
            "weights_copied": self.weights_copied,
            "backend": backend.NAME,
            "input_shape": self.input_shape,
            "input_scale": self._in_scale,
            "input_zero_point": self._in_zp,
            "input_mean": self._mean,
            "input_unit": self._unit,
            "input_std": self._std,
            "output_scale": self._out_scale,
            "output_zero_point": self._out_zp,
            "classes": self.classes,
        }

    def __repr__(self):
        return "<ulearn CNN %r: %d layers, %d params, %d MACs, arena %d B, backend %s>" % (
            self.name, len(self._layers), self.params, self.macs, self.arena_bytes,
            backend.NAME)


def from_blob(blob, source="<bytes>"):
    """Model from a validated ulearn.blob.Blob of kind KIND_CNN (called by ulearn.load)."""
    return Model(blob, source)
