"""TFLite int8 softmax (the reference arithmetic of TFLite Micro's int8 softmax: gemmlowp's
exp_on_negative_values and one_over_one_plus_x_for_x_in_0_1), computed per value: no table. Every
backend uses it on ports with 64-bit small ints (nothing allocated there); ports with 31-bit small
ints use ulearn.nn._slimbs, the same integers on limbs.
"""

from array import array

from ulearn.fixedpoint import INT32_MAX, INT32_MIN, rdbpot, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SCALED_DIFF_BITS = const(5)     # kScaledDiffIntegerBits
_ACCUM_BITS = const(12)          # kAccumulationIntegerBits
_Q26_QUARTER = const(16777216)   # 1/4 in Q5.26
_Q31_EIGHTH = const(268435456)   # 1/8 in Q0.31
_Q29_ONE = const(536870912)      # 1 in Q2.29
_EXP_MINUS_EIGHTH = const(1895147668)
_ONE_THIRD = const(715827883)
_C48_17 = const(1515870810)
_CNEG32_17 = const(-1010580540)
_EXPS = [array("i", [0] * 16)]  # the exps of one softmax row; replaced (once) by a longer one when needed


def _sat_shl(x, e):
    thr = (1 << (31 - e)) - 1
    if x > thr:
        return INT32_MAX
    if x < -thr:
        return INT32_MIN
    return x << e


def _exp_on_negative(a):
    # gemmlowp exp_on_negative_values: Q5.26 a <= 0 -> Q0.31
    a_mod = (a & (_Q26_QUARTER - 1)) - _Q26_QUARTER
    x = _sat_shl(a_mod, _SCALED_DIFF_BITS) + _Q31_EIGHTH
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdbpot(srdhm(rdbpot(x4, 2) + x3, _ONE_THIRD) + x2, 1)
    r = _EXP_MINUS_EIGHTH + srdhm(_EXP_MINUS_EIGHTH, x + poly)
    rem = a_mod - a
    if rem & 16777216:
        r = srdhm(r, 1672461947)
    if rem & 33554432:
        r = srdhm(r, 1302514674)
    if rem & 67108864:
        r = srdhm(r, 790015084)
    if rem & 134217728:
        r = srdhm(r, 290630308)
    if rem & 268435456:
        r = srdhm(r, 39332535)
    if rem & 536870912:
        r = srdhm(r, 720401)
    if rem & 1073741824:
        r = srdhm(r, 242)
    return INT32_MAX if a == 0 else r


def _one_over_one_plus(a):
    # gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 -> Q0.31 (SRDHM written out: no operand is
    # INT32_MIN here, so only the sign of the product picks the nudge)
    s = a + INT32_MAX + (1 if a + INT32_MAX >= 0 else -1)
    half = s // 2 if s >= 0 else -((-s) // 2)
    x = _C48_17 + srdhm(half, _CNEG32_17)
    for _ in range(3):
        p = half * x
        p = (p + 1073741824) >> 31 if p >= 0 else -((1073741823 - p) >> 31)
        p = x * (_Q29_ONE - p)
        p = (p + 1073741824) >> 31 if p >= 0 else -((1073741823 - p) >> 31)
        x = x + _sat_shl(p, 2)
    return _sat_shl(x, 1)


def softmax_exp(d, mult, left_shift, diff_min):
    """exp(-d) in Q0.31 for d = top - x >= 0, exactly as TFLite's int8 softmax computes it (its input
    rescaling by mult/left_shift, then gemmlowp exp_on_negative_values); 0 where -d < diff_min (the
    value does not count)."""
    if -d < diff_min:
        return 0
    return _exp_on_negative(srdhm((-d) << left_shift, mult))


def softmax(x, act, q, g, p):
    """TFLite int8 softmax of n values: x 'b' -> act 'b' (scale 1/256, zero point -128).

    Program words g[p:]: x0 (input at x[x0]), out0 (output at act[out0]), n, mult0 (the input
    multiplier is q[mult0]), left_shift, diff_min (TFLite's PreprocessSoftmaxScaling and
    CalculateInputRadius, clamped to >= -256 at load: d is at most 255). Each exp is computed once
    per value, kept for the output in a scratch array shared by all models (no table per model).
    Every exp is >= 0, so the rounding divisions and the high multiply are written out for
    non-negative values. A value below diff_min has exp 0: it adds
    (0 + 2048) >> 12 = 0 to the sum and comes out as -128, exactly what TFLite's explicit test gives.
    """
    x0 = g[p]
    o = g[p + 1]
    n = g[p + 2]
    mult = q[g[p + 3]]
    ls = g[p + 4]
    dmin = g[p + 5]
    top = -128
    for i in range(x0, x0 + n):
        if x[i] > top:
            top = x[i]
    ex = _EXPS[0]
    if len(ex) < n:
        ex = _EXPS[0] = array("i", range(n))
    total = 0
    for i in range(n):
        e = softmax_exp(top - x[x0 + i], mult, ls, dmin)
        ex[i] = e
        total += (e + 2048) >> _ACCUM_BITS  # RoundingDivideByPOT(e, 12)
    total = wrap32(total)  # > 0: the largest input contributes exp(0)
    clz = 0
    t = total
    if t < 0x10000:
        t <<= 16
        clz = 16
    if t < 0x1000000:
        t <<= 8
        clz += 8
    if t < 0x10000000:
        t <<= 4
        clz += 4
    if t < 0x40000000:
        t <<= 2
        clz += 2
    if t < 0x80000000:
        clz += 1
    bits = _ACCUM_BITS - clz + 23
    scale = _one_over_one_plus(wrap32(((total << clz) & 0xFFFFFFFF) - 0x80000000))
    half = 1 << (bits - 1)
    for i in range(n):
        v = (((scale * ex[i] + 1073741824) >> 31) + half >> bits) - 128  # SRDHM, RDBPOT >= 0
        act[o] = -128 if v < -128 else (127 if v > 127 else v)
        o += 1
