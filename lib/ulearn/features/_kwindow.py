"""The viper feature path: every feature of a window in one viper call (used by Extractor(path='viper')).

Same integers as the pure-Python reference (``kernels.py`` + ``Extractor._channel``) bit for bit,
on 64-bit and 32-bit viper words. Kept apart from ``_kviper.py`` (the per-stage viper kernels,
``kernels.kernels('viper')``) so that a board running this path holds only this code.
"""

from array import array

import micropython


# v_window computes every feature of every channel (and the magnitude channel) of one window with
# the same integers as Extractor._channel + the kernels of kernels.py, in one viper call: no Python
# code runs per channel. Int16 loads are sign-extended without a branch ((v ^ 0x8000) - 0x8000),
# the FFT input is written in bit-reversed order while the deviations are summed (so the FFT has no
# swap pass), the first two FFT stages see im = 0 and are specialised (the second one writes im, so
# it is never cleared), the other stages run twiddle-major (each twiddle loaded once per stage),
# square roots are digit by digit without data-dependent branches (magnitude: Newton, see there).
# prm ('i') layout:
#   0 T, 1 axes, 2 magnitude axes, 3 nfft, 4 check saturation, 5 need skew/kurt, 6 need FFT,
#   7 n codes, 8 n bands, 9 unused, then the codes, 2 * n bands bin edges, n bands band limits,
#   nfft bit-reversed positions.

@micropython.viper
def v_window(re: ptr16, im: ptr16, a: int, x: ptr16, base: int, out: ptr16, prm: ptr32, p: ptr32,
             cs: ptr16, sn: ptr16, mag: ptr16, wk: ptr32) -> int:
    # re, im and a (callers pass 0) are the first three locals, the ones viper keeps in registers:
    # the FFT butterflies use them most
    t = int(prm[0])
    cn = int(prm[1])
    ma = int(prm[2])
    nfft = int(prm[3])
    check = int(prm[4])
    need34 = int(prm[5])
    needfft = int(prm[6])
    ncodes = int(prm[7])
    nb = int(prm[8])
    cb = 10
    bb = cb + ncodes
    lb = bb + 2 * nb
    rb = lb + nb
    top = 1
    top <<= 30          # a folded 1 << 30 constant would not be a viper int on 32-bit ports
    nch = cn
    if ma:
        nch += 1
    t2 = 2 * t
    o = 0
    for ch in range(nch):
        src = x
        off = base + ch
        stride = cn
        if ch == cn:                                    # the magnitude channel
            # floor sqrt by Newton's method started from the previous sample's root: for any start
            # y0 >= 1, y1 = (y0 + acc // y0) >> 1 >= isqrt(acc), and from above the iteration falls to
            # isqrt(acc) and stops there (the next value is not smaller). Neighbouring samples have
            # close magnitudes, so this takes ~1-2 divisions (~2x faster than digit by digit here).
            i = base
            r = 1
            for tt in range(t):
                acc = 0
                for c in range(ma):
                    v = ((int(x[i + c]) ^ 0x8000) - 0x8000) >> 1
                    acc += v * v
                if acc > 0:
                    if r < 1:
                        r = 1
                    r = (r + acc // r) >> 1
                    q = (r + acc // r) >> 1
                    while q < r:
                        r = q
                        q = (r + acc // r) >> 1
                else:
                    r = 0
                v = r << 1
                mag[tt] = v if v < 32767 else 32767
                i += cn
            src = mag
            off = 0
            stride = 1
        # pass 1: sum, min, max
        s = 0
        lo = 32767
        hi = -32768
        i = off
        end = off + t * stride
        while i < end:                                  # (while loops are cheaper than range() in viper)
            v = (int(src[i]) ^ 0x8000) - 0x8000
            s += v
            if v < lo:
                lo = v
            if v > hi:
                hi = v
            i += stride
        if check and ch < cn and (lo <= -32767 or hi >= 32767):
            wk[0] = ch
            wk[1] = lo
            wk[2] = hi
            return 1
        mean = (2 * s + t) // t2
        rng = hi - lo
        sh = 0
        while (rng >> sh) > 1023:
            sh += 1
        sl = 0
        if needfft:
            big = hi - mean
            if mean - lo > big:
                big = mean - lo
            if big > 0:
                while (big << (sl + 1)) <= 32767:
                    sl += 1
        # pass 2: sum of squared deviations, zero crossings, FFT input (bit-reversed order)
        acc = 0
        zc = 0
        prev = ((int(src[off]) ^ 0x8000) - 0x8000 - mean) >> 31
        i = off
        tt = 0
        while tt < t:
            d = (int(src[i]) ^ 0x8000) - 0x8000 - mean
            ng = d >> 31
            zc += (ng ^ prev) & 1
            prev = ng
            if needfft:
                e = d
                if e > 32767:
                    e = 32767
                elif e < -32767:
                    e = -32767
                re[int(prm[rb + tt])] = e << sl
            d >>= sh
            acc += d * d
            i += stride
            tt += 1
        q = acc // t
        v = (q << 8) + (((acc - q * t) << 9) + t) // t2
        sq4 = 0
        bit = top
        while bit > v:
            bit >>= 2
        while bit:
            q = v - sq4 - bit
            ng = q >> 31
            v = q + ((sq4 + bit) & ng)
            sq4 = (sq4 >> 1) + bit - (bit & ng)
            bit >>= 2
        std = ((sq4 << sh) + 8) >> 4
        if std > 32767:
            std = 32767
        skew = 0
        kurt = 0
        if need34 and sq4 > 0:
            a3 = 0
            a4 = 0
            i = off
            while i < end:
                z = ((((int(src[i]) ^ 0x8000) - 0x8000 - mean) >> sh) << 12) // sq4
                w = (z * z) >> 8
                a3 += (w * z) >> 8
                a4 += (w * ((w + 2) >> 2)) >> 6
                i += stride
            skew = (2 * a3 + t) // t2
            if skew > 32767:
                skew = 32767
            elif skew < -32767:
                skew = -32767
            kurt = (2 * a4 + t) // t2
            if kurt > 32767:
                kurt = 32767
            elif kurt < -32767:
                kurt = -32767
        kmax = 0
        pmax = 0
        sc = 0
        if needfft:
            for tt in range(t, nfft):
                re[int(prm[rb + tt])] = 0
            # stage 1: im is 0 and the twiddle is (cs[0], sn[0] = 0), so im stays 0 (ti rounds to 0):
            # the real parts alone
            wr = (int(cs[0]) ^ 0x8000) - 0x8000
            a = 0
            while a < nfft:
                xr = (int(re[a + 1]) ^ 0x8000) - 0x8000
                tr = (xr * wr + 16384) >> 15
                ur = (int(re[a]) ^ 0x8000) - 0x8000
                re[a + 1] = (ur - tr) >> 1
                re[a] = (ur + tr) >> 1
                a += 2
            # stage 2: im is still 0 on input (xi = ui = 0); every position is written, so im needs
            # no clearing before the FFT
            step = nfft >> 2
            for jj in range(2):
                wr = (int(cs[jj * step]) ^ 0x8000) - 0x8000
                wi = (int(sn[jj * step]) ^ 0x8000) - 0x8000
                a = jj
                while a < nfft:
                    xr = (int(re[a + 2]) ^ 0x8000) - 0x8000
                    tr = (xr * wr + 16384) >> 15
                    ti = (16384 - xr * wi) >> 15
                    ur = (int(re[a]) ^ 0x8000) - 0x8000
                    re[a + 2] = (ur - tr) >> 1
                    im[a + 2] = (-ti) >> 1
                    re[a] = (ur + tr) >> 1
                    im[a] = ti >> 1
                    a += 4
            half = 4
            step = nfft >> 3
            while half < nfft:
                size = half << 1
                k = 0
                for jj in range(half):
                    wr = (int(cs[k]) ^ 0x8000) - 0x8000
                    wi = (int(sn[k]) ^ 0x8000) - 0x8000
                    a = jj
                    while a < nfft:
                        b = a + half
                        xr = (int(re[b]) ^ 0x8000) - 0x8000
                        xi = (int(im[b]) ^ 0x8000) - 0x8000
                        tr = (xr * wr + xi * wi + 16384) >> 15
                        ti = (xi * wr - xr * wi + 16384) >> 15
                        ur = (int(re[a]) ^ 0x8000) - 0x8000
                        ui = (int(im[a]) ^ 0x8000) - 0x8000
                        re[b] = (ur - tr) >> 1
                        im[b] = (ui - ti) >> 1
                        re[a] = (ur + tr) >> 1
                        im[a] = (ui + ti) >> 1
                        a += size
                    k += step
                half = size
                step >>= 1
            nbins = (nfft >> 1) + 1
            a = (int(re[0]) ^ 0x8000) - 0x8000
            b = (int(im[0]) ^ 0x8000) - 0x8000
            p[0] = ((a * a) >> 1) + ((b * b) >> 1)
            kmax = 1
            pmax = -1
            for kk in range(1, nbins):
                a = (int(re[kk]) ^ 0x8000) - 0x8000
                b = (int(im[kk]) ^ 0x8000) - 0x8000
                v = ((a * a) >> 1) + ((b * b) >> 1)
                p[kk] = v
                if v > pmax:
                    pmax = v
                    kmax = kk
            while (pmax >> sc) >= 32768:
                sc += 2
        for ci in range(ncodes):
            code = int(prm[cb + ci])
            if code == 0:
                out[o] = mean
            elif code == 1:
                out[o] = std
            elif code == 2:
                am = mean if mean >= 0 else -mean
                big = am if am > std else std
                k = 0
                while (big >> k) >= 16384:
                    k += 1
                a = am >> k
                b = std >> k
                v = a * a + b * b
                r = 0
                bit = top
                while bit > v:
                    bit >>= 2
                while bit:
                    q = v - r - bit
                    ng = q >> 31
                    v = q + ((r + bit) & ng)
                    r = (r >> 1) + bit - (bit & ng)
                    bit >>= 2
                r <<= k
                out[o] = r if r < 32767 else 32767
            elif code == 3:
                out[o] = lo
            elif code == 4:
                out[o] = hi
            elif code == 5:
                out[o] = rng if rng < 32767 else 32767
            elif code == 6:
                out[o] = skew
            elif code == 7:
                out[o] = kurt
            elif code == 8:
                out[o] = (zc * 65534 + t - 1) // (2 * (t - 1))
            elif code == 9:
                out[o] = kmax << 4
            elif code == 10:
                tot = 0
                m = 0
                for kk in range(1, (nfft >> 1) + 1):
                    q = int(p[kk]) >> sc
                    tot += q
                    m += kk * q
                if tot > 0:
                    q = m // tot
                    v = (q << 4) + (((m - q * tot) << 5) + tot) // (2 * tot)
                    out[o] = v if v < 32767 else 32767
                else:
                    out[o] = 0
            else:                                       # bands
                for bi in range(nb):
                    sb = 0
                    lim = int(prm[lb + bi])
                    while (pmax >> sb) >= lim:
                        sb += 2
                    v = 0
                    for kk in range(int(prm[bb + 2 * bi]), int(prm[bb + 2 * bi + 1])):
                        v += int(p[kk]) >> sb
                    r = 0
                    bit = top
                    while bit > v:
                        bit >>= 2
                    while bit:
                        q = v - r - bit
                        ng = q >> 31
                        v = q + ((r + bit) & ng)
                        r = (r >> 1) + bit - (bit & ng)
                        bit >>= 2
                    net = sb - 2 * sl
                    if net >= 0:
                        r <<= net >> 1
                    else:
                        k = (-net) >> 1
                        r = (r + (1 << (k - 1))) >> k
                    out[o] = r if r < 32767 else 32767
                    o += 1
                continue
            o += 1
    return 0


class ViperPath:
    """Every feature of a window in one viper call, for an Extractor (its buffers are reused)."""

    def __init__(self, fx):
        s = fx.spec
        n = s.nfft if fx._needfft else 0
        head = [s.window, s.axes, s.magnitude, n, 0 if s.allow_saturated else 1, 1 if fx._need34 else 0,
                1 if fx._needfft else 0, len(fx._codes), len(s.bands), 0]
        rev = []
        bits = 0
        while (1 << bits) < n:
            bits += 1
        for i in range(n):
            r = 0
            for b in range(bits):
                r |= ((i >> b) & 1) << (bits - 1 - b)
            rev.append(r)
        self.prm = array("i", head + list(fx._codes) + list(fx._bands) + list(fx._blim) + rev)
        self.wk = array("i", bytes(4 * 4))
        self.fx = fx
        one = array("h", bytes(2))
        one32 = array("i", bytes(4))
        self.bufs = (fx._re if n else one, fx._im if n else one, fx._p if n else one32,
                     fx._cos if n else one, fx._sin if n else one, fx._magbuf if s.magnitude else one)

    def compute(self, x, out, offset):
        """Fill `out` ('h') from the window at sample `offset` of `x` ('h'; sizes checked by the caller).

        ValueError when an axis touches +-32767 (unless the spec allows saturated samples)."""
        re, im, p, cs, sn, mag = self.bufs
        if v_window(re, im, 0, x, offset * self.fx.spec.axes, out, self.prm, p, cs, sn, mag, self.wk):
            w = self.wk
            raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or in_scale"
                             % (w[0], w[1], w[2]))
        return out
