"""Loading a CNN blob, part 2: the one allocation step after ulearn.nn._load checked everything
(imported for the load and released afterwards, like _load).

What a model keeps (besides the arena): ONE int8 array (the weights, then every per-channel shift),
ONE int32 array ``q`` (a header of model words, ulearn.nn.model H_*, then every bias and multiplier)
and the layer program ``g``: one record per layer, ``[op, arguments...]`` (sizes: ulearn.nn.model
_SIZE), the arguments being the words the kernels read (ulearn.backend conv_s8 / gemm_s8,
ulearn.nn.layers pool / depthwise_conv, ulearn.nn._softmax softmax), in an array('h') when every word
fits 16 bits (else 'i'). On ports with 31-bit small ints (ulearn.fixedpoint.LIMBS) each weighted record
(and softmax) is followed by its multipliers' 16-bit halves. No tuple and no memoryview per layer:
kernels take whole buffers and offsets.
"""

from array import array

from ulearn.blob import BlobError
from ulearn.fixedpoint import LIMBS
from ulearn.nn import format as F
from ulearn.nn.model import int8_array

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
_HDR = const(20)  # model words at the start of q (ulearn.nn.model H_*)


def _err(source, msg):
    raise BlobError("%s: %s" % (source, msg))


def _s8(v):
    # a weight or shift byte as int8 (weights used in place are unsigned bytes)
    return v - 256 if v > 127 else v


def _expand_depthwise(w, w0, s, s0, r):
    """Depthwise weights (1, KH, KW, C*M) at w[w0] as dense OHWI weights, zero where c != o // M (so
    conv_s8 computes the same sums: the zero taps add nothing), followed by the layer's shifts (s[s0:])."""
    cin, oc, k, dm = r[_IN_C], r[_OUT_C], r[_K_H] * r[_K_W], r[_DM]
    n = oc * k * cin
    full = int8_array(n + oc)
    for o in range(oc):
        base = o * k * cin + o // dm
        for t in range(k):
            full[base + t * cin] = _s8(w[w0 + t * oc + o])
        full[n + o] = _s8(s[s0 + o])
    return full


def _read_into(f, off, into, nbytes, source):
    f.seek(off)
    got = f.readinto(into)
    if got != nbytes:
        _err(source, "model file changed or truncated while loading (%d of %d bytes): copy it again" %
             (got or 0, nbytes))


def _place(source, sec, path, nch, ints, w, wbase, wlen):
    """(q, copied): fills w[wbase:] with the weights then the shifts (w: the arena array, allocated by
    the model with room for them; None when the weights are used in place), makes the int32 array
    [header | bias | mult]; whether the weights were copied from memory (a raw file is read straight
    into them)."""
    q = array("i", range(ints))  # one allocation (MicroPython sizes it from len(range))
    if path is not None:  # raw file: sections read straight into the arrays kept
        woff = sec[F.TAG_WEIGHTS][0]
        wv = memoryview(w)
        qv = memoryview(q)
        with open(path, "rb") as f:
            _read_into(f, woff, wv[wbase:wbase + wlen], wlen, source)
            _read_into(f, sec[F.TAG_SHIFT][0], wv[wbase + wlen:], nch, source)
            _read_into(f, sec[F.TAG_BIAS][0], qv[_HDR:_HDR + nch], 4 * nch, source)
            _read_into(f, sec[F.TAG_MULT][0], qv[_HDR + nch:_HDR + 2 * nch], 4 * nch, source)
        return q, False
    import struct
    wsec, ssec = sec[F.TAG_WEIGHTS], sec[F.TAG_SHIFT]
    if w is not None:
        for i in range(wlen):
            w[wbase + i] = _s8(wsec[i])  # an unsigned view (bytes) or a signed one
        for j in range(nch):
            w[wbase + wlen + j] = _s8(ssec[j])
    bsec, msec = sec[F.TAG_BIAS], sec[F.TAG_MULT]
    for j in range(nch):
        q[_HDR + j] = struct.unpack_from("<i", bsec, 4 * j)[0]
        q[_HDR + nch + j] = struct.unpack_from("<i", msec, 4 * j)[0]
    return q, w is not None and wlen > 0


def build(self, source, plan, arena, sec, path):
    """Make the arrays and the layer program of a checked model (`plan` from ulearn.nn._load.check,
    `arena` its int8 arena (followed by room for the weights unless they are used in place), `sec` its
    sections: memoryviews, or (file offset, length) when `path` names the raw blob file) into `self`;
    BlobError saying how many bytes it needs when they do not fit."""
    try:
        _alloc(self, source, plan, arena, sec, path)
    except MemoryError:
        _err(source, "model needs about %d bytes of heap (arena %d), allocation failed: use a smaller "
             "model or free memory first" % (plan[6], plan[4]))


def _alloc(self, source, plan, arena, sec, path):
    layers, tensors, nch, ints, total, scratch_off, need, dw, expand, words, wide, mwords, wlen, _, inplace = plan
    w, wbase, sbase = arena, total, total + wlen  # the weights and the shifts follow the activations
    if inplace is not None:  # w: the blob's payload (unsigned bytes), the sections where they are
        w, wbase, sbase = inplace
    q, copied = _place(source, sec, path, nch, ints, None if inplace is not None else w, wbase, wlen)
    g = array("i" if wide else "h", range(words))  # the layer program
    for j in range(nch):
        if not -31 <= _s8(w[sbase + j]) <= 30:
            _err(source, "requantization shift %d outside [-31, 30]: corrupt blob" % _s8(w[sbase + j]))
        if q[_HDR + nch + j] < 0:
            _err(source, "negative requantization multiplier: corrupt blob")
    extra = None
    p = 0
    first = True  # layers up to the first computing one read the model input (offset 0 of predict's x)
    for i in range(len(layers)):
        r = layers[i]
        op = r[_OP]
        g[p] = op
        a = p + 1
        x0 = 0 if first else tensors[i][0]
        out0 = tensors[i + 1][0]
        if op == F.OP_SOFTMAX:
            for v in (x0, out0, r[_OUT_C], _HDR + nch + r[_Q_OFF], _s8(w[sbase + r[_Q_OFF]]),
                      r[_EXTRA] if r[_EXTRA] > -256 else -256):  # d = top - x is at most 255
                g[a] = v
                a += 1
        elif op == F.OP_MAX_POOL or op == F.OP_AVG_POOL:
            for v in (x0, out0, 1 if op == F.OP_MAX_POOL else 0, r[4], r[5], r[6], r[7], r[8], r[10], r[11],
                      r[12], r[13], r[16], r[17], r[2] + 128, r[3] + 128):
                g[a] = v
                a += 1
        elif op == F.OP_DENSE:
            g[a] = x0
            g[a + 1] = out0
            _channels(g, a + 2, r, nch, wbase, sbase)
            a += 6
            for v in (1, r[_OUT_C], r[4] * r[5] * r[6], -r[_IN_ZP], 0, r[_OUT_ZP], r[_ACT_MIN], r[_ACT_MAX]):
                g[a] = v
                a += 1
        elif op == F.OP_CONV:
            _conv(g, a, r, x0, out0, nch, wbase, sbase, scratch_off, total)
            a += 26
        elif op == F.OP_DEPTHWISE:
            # [ix] [26 conv words on w] [dm] [26 conv words on the expanded weights, when ix != -1]
            _conv(g, a + 1, r, x0, out0, nch, wbase, sbase, scratch_off, total)
            g[a + 27] = r[_DM]
            g[a] = -1
            if expand and r[_OUT_C] * r[_K_H] * r[_K_W] * r[_IN_C] <= F.DW_EXPAND_MAX:
                if extra is None:
                    extra = []
                g[a] = len(extra)
                extra.append(_expand_depthwise(w, g[a + 5], w, g[a + 8], r))
                for t in range(26):
                    g[a + 28 + t] = g[a + 1 + t]
                g[a + 28 + 4] = 0  # W0 in the expanded array, its shifts after the weights
                g[a + 28 + 7] = r[_OUT_C] * r[_K_H] * r[_K_W] * r[_IN_C]
                a += 26
            a += 28
        if LIMBS and (op == F.OP_CONV or op == F.OP_DEPTHWISE or op == F.OP_DENSE or op == F.OP_SOFTMAX):
            m0 = _HDR + nch + r[_Q_OFF]
            for j in range(1 if op == F.OP_SOFTMAX else r[_OUT_C]):  # the multipliers' 16-bit halves
                v = q[m0 + j]  # (ulearn._limbs.halves, written out: that module is not loaded here)
                g[a] = v >> 16
                g[a + 1] = (v & 0xFFFF) - 32768
                a += 2
        if op != F.OP_RESHAPE:
            first = False
        p = a
    # model words (ulearn.nn.model H_*)
    q[0] = 1 if wide else 0
    q[1] = len(layers)
    q[2] = tensors[0][1]
    q[3] = tensors[-1][1]
    q[4] = tensors[-1][0]
    q[5] = tensors[0][0]
    q[6] = mwords[0]  # input zero point (the model's plain attributes: ulearn.nn._load.check)
    q[7] = mwords[1]  # output zero point
    q[8] = 0  # last class
    q[9] = 0  # flags
    q[10] = total
    q[11] = wlen  # weight bytes
    q[12] = mwords[2]
    q[13] = mwords[3]
    q[14] = 2 if inplace is not None else (1 if copied else 0)
    shape = mwords[4]
    q[19] = 1 if LIMBS else 0  # weighted records are followed by their multipliers' halves
    q[15] = len(shape)
    for i in range(len(shape)):
        q[16 + i] = shape[i]
    self._arena = arena
    if inplace is not None:
        self._w = w  # else the class default None: the weights are in the arena array
    self._q = q
    self._g = g
    if extra:
        self._extra = extra  # else the class default None


def _channels(g, a, r, nch, wbase, sbase):
    # weights, bias, multipliers and shifts of a weighted layer: 4 words
    qo = r[_Q_OFF]
    g[a] = wbase + r[_W_OFF]
    g[a + 1] = _HDR + qo if r[_FLAGS] & F.FLAG_BIAS else -1
    g[a + 2] = _HDR + nch + qo
    g[a + 3] = sbase + qo


def _conv(g, a, r, x0, out0, nch, wbase, sbase, scratch_off, total):
    # the 26 conv_s8 words (ulearn.backend, conv_s8) at g[a:]
    g[a] = x0
    g[a + 1] = out0
    g[a + 2] = scratch_off
    g[a + 3] = total - scratch_off
    _channels(g, a + 4, r, nch, wbase, sbase)
    k = a + 8
    for v in (r[4], r[5], r[6], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[7], r[8],
              -r[_IN_ZP], r[_OUT_ZP], r[_ACT_MIN], r[_ACT_MAX]):
        g[k] = v
        k += 1
