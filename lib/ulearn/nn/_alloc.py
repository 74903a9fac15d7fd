"""Loading a CNN blob, part 2: the one allocation step after ulearn.nn._load checked everything
(imported for the load and released afterwards, like _load)."""

import sys
from array import array

from ulearn.blob import BlobError
from ulearn.nn import format as F
from ulearn.nn.layers import softmax_table
from ulearn.nn.model import int8_array

backend = sys.modules["ulearn.backend"]

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# record fields used here (the full list: ulearn.nn.format, LAYER_FORMAT)
_OP = const(0)
_FLAGS = const(1)
_IN_C = const(6)
_OUT_C = const(9)
_K_H = const(10)
_K_W = const(11)
_DM = const(18)
_W_OFF = const(22)
_W_LEN = const(23)
_Q_OFF = const(24)
_EXTRA = const(25)


def _err(source, msg):
    raise BlobError("%s: %s" % (source, msg))


def _signed_weights(mv):
    """`mv` as an int8-reading buffer: a cast (CPython), itself when already signed, else a copy."""
    if hasattr(mv, "cast") and hasattr(mv, "format"):  # CPython memoryview
        return mv.cast("b") if mv.format != "b" else mv, False
    if not len(mv):
        return mv, False
    for v in mv:
        if v < 0:
            return mv, False
        if v > 127:
            break
    return array("b", mv), True  # unsigned view (bytes): one int8 copy


def _dw_bytes(r):
    # bytes of a depthwise layer's weights expanded to a dense conv (out_c x k_h x k_w x in_c)
    return r[_OUT_C] * r[_K_H] * r[_K_W] * r[_IN_C]


def _expand_depthwise(w, r):
    """Depthwise weights (1, KH, KW, C*M) as dense OHWI weights, zero where c != o // M, so the
    backend's conv_s8 computes the same sums (the zero taps add nothing)."""
    cin, oc, k, dm = r[_IN_C], r[_OUT_C], r[_K_H] * r[_K_W], r[_DM]
    full = int8_array(oc * k * cin)
    for o in range(oc):
        base = o * k * cin + o // dm
        for t in range(k):
            full[base + t * cin] = w[t * oc + o]
    return full


def _pool_params(r):
    # the viper pooling kernel's parameters, or None where viper does not compile (CircuitPython)
    try:
        from ulearn.nn._vpool import pool_params
    except (ImportError, SyntaxError, ValueError, AttributeError):  # no viper on this port
        return None
    return pool_params(r[0] == F.OP_MAX_POOL, r[4], r[5], r[6], r[7], r[8], r[10], r[11], r[12], r[13],
                       r[16], r[17], r[2], r[3])


def _int32s(mv, count):
    return array("i", bytearray(mv[:4 * count]))



def build(self, source, plan, arena):
    """Make the arrays, views and layer table of a checked model (`plan` from ulearn.nn._load.check,
    `arena` its int8 arena) into `self`; BlobError saying how many bytes it needs when they do not fit."""
    layers, tensors, wsec, bsec, msec, ssec, nch, total, scratch_off, need, copy_w = plan
    try:
        _alloc(self, layers, tensors, wsec, bsec, msec, ssec, nch, arena, scratch_off)
    except MemoryError:
        _err(source, "model needs about %d bytes of heap (arena %d), allocation failed: use a smaller "
             "model or free memory first" % (need, total))


def _alloc(self, layers, tensors, wsec, bsec, msec, ssec, nch, arena, scratch_off):
    w, copied = _signed_weights(wsec)  # kept alive by the layers' views, like the arena
    self.weight_bytes = len(w)
    self.weights_copied = copied
    wv = memoryview(w)
    bias = _int32s(bsec, nch)
    mult = _int32s(msec, nch)
    shift = array("b", bytearray(ssec[:nch]))
    av = memoryview(arena)
    bufs = [av[off:off + n] for off, n in tensors]
    self._in_view = bufs[0]
    self._bufs = bufs
    self._col = av[scratch_off:]
    bv, mv, sv = memoryview(bias), memoryview(mult), memoryview(shift)
    nf = len(layers[0])
    recs = array("i", range(nf * len(layers)))  # all records in one int32 array, a view per layer
    rv = memoryview(recs)
    for i in range(len(layers)):
        for k in range(nf):
            recs[i * nf + k] = layers[i][k]
    for i in range(len(layers)):
        r = rv[i * nf:(i + 1) * nf]
        op, q, n = r[_OP], r[_Q_OFF], r[_OUT_C]
        lw = wv[r[_W_OFF]:r[_W_OFF] + r[_W_LEN]] if r[_W_LEN] else None
        if op == F.OP_SOFTMAX:
            table = array("i", range(256))  # one allocation; filled below
            softmax_table(mult[q], shift[q], r[_EXTRA], table)
            layers[i] = (op, None, None, None, None, r, table)
        elif lw is not None:
            full = _expand_depthwise(lw, r) if op == F.OP_DEPTHWISE and _dw_bytes(r) <= F.DW_EXPAND_MAX else None
            layers[i] = (op, lw, bv[q:q + n] if r[_FLAGS] & F.FLAG_BIAS else None, mv[q:q + n],
                         sv[q:q + n], r, full)
        elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
            layers[i] = (op, None, None, None, None, r, _pool_params(r))
        else:
            layers[i] = (op, None, None, None, None, r, None)
    self._layers = layers
    self._x_seen = None
    self._x_float = False
    self._out_seen = None
    self._out_float = False
    self._last = 0
    self._y = bufs[-1]
