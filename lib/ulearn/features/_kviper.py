"""The viper versions of the feature kernels (see ``kernels.py`` for what each computes).

Same integers as the pure-Python reference bit for bit. ptr16/ptr32 loads are zero-extended, so
int16 values are sign-extended by hand. Importing this module fails (ImportError/SyntaxError) where
the viper emitter is missing; ``kernels.kernels('viper')`` turns that into ImportError.
"""

import micropython


@micropython.viper
def v_sums(x: ptr16, off: int, stride: int, n: int, res: ptr32):
    s = 0
    lo = 32767
    hi = -32768
    i = off
    for _ in range(n):
        v = int(x[i])
        if v >= 32768:
            v -= 65536
        s += v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        i += stride
    res[0] = s
    res[1] = lo
    res[2] = hi

@micropython.viper
def v_moments2(x: ptr16, off: int, stride: int, n: int, mean: int, s: int, res: ptr32):
    acc = 0
    zc = 0
    v = int(x[off])
    if v >= 32768:
        v -= 65536
    prev = 1 if v - mean < 0 else 0
    i = off
    for _ in range(n):
        v = int(x[i])
        if v >= 32768:
            v -= 65536
        d = v - mean
        neg = 1 if d < 0 else 0
        if neg != prev:
            zc += 1
        prev = neg
        d >>= s
        acc += d * d
        i += stride
    res[3] = acc
    res[4] = zc

@micropython.viper
def v_moments34(x: ptr16, off: int, stride: int, n: int, mean: int, s: int, sq4: int, res: ptr32):
    a3 = 0
    a4 = 0
    i = off
    for _ in range(n):
        v = int(x[i])
        if v >= 32768:
            v -= 65536
        z = (((v - mean) >> s) << 12) // sq4
        w = (z * z) >> 8
        a3 += (w * z) >> 8
        a4 += (w * ((w + 2) >> 2)) >> 6
        i += stride
    res[5] = a3
    res[6] = a4

@micropython.viper
def v_load(x: ptr16, off: int, stride: int, n: int, mean: int, re: ptr16, im: ptr16, nfft: int, sl: int):
    i = off
    for t in range(n):
        v = int(x[i])
        if v >= 32768:
            v -= 65536
        d = v - mean
        if d > 32767:
            d = 32767
        elif d < -32767:
            d = -32767
        re[t] = d << sl
        im[t] = 0
        i += stride
    for t in range(n, nfft):
        re[t] = 0
        im[t] = 0

@micropython.viper
def v_fft(re: ptr16, im: ptr16, n: int, cos_t: ptr16, sin_t: ptr16):
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            t = re[i]
            re[i] = re[j]
            re[j] = t
            t = im[i]
            im[i] = im[j]
            im[j] = t
    size = 2
    while size <= n:
        half = size >> 1
        step = n // size
        start = 0
        while start < n:
            k = 0
            a = start
            while a < start + half:
                b = a + half
                wr = int(cos_t[k])
                if wr >= 32768:
                    wr -= 65536
                wi = int(sin_t[k])
                if wi >= 32768:
                    wi -= 65536
                xr = int(re[b])
                if xr >= 32768:
                    xr -= 65536
                xi = int(im[b])
                if xi >= 32768:
                    xi -= 65536
                tr = (xr * wr + xi * wi + 16384) >> 15
                ti = (xi * wr - xr * wi + 16384) >> 15
                ur = int(re[a])
                if ur >= 32768:
                    ur -= 65536
                ui = int(im[a])
                if ui >= 32768:
                    ui -= 65536
                re[b] = (ur - tr) >> 1
                im[b] = (ui - ti) >> 1
                re[a] = (ur + tr) >> 1
                im[a] = (ui + ti) >> 1
                k += step
                a += 1
            start += size
        size <<= 1

@micropython.viper
def v_power(re: ptr16, im: ptr16, p: ptr32, nbins: int) -> int:
    best = 1
    top = -1
    for k in range(nbins):
        a = int(re[k])
        if a >= 32768:
            a -= 65536
        b = int(im[k])
        if b >= 32768:
            b -= 65536
        v = ((a * a) >> 1) + ((b * b) >> 1)
        p[k] = v
        if k >= 1 and v > top:
            top = v
            best = k
    return best

@micropython.viper
def v_psums(p: ptr32, k0: int, k1: int, sc: int, res: ptr32, weighted: int):
    s = 0
    m = 0
    for k in range(k0, k1):
        q = int(p[k]) >> sc
        s += q
        if weighted:
            m += k * q
    res[0] = s
    res[1] = m

@micropython.viper
def v_magnitude(x: ptr16, off: int, stride: int, axes: int, n: int, out: ptr16):
    i = off
    for t in range(n):
        acc = 0
        for c in range(axes):
            v = int(x[i + c])
            if v >= 32768:
                v -= 65536
            v >>= 1
            acc += v * v
        r = 0
        bit = 1
        bit <<= 30      # a folded 1 << 30 constant would not be a viper int on 32-bit ports
        while bit > acc:
            bit >>= 2
        while bit:
            if acc >= r + bit:
                acc -= r + bit
                r = (r >> 1) + bit
            else:
                r >>= 1
            bit >>= 2
        r <<= 1
        out[t] = r if r < 32767 else 32767
        i += stride


KERNELS = (v_sums, v_moments2, v_moments34, v_load, v_fft, v_power, v_psums, v_magnitude)
