"""The ulab feature path: whole-window vectorised float arithmetic, rounded to the spec's scales.

Same definitions as the Q15 path (ulearn.features.spec) computed in float: mean (round half up),
population std, rms = sqrt(mean x^2), skew/kurt = m3/std^3, m4/std^4 (Q8) about the rounded
mean, zero crossings about the rounded mean, FFT by ulab of the mean-removed window zero-padded
to nfft and divided by nfft, power = |X|^2 / 2, dom/centroid (Q4 bins), band = sqrt(sum power).
Not bit-exact with the Q15 path: measured differences on real windows are printed by
`ulearn bench features` and bounded in tests/test_features_ulab.py. ulab allocates temporary
arrays, so this path does allocate heap per window (the Q15 paths do not).
"""

from ulab import numpy as np

_S16 = 32767


def _r(v):
    """Round half up to int, saturated to int16."""
    i = int(v + 0.5) if v >= 0 else -int(-v + 0.5)
    if i > _S16:
        return _S16
    if i < -_S16:
        return -_S16
    return i


class UlabPath:
    """Computes every feature of a window for one FeatureSpec with ulab."""

    def __init__(self, spec, codes):
        self.spec = spec
        self.codes = codes
        n = spec.nfft
        self.buf = np.zeros(n) if n else None
        self.kk = np.arange(n // 2 + 1) if n else None

    def compute(self, x, out, offset, need_sat_check):
        s = self.spec
        t = s.window
        c_n = s.axes
        w = np.frombuffer(x, dtype=np.int16, offset=2 * offset * c_n, count=t * c_n).reshape((t, c_n))
        xf = np.array(w, dtype=np.float)
        o = 0
        for c in range(c_n):
            o = self._channel(xf[:, c], out, o, need_sat_check, c)
        if s.magnitude:
            acc = None
            for c in range(s.magnitude):      # the Q15 path's (x >> 1)^2 summed, floor sqrt, << 1
                h = np.floor(xf[:, c] * 0.5)
                acc = h * h if acc is None else acc + h * h
            mag = np.floor(np.sqrt(acc)) * 2
            o = self._channel(np.minimum(mag, _S16), out, o, False, -1)
        return out

    def _channel(self, v, out, o, check, axis):
        s = self.spec
        t = s.window
        lo = int(np.min(v))
        hi = int(np.max(v))
        if check and (lo <= -_S16 or hi >= _S16):
            raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or in_scale"
                             % (axis, lo, hi))
        mean = _r(np.mean(v))
        d = v - mean
        var = np.mean(d * d)
        std = var ** 0.5
        d2 = d * d
        skew = _r(np.mean(d2 * d) / std ** 3 * 256) if std > 0 else 0
        kurt = _r(np.mean(d2 * d2) / var ** 2 * 256) if std > 0 else 0
        neg = d < 0
        zc = int(np.sum(neg[1:] != neg[:-1]))
        kmax = 0
        cent = 0
        p = None
        if self.buf is not None:
            n = s.nfft
            nb = n // 2 + 1
            buf = self.buf
            buf[:t] = d
            if t < n:                 # (an empty slice assignment corrupts memory in ulab 6.x)
                buf[t:] = 0.0
            f = np.fft.fft(buf)
            re = np.real(f)[:nb] / n
            im = np.imag(f)[:nb] / n
            p = (re * re + im * im) * 0.5
            kmax = int(np.argmax(p[1:])) + 1
            tot = np.sum(p[1:])
            cent = _r(np.sum(p[1:] * self.kk[1:]) / tot * 16) if tot > 0 else 0
        for code in self.codes:
            if code == 0:
                out[o] = mean
            elif code == 1:
                out[o] = _r(std)
            elif code == 2:
                out[o] = _r((var + mean * mean) ** 0.5)
            elif code == 3:
                out[o] = lo
            elif code == 4:
                out[o] = hi
            elif code == 5:
                out[o] = min(hi - lo, _S16)
            elif code == 6:
                out[o] = skew
            elif code == 7:
                out[o] = kurt
            elif code == 8:
                out[o] = (zc * 65534 + t - 1) // (2 * (t - 1))
            elif code == 9:
                out[o] = kmax << 4
            elif code == 10:
                out[o] = cent
            else:
                for b in s.bands:
                    out[o] = _r(np.sum(p[b[0]:b[1]]) ** 0.5)
                    o += 1
                continue
            o += 1
        return o
