"""The viper versions of the SVM kernels in ``qmath.py`` (same integers, see there).

ptr16/ptr32 loads are zero-extended on 64-bit hosts: int16 values are sign-extended by hand and
int32 values with ``v - ((v & (1 << 31)) << 1)``, which is a no-op where viper ints are 32-bit.
"""

import micropython


@micropython.viper
def v_norm(x: ptr16, mu: ptr16, mul: ptr16, sh: ptr8, z: ptr16, n: int, lim: int):
    for i in range(n):
        a = int(x[i])
        if a >= 32768:
            a -= 65536
        m = int(mu[i])
        if m >= 32768:
            m -= 65536
        d = a - m
        if d > 32767:
            d = 32767
        elif d < -32767:
            d = -32767
        k = int(mul[i])
        if k >= 32768:
            k -= 65536
        s = int(sh[i])
        v = (d * k + (1 << (s - 1))) >> s
        if v > lim:
            v = lim
        elif v < -lim:
            v = -lim
        z[i] = v


@micropython.viper
def v_kstage(d: ptr32, svn: ptr32, zn: int, ks: ptr16, n: int, zq: int, ftab: ptr16, etab: ptr16):
    top = 1
    top <<= 31          # runtime shift: a folded constant would be a big-int object
    lo = zq - 6
    mask = (1 << lo) - 1
    for i in range(n):
        a = int(d[i])
        a -= (a & top) << 1
        b = int(svn[i])
        b -= (b & top) << 1
        u = zn + b - 2 * a
        if u < 0:
            u = 0
        k = u >> zq
        if k >= 12:
            ks[i] = 0
            continue
        j = (u >> lo) & 63
        f0 = int(ftab[j])
        fr = f0 + (((int(ftab[j + 1]) - f0) * (u & mask)) >> lo)
        ks[i] = (int(etab[k]) * fr + 16384) >> 15


@micropython.viper
def v_rffcos(ph: ptr32, phi: ptr16, n: int, ctab: ptr16):
    for r in range(n):
        p = int(ph[r]) & 0xFFFF
        i = p >> 6
        a = int(ctab[i])
        if a >= 32768:
            a -= 65536
        b = int(ctab[i + 1])
        if b >= 32768:
            b -= 65536
        phi[r] = a + (((b - a) * (p & 63)) >> 6)


KERNELS = (v_norm, v_kstage, v_rffcos)
