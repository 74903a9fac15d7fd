# ruff: noqa: F821 - ptr8/ptr32 are viper built-ins
"""Max/average pooling and softmax in viper (used when the backend is viper or native): the same
integers as ulearn.nn.layers.pool and ulearn.nn.layers.softmax. Pooling parameters: the layer's int32
array made at load (layout: ulearn.nn.layers.pool).

Softmax: on a 32-bit MicroPython, Python integers beyond +-2^30 are heap objects, and the softmax
works in Q0.31 (its exp table, the Q31 products). Here every value is a machine word; the 31x31-bit
products of SaturatingRoundingDoublingHighMul are done in 16-bit limbs so no intermediate leaves
int32, and constants >= 2^30 are built at run time (a literal would become a big-integer object).
"""

import micropython


@micropython.viper
def pool(x, out, p):
    """Pool x ('b' HWC) into out ('b') with the int32 parameters p (see ulearn.nn.layers.pool); no allocation."""
    px = ptr8(x)
    po = ptr8(out)
    pp = ptr32(p)
    is_max = int(pp[0])
    in_h = int(pp[1])
    in_w = int(pp[2])
    c = int(pp[3])
    out_h = int(pp[4])
    out_w = int(pp[5])
    k_h = int(pp[6])
    k_w = int(pp[7])
    s_h = int(pp[8])
    s_w = int(pp[9])
    pad_top = int(pp[10])
    pad_left = int(pp[11])
    amin = int(pp[12]) - 128
    amax = int(pp[13]) - 128
    o = 0
    if is_max and in_h == 1 and pad_left == 0 and s_w == k_w:  # 1-D, valid, non-overlapping
        step = k_w * c
        end = out_w * step
        q0 = 0
        while q0 < end:
            q = q0
            qe = q0 + c
            while q < qe:
                acc = int(px[q])
                if acc > 127:
                    acc -= 256
                t = q + c
                te = q + step
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
        return
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
            x0 = ox * s_w - pad_left
            x1 = x0 + k_w
            if x0 < 0:
                x0 = 0
            if x1 > in_w:
                x1 = in_w
            count = (y1 - y0) * (x1 - x0)
            ch = 0
            while ch < c:
                acc = 0
                if is_max:
                    acc = -129
                iy = y0
                while iy < y1:
                    q = (iy * in_w + x0) * c + ch
                    ix = x0
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


@micropython.viper
def softmax(x, out, n: int, table):
    """TFLite int8 softmax of n (< 4096) values: x 'b' -> out 'b'; table: ulearn.nn.layers.softmax_table."""
    px = ptr8(x)
    po = ptr8(out)
    pt = ptr32(table)
    one = 1
    n16 = 16
    n30 = 30
    n31 = 31
    b30 = one << n30                # 2^30
    s31 = one << n31                # 2^31 (INT32_MIN's bit pattern on 32-bit machines)
    imax = s31 - 1
    imin = -imax - 1
    low31 = b30 - 1 + b30           # 2^31 - 1 as a mask
    top = -128
    i = 0
    while i < n:
        v = (px[i] ^ 0x80) - 0x80
        if v > top:
            top = v
        i += 1
    total = 0
    i = 0
    while i < n:
        e = int(pt[top - ((px[i] ^ 0x80) - 0x80)])       # >= 0
        total += (e >> 12) + ((e >> 11) & 1)            # (e + 2048) >> 12 without leaving int32
        i += 1
    nb = 0
    t = total
    while t:
        t >>= 1
        nb += 1
    clz = 32 - nb
    bits = 35 - clz                                     # 12 - clz + 23, in [23, 34]
    a = (total << clz) & low31                          # total << clz minus 2^31, in [0, 2^31)
    # gemmlowp one_over_one_plus_x_for_x_in_0_1 (as ulearn.nn.layers._one_over_one_plus): 7 products
    half = b30 + (a >> 1)
    x_ = 0
    p = 0
    k = 0
    while k < 7:
        if k == 0:
            pa = half
            pb = -1010580540                            # -32/17 in Q2.29
        elif k & 1:
            pa = half
            pb = x_
        else:
            pa = x_
            pb = (one << 29) - p
        neg = 0
        if pa < 0:
            pa = 0 - pa
            neg = 1
        if pb < 0:
            pb = 0 - pb
            neg ^= 1
        c = b30 - neg                                   # nudge: 2^30, or 2^30 - 1 for a negative product
        ph = (pa >> n16) & 0xFFFF
        pl = pa & 0xFFFF
        qh = (pb >> n16) & 0xFFFF
        ql = pb & 0xFFFF
        b1 = ph * ql
        b2 = pl * qh
        d1 = pl * (ql >> 8)
        low = ((d1 & 0xFF) << 8) + pl * (ql & 0xFF) + (c & 0xFFFF)
        mid = (b1 & 0xFFFF) + (b2 & 0xFFFF) + (d1 >> 8) + (low >> n16) + (c >> n16)
        r = ((ph * qh + (b1 >> n16) + (b2 >> n16) + (mid >> n16)) << 1) + ((mid & 0xFFFF) >> 15)
        if neg:
            r = 0 - r
        if k == 0:
            x_ = (757935405 << one) + r                 # 48/17 in Q2.29 (1515870810) + r
        elif k & 1:
            p = r
        else:                                           # x += saturating r << 2
            thr = (one << 29) - 1
            if r > thr:
                r = imax
            elif r < 0 - thr:
                r = imin
            else:
                r = r << 2
            x_ += r
        k += 1
    thr = b30 - 1                                       # scale = saturating x << 1
    if x_ > thr:
        scale = imax
    elif x_ < 0 - thr:
        scale = imin
    else:
        scale = x_ << 1
    sh = (scale >> n16) & 0xFFFF
    sl = scale & 0xFFFF
    s_hi = sl >> 8
    s_lo = sl & 0xFF
    i = 0
    while i < n:
        e = int(pt[top - ((px[i] ^ 0x80) - 0x80)])
        eh = e >> n16
        el = e & 0xFFFF
        b1 = sh * el
        b2 = sl * eh
        d1 = el * s_hi
        low = ((d1 & 0xFF) << 8) + el * s_lo
        mid = (b1 & 0xFFFF) + (b2 & 0xFFFF) + (d1 >> 8) + (low >> n16) + 0x4000
        r = ((sh * eh + (b1 >> n16) + (b2 >> n16) + (mid >> n16)) << 1) + ((mid & 0xFFFF) >> 15)
        q = 0                                           # (r + 2^(bits-1)) >> bits, r in [0, 2^31)
        if bits < 32:
            q = (r >> bits) + ((r >> (bits - 1)) & 1)
        v = q - 128
        if v > 127:
            v = 127
        po[i] = v & 0xFF
        i += 1
