"""Inner loops of the feature extractor: pure Python and viper, the same integers bit for bit.

The viper versions live in ``_kviper.py`` (imported only when used). Every kernel works
on caller buffers, allocates nothing and keeps every intermediate value within
31 bits (so it stays a small int on 32-bit ports and fits a viper int on ARM), given the bounds the
extractor guarantees: |x| <= 32767 samples ('h'), windows of at most 256 samples, FFT size <= 256.

Channel access is strided over an interleaved window: sample t of channel c is x[off + t*stride].

    sums(x, off, stride, n, res)              res[0]=sum x, res[1]=min, res[2]=max
    moments2(x, off, stride, n, mean, s, res) res[3]=sum ((x-mean)>>s)^2, res[4]=zero crossings
    moments34(x, off, stride, n, mean, s, sq4, res)
                                              z=(((x-mean)>>s)<<12)//sq4 (Q8), w=z*z>>8;
                                              res[5]=sum (w*z)>>8 (Q8), res[6]=sum (w*((w+2)>>2))>>6 (Q8)
    load(x, off, stride, n, mean, re, im, nfft, sl)
                                              re[t]=clamp(x-mean) << sl, zero padded; im=0
    fft(re, im, n, cos_t, sin_t)              in-place Q15 radix-2 DIT FFT, each stage halves (>>1)
    power(re, im, p, nbins)                   p[k]=(re^2>>1)+(im^2>>1); returns argmax k>=1
    psums(p, k0, k1, sc, res, weighted)       res[0]=sum (p>>sc), res[1]=sum k*(p>>sc) (when weighted,
                                              else 0), k in [k0,k1)
    magnitude(x, off, stride, axes, n, out)   out[t]=min(32767, isqrt(sum (x_c>>1)^2) << 1)
"""

import math

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_ROUND15 = const(16384)
_S16_MAX = const(32767)
_RMS_LIMIT = const(16384)    # mean and std are shifted until both are below this before squaring


def isqrt(n):
    """Floor square root of a non-negative int (0 for n <= 0); no allocation for small ints."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def rms(mean, std):
    """The rms feature (int16) of a channel's int mean and std: isqrt(mean^2 + std^2), both first
    shifted right by k until below 16384, then << k, saturated at 32767."""
    am = mean if mean >= 0 else -mean
    big = am if am > std else std
    k = 0
    while (big >> k) >= _RMS_LIMIT:
        k += 1
    a = am >> k
    b = std >> k
    v = isqrt(a * a + b * b) << k
    return v if v < _S16_MAX else _S16_MAX


def twiddles(n):
    """Q15 twiddle tables ('h' arrays of n/2): round(32767*cos(2*pi*k/n)), round(32767*sin(...))."""
    from array import array
    half = n // 2
    c = array("h", bytes(2 * half))
    s = array("h", bytes(2 * half))
    for k in range(half):
        a = 2.0 * math.pi * k / n
        c[k] = int(math.floor(_S16_MAX * math.cos(a) + 0.5))
        s[k] = int(math.floor(_S16_MAX * math.sin(a) + 0.5))
    return c, s


# ---------------------------------------------------------------- pure Python (the reference)

def py_sums(x, off, stride, n, res):
    s = 0
    lo = 32767
    hi = -32768
    i = off
    for _ in range(n):
        v = x[i]
        s += v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        i += stride
    res[0] = s
    res[1] = lo
    res[2] = hi


def py_moments2(x, off, stride, n, mean, s, res):
    acc = 0
    zc = 0
    prev = x[off] - mean < 0
    i = off
    for _ in range(n):
        d = x[i] - mean
        neg = d < 0
        if neg != prev:
            zc += 1
        prev = neg
        d >>= s
        acc += d * d
        i += stride
    res[3] = acc
    res[4] = zc


def py_moments34(x, off, stride, n, mean, s, sq4, res):
    a3 = 0
    a4 = 0
    i = off
    for _ in range(n):
        z = (((x[i] - mean) >> s) << 12) // sq4
        w = (z * z) >> 8
        a3 += (w * z) >> 8
        a4 += (w * ((w + 2) >> 2)) >> 6
        i += stride
    res[5] = a3
    res[6] = a4


def py_load(x, off, stride, n, mean, re, im, nfft, sl):
    i = off
    for t in range(n):
        d = x[i] - mean
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


def py_fft(re, im, n, cos_t, sin_t):
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
        while start < n:   # `range` with a variable step would allocate an object
            k = 0
            for a in range(start, start + half):
                b = a + half
                wr = cos_t[k]
                wi = sin_t[k]
                xr = re[b]
                xi = im[b]
                tr = (xr * wr + xi * wi + _ROUND15) >> 15
                ti = (xi * wr - xr * wi + _ROUND15) >> 15
                ur = re[a]
                ui = im[a]
                re[b] = (ur - tr) >> 1
                im[b] = (ui - ti) >> 1
                re[a] = (ur + tr) >> 1
                im[a] = (ui + ti) >> 1
                k += step
            start += size
        size <<= 1


def py_power(re, im, p, nbins):
    best = 1
    top = -1
    for k in range(nbins):
        a = re[k]
        b = im[k]
        v = ((a * a) >> 1) + ((b * b) >> 1)
        p[k] = v
        if k >= 1 and v > top:
            top = v
            best = k
    return best


def py_psums(p, k0, k1, sc, res, weighted):
    s = 0
    m = 0
    for k in range(k0, k1):
        q = p[k] >> sc
        s += q
        if weighted:
            m += k * q
    res[0] = s
    res[1] = m


def py_magnitude(x, off, stride, axes, n, out):
    i = off
    for t in range(n):
        acc = 0
        for c in range(axes):
            v = x[i + c] >> 1
            acc += v * v
        r = isqrt(acc) << 1
        out[t] = r if r < 32767 else 32767
        i += stride


PYTHON = (py_sums, py_moments2, py_moments34, py_load, py_fft, py_power, py_psums, py_magnitude)


def kernels(path):
    """The kernel tuple of `path` ('python' or 'viper'); ImportError when viper cannot run here."""
    if path == "python":
        return PYTHON
    if path == "viper":
        try:
            from ulearn.features import _kviper
        except (SyntaxError, NameError) as e:  # CPython's `micropython` shim refuses @viper
            raise ImportError("viper is not available here (%s)" % e)
        return _kviper.KERNELS
    raise ValueError("unknown feature path %r: choose 'python', 'viper' or 'ulab'" % (path,))
