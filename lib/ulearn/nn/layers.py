"""int8 layers that do not go through the GEMM backend: depthwise conv, max/avg pooling, softmax.

Pure Python over flat int8 buffers (HWC, batch 1), no allocation (small ints only on 64-bit ports;
32-bit ports may box the 64-bit products of requantization). The arithmetic is the TFLite int8
reference, with ulearn.fixedpoint's requantize.
"""

from ulearn.fixedpoint import INT32_MAX, INT32_MIN, rdbpot, requantize, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1 and -2^30: the small-int range of 32-bit MicroPython
_SMALL_MIN = const(-1073741824)
_SCALED_DIFF_BITS = const(5)     # kScaledDiffIntegerBits
_ACCUM_BITS = const(12)          # kAccumulationIntegerBits
_Q26_QUARTER = const(16777216)   # 1/4 in Q5.26
_Q31_EIGHTH = const(268435456)   # 1/8 in Q0.31
_Q29_ONE = const(536870912)      # 1 in Q2.29
_EXP_MINUS_EIGHTH = const(1895147668)
_ONE_THIRD = const(715827883)
_C48_17 = const(1515870810)
_CNEG32_17 = const(-1010580540)
_rql = None  # ulearn._limbs.requantize_limbs, loaded when first needed (ulearn.fixedpoint.LIMBS)


def depthwise_conv(x, act, w, q, g, p, h=-1):
    """Depthwise conv2d from the program at g[p:]: the conv_s8 words of ulearn.backend (CONV_*; weights
    'b' 1 x KH x KW x (C*dm) at w[W0]) and the depth multiplier dm in word 26. Output channel c*dm+m
    reads input channel c; acc = sum (x + in_off) * w + bias; requantized per channel, + out_off,
    clamped to [act_min, act_max]. h >= 0: the multipliers' halves are at g[h:] (ulearn.fixedpoint.LIMBS).
    """
    global _rql
    if h >= 0 and _rql is None:
        from ulearn._limbs import requantize_limbs as _rql
    x0 = g[p]
    o = g[p + 1]
    w0 = g[p + 4]
    bias0 = g[p + 5]
    mult0 = g[p + 6]
    shift0 = g[p + 7]
    in_h = g[p + 8]
    in_w = g[p + 9]
    in_c = g[p + 10]
    k_h = g[p + 12]
    k_w = g[p + 13]
    s_h = g[p + 14]
    s_w = g[p + 15]
    d_h = g[p + 16]
    d_w = g[p + 17]
    pad_top = g[p + 18]
    pad_left = g[p + 19]
    out_h = g[p + 20]
    out_w = g[p + 21]
    in_off = g[p + 22]
    out_off = g[p + 23]
    act_min = g[p + 24]
    act_max = g[p + 25]
    dm = g[p + 26]
    out_c = in_c * dm
    for oy in range(out_h):
        iy0 = oy * s_h - pad_top
        for ox in range(out_w):
            ix0 = ox * s_w - pad_left
            for c in range(out_c):
                acc = q[bias0 + c] if bias0 >= 0 else 0
                ch = x0 + c // dm
                for ky in range(k_h):
                    iy = iy0 + ky * d_h
                    if iy < 0 or iy >= in_h:
                        continue
                    wrow = w0 + ky * k_w * out_c + c
                    xrow = iy * in_w
                    for kx in range(k_w):
                        ix = ix0 + kx * d_w
                        if 0 <= ix < in_w:
                            acc += (x[(xrow + ix) * in_c + ch] + in_off) * w[wrow + kx * out_c]
                if acc > _SMALL_MAX or acc < _SMALL_MIN:  # wrap32 only when it can matter (it boxes on 32-bit)
                    acc = wrap32(acc)
                if h >= 0:
                    v = _rql(acc, g[h + 2 * c], g[h + 2 * c + 1], w[shift0 + c]) + out_off
                else:
                    v = requantize(acc, q[mult0 + c], w[shift0 + c]) + out_off
                act[o] = act_min if v < act_min else (act_max if v > act_max else v)
                o += 1


def pool(x, act, g, p):
    """Max or average pooling over the valid taps of each window (TFLite int8), 'b' HWC in and out.

    Program at g[p:]: x0 (input at x[x0]), out0 (output at act[out0]), then is_max, in_h, in_w, c,
    out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min + 128, act_max + 128 (made at load).
    Average: sum of the int8 values, (acc +/- count//2) / count truncated toward zero. Both clamp.
    """
    x0 = g[p]  # one by one: a multiple assignment of > 3 values builds a tuple in MicroPython
    o = g[p + 1]
    is_max = g[p + 2]
    in_h = g[p + 3]
    in_w = g[p + 4]
    c = g[p + 5]
    out_h = g[p + 6]
    out_w = g[p + 7]
    k_h = g[p + 8]
    k_w = g[p + 9]
    s_h = g[p + 10]
    s_w = g[p + 11]
    pad_top = g[p + 12]
    pad_left = g[p + 13]
    act_min = g[p + 14] - 128
    act_max = g[p + 15] - 128
    if is_max and in_h == 1 and pad_left == 0 and s_w == k_w:  # 1-D, valid, non-overlapping: the usual
        step = k_w * c
        end = x0 + out_w * step
        q0 = x0
        while q0 < end:  # not range(0, end, step): a variable step makes a range object per call
            for t in range(q0, q0 + c):
                acc = x[t]
                for _ in range(1, k_w):
                    t += c
                    if x[t] > acc:
                        acc = x[t]
                act[o] = act_min if acc < act_min else (act_max if acc > act_max else acc)
                o += 1
            q0 += step
        return
    for oy in range(out_h):
        y0 = oy * s_h - pad_top
        y1 = y0 + k_h
        if y0 < 0:
            y0 = 0
        if y1 > in_h:
            y1 = in_h
        for ox in range(out_w):
            xa = ox * s_w - pad_left
            xb = xa + k_w
            if xa < 0:
                xa = 0
            if xb > in_w:
                xb = in_w
            count = (y1 - y0) * (xb - xa)
            for ch in range(c):
                acc = -129 if is_max else 0
                for iy in range(y0, y1):
                    t = x0 + (iy * in_w + xa) * c + ch
                    for _ in range(xa, xb):
                        v = x[t]
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        t += c
                if not is_max:
                    half = count >> 1
                    acc = (acc + half) // count if acc > 0 else -((half - acc) // count)
                act[o] = act_min if acc < act_min else (act_max if acc > act_max else acc)
                o += 1


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
    multiplier is q[mult0]), left_shift, diff_min (TFLite's PreprocessSoftmaxScaling and CalculateInputRadius,
    clamped to >= -256 at load: d is at most 255). Each exp is computed when needed (twice per value:
    for the sum and for the output; no table). Every exp is >= 0, so the rounding divisions and the high
    multiply are written out for non-negative values. A value below diff_min has exp 0: it adds
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
    total = 0
    for i in range(x0, x0 + n):
        total += (softmax_exp(top - x[i], mult, ls, dmin) + 2048) >> _ACCUM_BITS  # RoundingDivideByPOT(e, 12)
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
    for i in range(x0, x0 + n):
        e = softmax_exp(top - x[i], mult, ls, dmin)
        v = (((scale * e + 1073741824) >> 31) + half >> bits) - 128  # SRDHM, RDBPOT >= 0
        act[o] = -128 if v < -128 else (127 if v > 127 else v)
        o += 1
