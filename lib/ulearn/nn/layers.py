"""int8 layers that do not go through the GEMM backend: depthwise conv, max/avg pooling (the softmax:
ulearn.nn._softmax).

Pure Python over flat int8 buffers (HWC, batch 1), no allocation (small ints only on 64-bit ports;
32-bit ports may box the 64-bit products of requantization). The arithmetic is the TFLite int8
reference, with ulearn.fixedpoint's requantize.
"""

from ulearn.fixedpoint import requantize, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1 and -2^30: the small-int range of 32-bit MicroPython
_SMALL_MIN = const(-1073741824)
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
    if is_max and in_h == 1 and pad_left == 0 and s_w == k_w:  # 1-D, non-overlapping: the usual
        step = k_w * c
        tail = in_w - (out_w - 1) * k_w  # taps of the last window (>= 1: load refuses windows outside
        end = x0 + out_w * step           # the input); < k_w when SAME pads the end of the row
        short = end - step if tail < k_w else end  # the short last window's start (none: end)
        taps = k_w
        q0 = x0
        while q0 < end:  # not range(0, end, step): a variable step makes a range object per call
            if q0 == short:  # the short last window: its taps past the row are padding, skipped
                taps = tail
            for t in range(q0, q0 + c):
                acc = x[t]
                for _ in range(1, taps):
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
