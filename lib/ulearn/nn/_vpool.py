# ruff: noqa: F821 - ptr8/ptr16/ptr32 are viper built-ins
"""Max/average pooling in viper (used when the backend is viper, or native without C pooling): the
same integers as ulearn.nn.layers.pool, from the same layer program words (made and checked at load).
The softmax is elsewhere: ulearn.nn._softmax (Python, allocates nothing on 64-bit ports) and, on ports
with 31-bit small ints, ulearn.nn._vsoftmax (viper) or ulearn.nn._slimbs (Python limbs).
"""

import micropython
from array import array

_PW = array("i", [0] * 16)  # pool's program words, read from an 'h' or 'i' program


@micropython.viper
def pool(x, act, prog, p: int, wide: int):
    """Pool x ('b' HWC) into act ('b') with the program words prog[p:] (see ulearn.nn.layers.pool;
    prog 'i' if `wide`, else 'h'; every word >= 0); no allocation. The offsets are checked at load
    (the model builds the program)."""
    px = ptr8(x)
    po = ptr8(act)
    pp = ptr32(prog)
    p16 = ptr16(prog)
    pw = ptr32(_PW)
    i = 0
    while i < 16:
        if wide:
            pw[i] = pp[p + i]
        else:
            pw[i] = p16[p + i]
        i += 1
    x0 = int(pw[0])
    o = int(pw[1])
    is_max = int(pw[2])
    in_h = int(pw[3])
    in_w = int(pw[4])
    c = int(pw[5])
    out_h = int(pw[6])
    out_w = int(pw[7])
    k_h = int(pw[8])
    k_w = int(pw[9])
    s_h = int(pw[10])
    s_w = int(pw[11])
    pad_top = int(pw[12])
    pad_left = int(pw[13])
    amin = int(pw[14]) - 128
    amax = int(pw[15]) - 128
    if is_max and in_h == 1 and pad_left == 0 and s_w == k_w:  # 1-D, non-overlapping
        # SAME on a width k_w does not divide: the last window holds in_w - (out_w - 1) * k_w taps
        # (>= 1: load refuses windows outside the input), the rest of it is padding
        step = k_w * c
        span = step
        n = out_w
        tail = in_w - (out_w - 1) * k_w
        if tail < k_w:
            n -= 1
        end = x0 + n * step
        q0 = x0
        while True:
            while q0 < end:
                q = q0
                qe = q0 + c
                while q < qe:
                    acc = int(px[q])
                    if acc > 127:
                        acc -= 256
                    t = q + c
                    te = q + span
                    while t < te:
                        v = int(px[t])
                        if v > 127:
                            v -= 256
                        if v > acc:
                            acc = v
                        t += c
                    if acc < amin:
                        acc = amin
                    if acc > amax:
                        acc = amax
                    po[o] = acc & 0xFF
                    o += 1
                    q += 1
                q0 += step
            if n == out_w:
                return
            n = out_w  # then the short last window, once
            span = tail * c
            end = q0 + 1
    oy = 0
    while oy < out_h:
        y0 = oy * s_h - pad_top
        y1 = y0 + k_h
        if y0 < 0:
            y0 = 0
        if y1 > in_h:
            y1 = in_h
        ox = 0
        while ox < out_w:
            xa = ox * s_w - pad_left
            x1 = xa + k_w
            if xa < 0:
                xa = 0
            if x1 > in_w:
                x1 = in_w
            count = (y1 - y0) * (x1 - xa)
            ch = 0
            while ch < c:
                acc = 0
                if is_max:
                    acc = -129
                iy = y0
                while iy < y1:
                    q = x0 + (iy * in_w + xa) * c + ch
                    ix = xa
                    while ix < x1:
                        v = int(px[q])
                        if v > 127:
                            v -= 256
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        q += c
                        ix += 1
                    iy += 1
                if not is_max:
                    half = count >> 1
                    if acc > 0:
                        acc = (acc + half) // count
                    else:
                        acc = 0 - ((half - acc) // count)
                if acc < amin:
                    acc = amin
                if acc > amax:
                    acc = amax
                po[o] = acc & 0xFF
                o += 1
                ch += 1
            ox += 1
        oy += 1
