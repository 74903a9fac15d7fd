"""The ulab feature path: the whole window vectorised in float, rounded to the spec's scales.

Same definitions as the Q15 path (ulearn.features.spec) computed in float over all channels at
once: mean (round half up), population std, rms = sqrt(var + mean^2), skew/kurt = m3/std^3,
m4/std^4 (Q8) about the rounded mean, zero crossings about the rounded mean, the magnitude channel
as the Q15 path makes it (floor sqrt of the sum of (x >> 1)^2, times 2), FFT by ulab of each
mean-removed channel zero-padded to nfft and divided by nfft, power = |X|^2 / 2, dom/centroid
(Q4 bins), band = sqrt(sum of power). Not bit-exact with the Q15 path: the differences on real
windows are bounded in tests/test_features_ulab.py. ulab allocates temporary arrays, so this path
allocates heap on every window (the Q15 paths do not).
"""

from ulab import numpy as np

_S16 = 32767


class UlabPath:
    """Computes every feature of a window for one FeatureSpec with ulab."""

    def __init__(self, spec, codes):
        self.spec = spec
        self.codes = codes
        t = spec.window
        self.ch = spec.axes + (1 if spec.magnitude else 0)
        self.mat = np.zeros((t, self.ch))
        n = spec.nfft
        self.spectral = False
        for c in codes:
            if c >= 9:
                self.spectral = True
        if self.spectral:
            nb = n // 2 + 1
            self.buf = np.zeros(n)
            self.pm = np.zeros((nb - 1, self.ch))       # power of bins 1 .. n/2
            self.kk = np.zeros((nb - 1, 1))
            for k in range(1, nb):
                self.kk[k - 1, 0] = k

    def compute(self, x, out, offset, check):
        s = self.spec
        t = s.window
        c_n = s.axes
        ch = self.ch
        w = np.frombuffer(x, dtype=np.int16, offset=2 * offset * c_n, count=t * c_n).reshape((t, c_n))
        m = self.mat
        m[:, :c_n] = w
        if s.magnitude:
            h = np.floor(m[:, :s.magnitude] * 0.5)
            m[:, c_n] = np.floor(np.sqrt(np.sum(h * h, axis=1))) * 2
            m[:, c_n] = np.minimum(m[:, c_n], _S16)
        lo = np.min(m, axis=0)
        hi = np.max(m, axis=0)
        if check:
            for c in range(c_n):
                if lo[c] <= -_S16 or hi[c] >= _S16:
                    raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or "
                                     "in_scale" % (c, int(lo[c]), int(hi[c])))
        mean = np.floor(np.mean(m, axis=0) + 0.5)
        d = m - mean
        d2 = d * d
        var = np.mean(d2, axis=0)
        m3 = np.mean(d2 * d, axis=0)
        m4 = np.mean(d2 * d2, axis=0)
        neg = np.array(d < 0, dtype=np.float)
        step = neg[1:, :] - neg[:-1, :]
        zc = np.sum(step * step, axis=0)
        if self.spectral:
            n = s.nfft
            nb = n // 2 + 1
            buf = self.buf
            pm = self.pm
            scale = 0.5 / (n * n)
            for c in range(ch):
                buf[:t] = d[:, c]
                if t < n:              # (an empty slice assignment corrupts memory in ulab 6.x)
                    buf[t:] = 0.0
                f = np.fft.fft(buf)
                re = np.real(f)[1:nb]
                im = np.imag(f)[1:nb]
                pm[:, c] = (re * re + im * im) * scale
            dom = np.argmax(pm, axis=0)
            tot = np.sum(pm, axis=0)
            cen = np.sum(pm * self.kk, axis=0)
            bsum = [np.sum(pm[b[0] - 1:b[1] - 1, :], axis=0) for b in s.bands]
        # every feature as a vector over channels, rounded half up, written through an int16 view
        view = np.frombuffer(out, dtype=np.int16, count=ch * s.per_channel).reshape((ch, s.per_channel))
        pos = var > 0
        safe = var + (var <= 0)                # 1 where the channel is constant (then skew = kurt = 0)
        j = 0
        for code in self.codes:
            if code == 0:
                col = mean
            elif code == 1:
                col = np.sqrt(var)
            elif code == 2:
                col = np.sqrt(var + mean * mean)
            elif code == 3:
                col = lo
            elif code == 4:
                col = hi
            elif code == 5:
                col = hi - lo
            elif code == 6:
                col = m3 / (safe * np.sqrt(safe)) * 256 * pos
            elif code == 7:
                col = m4 / (safe * safe) * 256 * pos
            elif code == 8:
                col = np.floor((zc * 65534 + t - 1) / (2 * (t - 1)))
            elif code == 9:
                col = (dom + 1) * 16
            elif code == 10:
                col = cen / (tot + (tot <= 0)) * 16 * (tot > 0)
            else:
                for b in bsum:
                    view[:, j] = np.clip(np.floor(np.sqrt(b) + 0.5), -_S16, _S16)
                    j += 1
                continue
            view[:, j] = np.clip(np.floor(col + 0.5), -_S16, _S16)
            j += 1
        return out
