"""Loading a CNN blob, part 2: the one allocation step after ulearn.nn._load checked everything
(imported for the load and released afterwards, like _load).

What a model keeps (besides the arena): the int8 weights (with the int8 shifts behind them when read
from a file), ONE int32 array holding every bias, multiplier, pooling parameter and softmax exp
table, one tuple per layer with the arguments of its kernel, and memoryviews into those arrays.
"""

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
_ACT_MIN = const(2)
_ACT_MAX = const(3)
_IN_C = const(6)
_OUT_C = const(9)
_K_H = const(10)
_K_W = const(11)
_DM = const(18)
_IN_ZP = const(19)
_OUT_ZP = const(20)
_W_OFF = const(22)
_W_LEN = const(23)
_Q_OFF = const(24)
_EXTRA = const(25)
_POOL_INTS = const(14)
_TABLE_INTS = const(256)


def _err(source, msg):
    raise BlobError("%s: %s" % (source, msg))


def signed(mv):
    """`mv` as an int8-reading buffer: a cast (CPython), itself when already signed, else a copy.
    Returns (buffer, copied)."""
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


def _read_into(f, off, into, nbytes, source):
    f.seek(off)
    got = f.readinto(into)
    if got != nbytes:
        _err(source, "model file changed or truncated while loading (%d of %d bytes): copy it again" %
             (got or 0, nbytes))


def _place(source, sec, path, nch, ints):
    """(w, s, q, copied): the int8 weights, the int8 shifts, the int32 array [bias | mult | room for
    pooling parameters and softmax tables], whether the weights were copied."""
    q = array("i", range(ints))  # one allocation (MicroPython sizes it from len(range))
    if path is not None:  # raw file: sections read straight into the arrays kept (nothing copied)
        woff, wlen = sec[F.TAG_WEIGHTS]
        w = int8_array(wlen + nch, zero=False)
        wv = memoryview(w)
        qv = memoryview(q)
        with open(path, "rb") as f:
            _read_into(f, woff, wv[:wlen], wlen, source)
            _read_into(f, sec[F.TAG_SHIFT][0], wv[wlen:], nch, source)
            _read_into(f, sec[F.TAG_BIAS][0], qv[:nch], 4 * nch, source)
            _read_into(f, sec[F.TAG_MULT][0], qv[nch:2 * nch], 4 * nch, source)
        return w, wv[wlen:], q, False
    import struct
    w, copied = signed(sec[F.TAG_WEIGHTS])
    s, _ = signed(sec[F.TAG_SHIFT][:nch])
    bsec, msec = sec[F.TAG_BIAS], sec[F.TAG_MULT]
    for j in range(nch):
        q[j] = struct.unpack_from("<i", bsec, 4 * j)[0]
        q[nch + j] = struct.unpack_from("<i", msec, 4 * j)[0]
    return w, s, q, copied


def build(self, source, plan, arena, sec, path):
    """Make the arrays, views and layer tuples of a checked model (`plan` from ulearn.nn._load.check,
    `arena` its int8 arena, `sec` its sections: memoryviews, or (file offset, length) when `path` names
    the raw blob file) into `self`; BlobError saying how many bytes it needs when they do not fit."""
    try:
        _alloc(self, source, plan, arena, sec, path)
    except MemoryError:
        _err(source, "model needs about %d bytes of heap (arena %d), allocation failed: use a smaller "
             "model or free memory first" % (plan[6], plan[4]))


def _alloc(self, source, plan, arena, sec, path):
    layers, tensors, nch, ints, total, scratch_off, need, dw = plan
    w, s, q, copied = _place(source, sec, path, nch, ints)
    for j in range(nch):
        if s[j] < -31 or s[j] > 30:
            _err(source, "requantization shift %d outside [-31, 30]: corrupt blob" % s[j])
        if q[nch + j] < 0:
            _err(source, "negative requantization multiplier: corrupt blob")
    self.weight_bytes = len(w) - (nch if path is not None else 0)
    self.weights_copied = copied
    wv, sv, qv = memoryview(w), memoryview(s), memoryview(q)
    av = memoryview(arena)
    # one view per arena offset, as long as the longest tensor there (kernels take explicit sizes and
    # accept longer buffers); the model output gets its own view of exactly its length
    final = len(layers) - 1  # the last layer that writes (trailing reshapes pass its output on)
    while final > 0 and layers[final][_OP] == F.OP_RESHAPE:
        final -= 1
    views = {}
    for i in range(final + 1):  # the input and the outputs of the layers before the last
        if i == 0 or layers[i - 1][_OP] != F.OP_RESHAPE:
            o, n = tensors[i]
            if views.get(o, 0) < n:
                views[o] = n
    for o in views:
        views[o] = av[o:o + views[o]]
    o, n = tensors[final + 1]
    last = av[o:o + n]
    self._in_view = views[tensors[0][0]]
    self._col = av[scratch_off:]
    expand = backend.NAME != "python"
    out = [None] * len(layers)
    e = 2 * nch  # next free int32 of q
    for i in range(len(layers)):
        r = layers[i]
        op = r[_OP]
        if op == F.OP_RESHAPE:
            out[i] = (op,)
            continue
        dst = last if i == final else views[tensors[i + 1][0]]
        if op == F.OP_SOFTMAX:
            table = qv[e:e + _TABLE_INTS]
            softmax_table(q[nch + r[_Q_OFF]], s[r[_Q_OFF]], r[_EXTRA], table)
            out[i] = (op, dst, r[_OUT_C], table)
            e += _TABLE_INTS
        elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
            p = qv[e:e + _POOL_INTS]
            k = 0
            for v in (1 if op == F.OP_MAX_POOL else 0, r[4], r[5], r[6], r[7], r[8], r[10], r[11], r[12],
                      r[13], r[16], r[17], r[2] + 128, r[3] + 128):
                p[k] = v
                k += 1
            out[i] = (op, dst, p)
            e += _POOL_INTS
        else:  # conv, depthwise, dense: views into the weights, bias, multipliers, shifts
            a, oc = r[_Q_OFF], r[_OUT_C]
            lw = wv[r[_W_OFF]:r[_W_OFF] + r[_W_LEN]] if r[_W_OFF] else w  # longer buffers are fine
            bias = (qv[a:a + oc] if a else q) if r[_FLAGS] & F.FLAG_BIAS else None
            mult = qv[nch + a:nch + a + oc]
            shift = sv[a:a + oc] if a else s
            if op == F.OP_DENSE:
                out[i] = (op, dst, lw, bias, mult, shift, oc, r[4] * r[5] * r[6], -r[_IN_ZP], r[_OUT_ZP],
                          r[_ACT_MIN], r[_ACT_MAX])
            else:
                L = (op, dst, lw, bias, mult, shift, r[4], r[5], r[6], oc, r[10], r[11], r[12], r[13], r[14],
                     r[15], r[16], r[17], r[7], r[8], -r[_IN_ZP], r[_OUT_ZP], r[_ACT_MIN], r[_ACT_MAX])
                if op == F.OP_DEPTHWISE:
                    full = None
                    if expand and oc * r[_K_H] * r[_K_W] * r[_IN_C] <= F.DW_EXPAND_MAX:
                        full = _expand_depthwise(lw, r)
                    L = L + (r[_DM], full)
                out[i] = L
    self._layers = out
    self._x_seen = None
    self._x_float = False
    self._out_seen = None
    self._out_float = False
    self._last = 0
    self._y = last
