"""The whole decision of a kernel or linear SVM in one viper call (see ``qmath.fused``).

Imported only by models that use it: compiling these two functions from source needs ~8 KB more
heap than ``_sviper.py``'s small kernels, which the trainers and RFF models use.
"""

import micropython


# v_kernel and v_linear compute a model's whole decision in one viper call, with the same integers
# as model.py's composition of norm, backend.matvec_q15 and kstage (the reference). Dot products
# are exact in 32-bit words too: each int16 x int16 product p is summed as hi += p >> 15 and
# lo += p & 0x7FFF (no overflow below 2^15 terms), then the bias and the rounding constant are
# split the same way and the shift is applied to hi * 2^15 + lo without leaving 32 bits, saturating
# to int32 as matvec_q15 does. int32 loads are sign-extended with v - ((v & 2^31) << 1) (a no-op
# where viper ints are 32-bit). ks / dec are the model's scratch arrays ('h' n_sv, 'i' rows).
# prm ('i'): 0 n_features, 1 n_sv (kernel) or rows (linear), 2 zq, 3 out_shift, 4 pairs, 5 classes,
# 6 zlim (|z| saturation of the normalized features, 1..32767).

@micropython.viper
def v_kernel(i: int, hi: int, lo: int, sv: ptr16, z: ptr16, x: ptr16, mu: ptr16, mul: ptr16, sh: ptr8,
             svn: ptr32, coef: ptr16, pint: ptr32, ftab: ptr16, etab: ptr16, ks: ptr16, dec: ptr32, prm: ptr32,
             votes: ptr8, out, nout: int) -> int:
    # i, hi, lo (callers pass 0) are the first three locals: the ones viper keeps in registers
    d = int(prm[0])
    n = int(prm[1])
    zq = int(prm[2])
    osh = int(prm[3])
    pairs = int(prm[4])
    ncls = int(prm[5])
    lim = int(prm[6])
    top = 1
    top <<= 31          # runtime shifts: folded constants would be big-int objects on 32-bit ports
    t30 = 1
    t30 <<= 30
    mx = t30 - 1 + t30
    mn = -mx - 1
    # z = normalized features, and |z|^2 exactly as hi * 2^15 + lo
    hi = 0
    lo = 0
    for i in range(d):
        a = (int(x[i]) ^ 0x8000) - 0x8000
        a -= (int(mu[i]) ^ 0x8000) - 0x8000
        if a > 32767:
            a = 32767
        elif a < -32767:
            a = -32767
        s = int(sh[i])
        v = (a * ((int(mul[i]) ^ 0x8000) - 0x8000) + (1 << (s - 1))) >> s
        if v > lim:
            v = lim
        elif v < -lim:
            v = -lim
        z[i] = v
        p = v * v
        hi += p >> 15
        lo += p & 0x7FFF
    rnd = 1 << (zq - 1)
    k = 15 - zq
    hi += (lo + rnd) >> 15
    lo = (lo + rnd) & 0x7FFF
    if hi > (mx >> k):
        zn = mx
    else:
        zn = (hi << k) + (lo >> zq)
    lsh = zq - 6
    mask = (1 << lsh) - 1
    zh = zn >> 16
    zl = zn & 0xFFFF
    # kernel values: exp(-(|z|^2 + |sv|^2 - 2 z.sv)) by table
    j = 0
    for s in range(n):
        w = ptr16(int(sv) + j)                  # support vector s
        hi = 0
        lo = 0
        i = 0
        while i < d:                            # (a while loop is cheaper than range() here)
            p = ((int(w[i]) ^ 0x8000) - 0x8000) * ((int(z[i]) ^ 0x8000) - 0x8000)
            hi += p >> 15
            lo += p & 0x7FFF
            i += 1
        j += 2 * d
        hi += (lo + rnd) >> 15
        lo = (lo + rnd) & 0x7FFF
        if hi > (mx >> k):
            a = mx
        elif hi < (mn >> k):
            a = mn
        else:
            a = (hi << k) + (lo >> zq)
        b = int(svn[s])
        b -= (b & top) << 1
        uh = zh + (b >> 16) - 2 * (a >> 16)
        ul = zl + (b & 0xFFFF) - 2 * (a & 0xFFFF)
        uh += ul >> 16
        if uh < 0:
            u = 0
        elif uh >= 8:               # u >= 2^19 >= 12 * 2^zq: the kernel value is 0
            ks[s] = 0
            continue
        else:
            u = (uh << 16) + (ul & 0xFFFF)
        e = u >> zq
        if e >= 12:
            ks[s] = 0
            continue
        f = (u >> lsh) & 63
        f0 = int(ftab[f])
        fr = f0 + (((int(ftab[f + 1]) - f0) * (u & mask)) >> lsh)
        ks[s] = (int(etab[e]) * fr + 16384) >> 15
    # decisions: coef (pairs x n_sv) . ks + intercepts, rounded, shifted, saturated
    rnd = 0
    if osh > 0:
        rnd = 1 << (osh - 1)
    j = 0
    for q in range(pairs):
        w = ptr16(int(coef) + j)                # the coefficients of pair q
        hi = 0
        lo = 0
        i = 0
        while i < n:
            p = ((int(w[i]) ^ 0x8000) - 0x8000) * int(ks[i])
            hi += p >> 15
            lo += p & 0x7FFF
            i += 1
        j += 2 * n
        b = int(pint[q])
        b -= (b & top) << 1
        hi += (b >> 15) + (rnd >> 15)
        lo += (b & 0x7FFF) + (rnd & 0x7FFF)
        hi += lo >> 15
        lo &= 0x7FFF
        if osh >= 15:
            a = hi >> (osh - 15)
        else:
            k = 15 - osh
            if hi > (mx >> k):
                a = mx
            elif hi < (mn >> k):
                a = mn
            else:
                a = (hi << k) + (lo >> osh)
        dec[q] = a
        if q < nout:
            out[q] = a
    if ncls < 2:
        return 0
    for i in range(ncls):
        votes[i] = 0
    q = 0
    for i in range(ncls):
        for c in range(i + 1, ncls):
            a = int(dec[q])
            a -= (a & top) << 1
            if a > 0:
                votes[i] += 1
            else:
                votes[c] += 1
            q += 1
    best = 0
    for i in range(1, ncls):
        if int(votes[i]) > int(votes[best]):
            best = i
    return best


@micropython.viper
def v_linear(i: int, hi: int, lo: int, w: ptr16, z: ptr16, x: ptr16, mu: ptr16, mul: ptr16, sh: ptr8,
             bias: ptr32, dec: ptr32, prm: ptr32, out, nout: int) -> int:
    # i, hi, lo (callers pass 0) are the first three locals: the ones viper keeps in registers
    d = int(prm[0])
    rows = int(prm[1])
    osh = int(prm[3])
    lim = int(prm[6])
    top = 1
    top <<= 31
    t30 = 1
    t30 <<= 30
    mx = t30 - 1 + t30
    mn = -mx - 1
    for i in range(d):
        a = (int(x[i]) ^ 0x8000) - 0x8000
        a -= (int(mu[i]) ^ 0x8000) - 0x8000
        if a > 32767:
            a = 32767
        elif a < -32767:
            a = -32767
        s = int(sh[i])
        v = (a * ((int(mul[i]) ^ 0x8000) - 0x8000) + (1 << (s - 1))) >> s
        if v > lim:
            v = lim
        elif v < -lim:
            v = -lim
        z[i] = v
    rnd = 0
    if osh > 0:
        rnd = 1 << (osh - 1)
    j = 0
    best = 0
    bv = 0
    for r in range(rows):
        wr = ptr16(int(w) + j)                  # row r
        hi = 0
        lo = 0
        i = 0
        while i < d:
            p = ((int(wr[i]) ^ 0x8000) - 0x8000) * ((int(z[i]) ^ 0x8000) - 0x8000)
            hi += p >> 15
            lo += p & 0x7FFF
            i += 1
        j += 2 * d
        b = int(bias[r])
        b -= (b & top) << 1
        hi += (b >> 15) + (rnd >> 15)
        lo += (b & 0x7FFF) + (rnd & 0x7FFF)
        hi += lo >> 15
        lo &= 0x7FFF
        if osh >= 15:
            a = hi >> (osh - 15)
        else:
            k = 15 - osh
            if hi > (mx >> k):
                a = mx
            elif hi < (mn >> k):
                a = mn
            else:
                a = (hi << k) + (lo >> osh)
        dec[r] = a
        if r < nout:
            out[r] = a
        if r == 0 or a > bv:
            bv = a
            best = r
    if rows == 1:
        return 1 if bv > 0 else 0
    return best

