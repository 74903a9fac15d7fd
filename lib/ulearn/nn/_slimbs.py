"""TFLite int8 softmax (ulearn.nn._softmax.softmax: same program words, same bytes) with every
intermediate below 2^30, for ports whose small integers are 31-bit (ulearn.fixedpoint.LIMBS) and no
viper: loaded only there. A Q0.31 value v is kept as (hi, lo) = (v >> 16, v & 0xFFFF); products go
through _mulq, whose result lands in _R (returning two ints would build a tuple).
"""

from array import array

from ulearn.fixedpoint import rdbpot

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SCALED_DIFF_BITS = const(5)     # kScaledDiffIntegerBits
_ACCUM_BITS = const(12)          # kAccumulationIntegerBits
_Q26_QUARTER = const(16777216)   # 1/4 in Q5.26
_Q31_EIGHTH = const(268435456)   # 1/8 in Q0.31

_R = array("i", [0, 0])
_EXPS = [array("i", [0] * 32)]  # the exps' limbs of one row; replaced (once) by a longer one when needed
_BARREL = (25519, 48763, 19874, 52210, 12054, 44140, 4434, 43684, 600, 10935, 10, 65041, 0, 242)  # exp(-2^-k/4)


def _mulq(ah, al, bh, bl):
    # _R = limbs of srdhm(a, b), a = ah * 65536 + al, b likewise (al, bl in [0, 65536), neither INT32_MIN)
    neg = 0
    if ah < 0:
        neg = 1
        if al:
            ah = -ah - 1
            al = 65536 - al
        else:
            ah = -ah
    if bh < 0:
        neg ^= 1
        if bl:
            bh = -bh - 1
            bl = 65536 - bl
        else:
            bh = -bh
    a1 = al >> 8
    a0 = al & 0xFF
    b1 = bl >> 8
    b0 = bl & 0xFF
    c = 0xFF if neg else 0  # the nudge 2^30 (2^30 - 1 for a negative product) in base-256 columns
    t = a0 * b0 + c
    t = a1 * b0 + a0 * b1 + (t >> 8) + c
    t = ah * b0 + a1 * b1 + a0 * bh + (t >> 8) + c
    t = ah * b1 + a1 * bh + (t >> 8) + (63 if neg else 64)
    u = ah * bh
    t = ((u & 0x7FFF) << 1) + (t >> 7)  # floor(product / 2^31) = 2u + (t >> 7), as limbs
    rh = (u >> 15) + (t >> 16)
    rl = t & 0xFFFF
    if neg:
        if rl:
            rh = -rh - 1
            rl = 65536 - rl
        else:
            rh = -rh
    _R[0] = rh
    _R[1] = rl


def _mul_small(a, bh, bl):
    # srdhm(a, b) for a small a whose result is small too (|result| <= |a|)
    _mulq(a >> 16, a & 0xFFFF, bh, bl)
    return (_R[0] << 16) + _R[1]


def _exp_limbs(d, mh, ml, ls, dmin):
    # _R = limbs of softmax_exp(d, mh * 65536 + ml, ls, dmin)
    if -d < dmin:
        _R[0] = 0
        _R[1] = 0
        return
    if ls < 16:  # the limbs of (-d) << ls (it fits int32: d >= diff_min), negated below
        xh = d >> (16 - ls)
        xl = (d & (0xFFFF >> ls)) << ls
    else:
        xh = d << (ls - 16)
        xl = 0
    if xl:
        xh = -xh - 1
        xl = 65536 - xl
    else:
        xh = -xh
    _mulq(xh, xl, mh, ml)  # a = srdhm(-d << ls, mult) in Q5.26, <= 0
    ah = _R[0]
    al = _R[1]
    if ah == 0 and al == 0:
        _R[0] = 32767  # exp(0) = INT32_MAX
        _R[1] = 65535
        return
    a_mod = (((ah & 0xFF) << 16) | al) - _Q26_QUARTER
    rem = -(ah >> 8) - 1  # (a_mod - a) >> 24: its bits 0..6 pick the barrel constants
    x = (a_mod << _SCALED_DIFF_BITS) + _Q31_EIGHTH  # in [-2^28, 2^28): no saturation
    x2 = _mul_small(x, x >> 16, x & 0xFFFF)
    x3 = _mul_small(x2, x >> 16, x & 0xFFFF)
    x4 = _mul_small(x2, x2 >> 16, x2 & 0xFFFF)
    t = _mul_small(rdbpot(x4, 2) + x3, 10922, 43691)  # * 1/3
    x = x + rdbpot(t + x2, 1)
    r = _mul_small(x, 28917, 43156)  # exp(-1/8) * (x + poly) ...
    rl = 43156 + (r & 0xFFFF)  # ... + exp(-1/8)
    rh = 28917 + (r >> 16) + (rl >> 16)
    rl &= 0xFFFF
    k = 0
    while k < 7:
        if (rem >> k) & 1:
            _mulq(rh, rl, _BARREL[2 * k], _BARREL[2 * k + 1])
            rh = _R[0]
            rl = _R[1]
        k += 1
    _R[0] = rh
    _R[1] = rl


def _sat_shl_limbs(h, lo, e):
    # _R = limbs of _sat_shl(h * 65536 + lo, e) (saturating left shift by e in {1, 2})
    lim = 1 << (15 - e)  # |v| >= 2^(31 - e) saturates
    if h >= lim:
        _R[0] = 32767
        _R[1] = 65535
    elif h < -lim or h == -lim and lo == 0:
        _R[0] = -32768
        _R[1] = 0
    else:
        t = lo << e
        _R[0] = (h << e) + (t >> 16)
        _R[1] = t & 0xFFFF


def softmax_limbs(x, act, q, g, p, h):
    """softmax (same program words, same bytes) with every intermediate below 2^30: for ports with
    31-bit small ints; g[h], g[h + 1] are the input multiplier's halves (ulearn._limbs.halves)."""
    x0 = g[p]
    o = g[p + 1]
    n = g[p + 2]
    mh = g[h]
    ml = g[h + 1] + 32768
    ls = g[p + 4]
    dmin = g[p + 5]
    top = -128
    for i in range(x0, x0 + n):
        if x[i] > top:
            top = x[i]
    ex = _EXPS[0]
    if len(ex) < 2 * n:
        ex = _EXPS[0] = array("i", range(2 * n))
    total = 0
    for i in range(n):
        _exp_limbs(top - x[x0 + i], mh, ml, ls, dmin)
        ex[2 * i] = _R[0]
        ex[2 * i + 1] = _R[1]
        total += (_R[0] << 4) + ((_R[1] + 2048) >> _ACCUM_BITS)  # (e + 2048) >> 12
    clz = 32  # leading zeros of total as an unsigned 32-bit value (total > 0)
    t = total
    while t:
        t >>= 1
        clz -= 1
    bits = _ACCUM_BITS - clz + 23
    # a = (total << clz) - 2^31 in [0, 2^31), then half = (a + INT32_MAX + 1) >> 1 = 2^30 + (a >> 1)
    if clz <= 16:
        th = total >> (16 - clz)
        tl = (total & (0xFFFF >> clz)) << clz
    else:
        th = total << (clz - 16)
        tl = 0
    th -= 32768
    hh = 16384 + (th >> 1)
    hl = ((th & 1) << 15) | (tl >> 1)
    _mulq(hh, hl, -15421, 50116)  # x = 48/17 + half * (-32/17)
    xl = 23130 + _R[1]
    xh = 23130 + _R[0] + (xl >> 16)
    xl &= 0xFFFF
    for _ in range(3):
        _mulq(hh, hl, xh, xl)  # p = half * x
        pl = 65536 - _R[1] if _R[1] else 0  # 1 - p (Q2.29 one = 2^29 = 8192 << 16)
        ph = 8192 - _R[0] - (1 if _R[1] else 0)
        _mulq(xh, xl, ph, pl)
        _sat_shl_limbs(_R[0], _R[1], 2)
        xl += _R[1]
        xh += _R[0] + (xl >> 16)
        xl &= 0xFFFF
    _sat_shl_limbs(xh, xl, 1)  # scale
    sh = _R[0]
    sl = _R[1]
    # output: (srdhm(scale, e) + 2^(bits - 1)) >> bits - 128, bits in [23, 34]
    hb = 1 << (bits - 17)
    for i in range(n):
        _mulq(sh, sl, ex[2 * i], ex[2 * i + 1])
        v = ((_R[0] + hb) >> (bits - 16)) - 128  # the low limb cannot carry into bit `bits` >= 23
        act[o] = -128 if v < -128 else (127 if v > 127 else v)
        o += 1
