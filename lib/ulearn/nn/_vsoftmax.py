# ruff: noqa: F821 - ptr8/ptr16/ptr32 are viper built-ins
"""TFLite int8 softmax in viper for ports whose small integers are 31-bit (ulearn.fixedpoint.LIMBS)
with the viper or native backend: the same integers as ulearn.nn._softmax.softmax, every value a
machine word, ~40x faster than the Python limbs of ulearn.nn._slimbs. The 31x31-bit products of
SaturatingRoundingDoublingHighMul are done in 16-bit limbs (no intermediate leaves int32; constants
>= 2^30 are built at run time: a literal would be a big-integer object); each exp is computed where
it is used. Not loaded on 64-bit ports (the Python softmax allocates nothing there): its viper code
is large.
"""

import micropython
from array import array

_E = array("i", [0])  # _exp's result: a viper function returning an int >= 2^30 would box it on 32-bit ports


@micropython.viper
def _exp(d: int, q, mult0: int, ls: int, dmin: int, res):
    # res[0] = Q0.31 exp(-d) of TFLite's int8 softmax (ulearn.nn._softmax.softmax_exp): input multiplier
    # q[mult0], left shift ls, diff_min dmin; 0 below diff_min. Every product is a
    # SaturatingRoundingDoublingHighMul of two int32 (none INT32_MIN here) in 16-bit limbs; the operands
    # of step k are chosen in the loop (a state machine: one copy of the limb code).
    pq = ptr32(q)
    pr = ptr32(res)
    one = 1
    n16 = 16
    n30 = 30
    if 0 - d < dmin:
        pr[0] = 0
        return
    b30 = one << n30                                    # 2^30
    imax = (b30 - 1) + b30                              # INT32_MAX
    rem = 0
    a = 0
    xx = 0
    x2 = 0
    x3 = 0
    r = 0
    k = 0
    while k < 13:
        # step k: r = srdhm(pa, pb)
        if k == 0:                                      # input rescaling: (-d) << left_shift times mult
            pa = (0 - d) << ls
            pb = int(pq[mult0])
        elif k == 1:                                    # x2 = x * x
            pa = xx
            pb = xx
        elif k == 2:                                    # x3 = x2 * x
            pa = x2
            pb = xx
        elif k == 3:                                    # x4 = x2 * x2
            pa = x2
            pb = x2
        elif k == 4:                                    # (x4/4 + x3) * 1/3
            pa = x3
            pb = 715827883
        elif k == 5:                                    # exp(-1/8) * (x + poly)
            pa = xx
            pb = 947573834 << one                       # 1895147668 (>= 2^30: built, not a literal)
        else:                                           # the barrel shifter: one constant per bit of rem
            pa = r
            pb = 242
            if k == 6:
                pb = (836230973 << one) + 1             # 1672461947
            elif k == 7:
                pb = 651257337 << one                   # 1302514674
            elif k == 8:
                pb = 790015084
            elif k == 9:
                pb = 290630308
            elif k == 10:
                pb = 39332535
            elif k == 11:
                pb = 720401
            if not (rem >> (k + 18)) & 1:               # bit 24 + (k - 6) of rem
                k += 1
                continue
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
        m1 = ph * ql
        m2 = pl * qh
        d1 = pl * (ql >> 8)
        low = ((d1 & 0xFF) << 8) + pl * (ql & 0xFF) + (c & 0xFFFF)
        mid = (m1 & 0xFFFF) + (m2 & 0xFFFF) + (d1 >> 8) + (low >> n16) + (c >> n16)
        h = ((ph * qh + (m1 >> n16) + (m2 >> n16) + (mid >> n16)) << 1) + ((mid & 0xFFFF) >> 15)
        if neg:
            h = 0 - h
        if k == 0:                                      # a in Q5.26, <= 0
            a = h
            am = (a & 0xFFFFFF) - 0x1000000             # a_mod: a mod 1/4 - 1/4, in [-1/4, 0)
            rem = am - a
            xx = (am << 5) + 0x10000000                 # am << 5 cannot saturate; + 1/8 in Q0.31
        elif k == 1:
            x2 = h
        elif k == 2:
            x3 = h
        elif k == 3:                                    # x3 += RoundingDivideByPOT(x4, 2)  (x4 >= 0)
            x3 += (h >> 2) + ((h >> 1) & 1)
        elif k == 4:                                    # xx += RoundingDivideByPOT(h + x2, 1)
            t = h + x2
            t2 = t >> 1
            if t >= 0:                                  # rem 1 > thr 0 (x >= 0); thr 1 for x < 0
                t2 += t & 1
            xx += t2
        elif k == 5:
            r = (947573834 << one) + h
        else:
            r = h
        k += 1
    if a == 0:
        r = imax
    pr[0] = r


@micropython.viper
def softmax(x, act, q, prog, p: int, wide: int):
    """TFLite int8 softmax (ulearn.nn._softmax.softmax) with the program words prog[p:] ('i' if `wide`,
    else 'h'); n < 4096."""
    px = ptr8(x)
    po = ptr8(act)
    res = _E
    pr = ptr32(res)
    if wide:
        pp = ptr32(prog)
        x0 = int(pp[p])
        o = int(pp[p + 1])
        n = int(pp[p + 2])
        mult0 = int(pp[p + 3])
        ls = int(pp[p + 4])
        dmin = int(pp[p + 5])
    else:
        p16 = ptr16(prog)
        x0 = int(p16[p])
        o = int(p16[p + 1])
        n = int(p16[p + 2])
        mult0 = int(p16[p + 3])
        ls = int(p16[p + 4])
        dmin = int(p16[p + 5])
    dmin = ((dmin & 0xFFFF) ^ 0x8000) - 0x8000         # in [-256, 0] (clamped at load); loads are unsigned
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
    i = x0
    while i < x0 + n:
        v = (px[i] ^ 0x80) - 0x80
        if v > top:
            top = v
        i += 1
    total = 0
    i = x0
    while i < x0 + n:
        _exp(top - ((px[i] ^ 0x80) - 0x80), q, mult0, ls, dmin, res)
        e = int(pr[0])                                  # >= 0
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
    # gemmlowp one_over_one_plus_x_for_x_in_0_1 (as ulearn.nn._softmax._one_over_one_plus): 7 products
    half = b30 + (a >> 1)
    x_ = 0
    pm = 0
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
            pb = (one << 29) - pm
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
            pm = r
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
        _exp(top - ((px[x0 + i] ^ 0x80) - 0x80), q, mult0, ls, dmin, res)
        e = int(pr[0])
        eh = e >> n16
        el = e & 0xFFFF
        b1 = sh * el
        b2 = sl * eh
        d1 = el * s_hi
        low = ((d1 & 0xFF) << 8) + el * s_lo
        mid = (b1 & 0xFFFF) + (b2 & 0xFFFF) + (d1 >> 8) + (low >> n16) + 0x4000
        r = ((sh * eh + (b1 >> n16) + (b2 >> n16) + (mid >> n16)) << 1) + ((mid & 0xFFFF) >> 15)
        y = 0                                           # (r + 2^(bits-1)) >> bits, r in [0, 2^31)
        if bits < 32:
            y = (r >> bits) + ((r >> (bits - 1)) & 1)
        v = y - 128
        if v > 127:
            v = 127
        po[o + i] = v & 0xFF
        i += 1
