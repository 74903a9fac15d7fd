"""Compute a feature vector (int16, scales in ulearn.features.spec) from one window, no allocation.

    fx = Extractor(spec)                # buffers made once; path chosen once
    fx.compute(window, out)             # window: 'h' array, T*C interleaved samples; out: 'h' n_features
    fx.compute(ring.buf, out, ring.offset())   # straight from a Windower, no copy

Paths: 'python' (reference), 'viper' (same integers, compiled loops) and 'ulab' (the whole window
vectorised in float64 by ulab, see _kulab.py: the same integers for the time-domain features, the
spectral ones within 1 LSB on real windows; allocating). Default: from ulearn.backend.NAME
(python -> python; otherwise viper when it compiles here: exact, allocation-free and faster than the
ulab path on the unix port; else ulab when the backend is ulab and computes in float64, e.g. a
CircuitPython build without viper; else python).
"""

from array import array

from ulearn.features import kernels as _kern
from ulearn.features.kernels import isqrt, rms
from ulearn.features.spec import FeatureSpec

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_MEAN = const(0)
_STD = const(1)
_RMS = const(2)
_MIN = const(3)
_MAX = const(4)
_PTP = const(5)
_SKEW = const(6)
_KURT = const(7)
_ZCR = const(8)
_DOM = const(9)
_CENT = const(10)
_BAND = const(11)
_CODES = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")
_DEV_LIMIT = const(1023)     # deviations are shifted right until |x - mean| >> s <= ~1024
_P_LIMIT = const(32768)      # power bins are shifted (by an even amount) below this before summing
_S16 = const(32767)
_BAND_SUM = const(1073741824)  # band sums stay below 2^30


def _viper_path():
    """The ViperPath class (``_kwindow.py``, the one-call viper path); ImportError when viper cannot run here."""
    try:
        from ulearn.features._kwindow import ViperPath
    except (SyntaxError, NameError) as e:  # CPython's `micropython` shim refuses @viper
        raise ImportError("viper is not available here (%s)" % e)
    return ViperPath


def default_path():
    """The feature path that matches the GEMM backend chosen at import (see module docstring)."""
    from ulearn import backend
    if backend.NAME == "python":
        return "python"
    try:
        _viper_path()                      # the module the viper path runs (not the per-stage _kviper)
        return "viper"
    except ImportError:
        pass
    if backend.NAME == "ulab":
        from ulearn.features._kulab import double_precision
        if double_precision():             # the ulab path's exact steps need float64
            return "ulab"
    return "python"


def _sat(v):
    if v > _S16:
        return _S16
    if v < -_S16:
        return -_S16
    return v


class Extractor:
    """Feature extractor for one FeatureSpec; `path` forces 'python', 'viper' or 'ulab'."""

    def __init__(self, spec, path=None):
        if not isinstance(spec, FeatureSpec):
            spec = FeatureSpec(spec)
        self.spec = spec
        self.path = path or default_path()
        stats_path = self.path
        self._ulab = None
        self._viper = None
        if self.path in ("ulab", "viper"):
            stats_path = "python"          # kernels for nothing but the checks; ulab / _kwindow do the work
        (self._sums, self._mom2, self._mom34, self._load, self._fft, self._power,
         self._psums, self._mag) = _kern.kernels(stats_path)
        t = spec.window
        self._codes = bytearray(_CODES.index(f) for f in spec.features)
        need = bytearray(12)
        for c in self._codes:
            need[c] = 1
        self._need34 = need[_SKEW] or need[_KURT]
        self._needfft = need[_DOM] or need[_CENT] or need[_BAND]
        self._res = array("i", bytes(4 * 8))
        self._magbuf = array("h", bytes(2 * t)) if spec.magnitude else None
        n = spec.nfft
        if self._needfft:
            self._re = array("h", bytes(2 * n))
            self._im = array("h", bytes(2 * n))
            self._p = array("i", bytes(4 * (n // 2 + 1)))
            self._cos, self._sin = _kern.twiddles(n)
        self._bands = array("H", [k for b in spec.bands for k in b])
        self._blim = array("i", [_BAND_SUM // (b[1] - b[0]) for b in spec.bands])
        self.n_features = spec.n_features
        if self.path == "ulab":
            from ulearn.features._kulab import UlabPath
            self._ulab = UlabPath(spec, self._codes)
        elif self.path == "viper":
            self._viper = _viper_path()(self)      # the whole window in one viper call

    def info(self):
        """dict: kind, window, axes, n_features, path."""
        s = self.spec
        return {"kind": "feature-spec", "window": s.window, "axes": s.axes, "n_features": s.n_features,
                "path": self.path}

    def quantize(self, samples, out):
        """Float samples (physical units, T*C interleaved) -> 'h' counts in `out` using in_scale.

        Raises ValueError naming the sample for NaN/inf; values beyond int16 saturate to +-32767
        (compute() then refuses the window unless the spec allows saturated samples).
        """
        s = self.spec
        if s.in_scale is None:
            raise ValueError("feature spec has no in_scale: pass int16 counts to compute()")
        c_n = s.axes
        n = s.window * c_n
        if len(samples) != n or len(out) < n:
            raise ValueError("samples: need %d values (window %d x axes %d), got %d"
                             % (n, s.window, c_n, len(samples)))
        scale = s.in_scale
        for i in range(n):
            v = samples[i]
            if v != v or v > 3e38 or v < -3e38:
                raise ValueError("sample %d of axis %d is %r: the sensor returned NaN/inf; check it"
                                 % (i // c_n, i % c_n, v))
            q = int(v * scale[i % c_n] + 0.5 if v >= 0 else v * scale[i % c_n] - 0.5)
            out[i] = q if -_S16 <= q <= _S16 else (_S16 if q > 0 else -_S16)
        return out

    def compute(self, x, out, offset=0):
        """Fill `out` ('h', n_features) from window `x` ('h' samples, T*C from sample `offset`).

        Returns `out`. ValueError when the window has the wrong size or (unless allowed by the
        spec) touches the int16 limits (saturated sensor).
        """
        s = self.spec
        t = s.window
        c_n = s.axes
        if len(x) < (offset + t) * c_n or offset < 0:
            raise ValueError("window: need %d samples x %d axes = %d int16 values from offset %d, got %d"
                             % (t, c_n, t * c_n, offset, len(x)))
        if len(out) < self.n_features:
            raise ValueError("out: need %d int16 values, got %d" % (self.n_features, len(out)))
        if self._ulab is not None:
            return self._ulab.compute(x, out, offset, not s.allow_saturated)
        if self._viper is not None:
            return self._viper.compute(x, out, offset)
        base = offset * c_n
        o = 0
        for c in range(c_n):
            self._channel(x, base + c, c_n, out, o, True)
            o += s.per_channel
        if s.magnitude:
            self._mag(x, base, c_n, s.magnitude, t, self._magbuf)
            self._channel(self._magbuf, 0, 1, out, o, False)
        return out

    predict = compute

    def _channel(self, x, off, stride, out, o, raw):
        s = self.spec
        t = s.window
        res = self._res
        self._sums(x, off, stride, t, res)
        lo = res[1]
        hi = res[2]
        if raw and not s.allow_saturated and (lo <= -_S16 or hi >= _S16):
            raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or in_scale"
                             % ((off % stride) if stride > 1 else 0, lo, hi))
        mean = (2 * res[0] + t) // (2 * t)
        rng = hi - lo
        sh = 0
        while (rng >> sh) > _DEV_LIMIT:
            sh += 1
        self._mom2(x, off, stride, t, mean, sh, res)
        s2 = res[3]
        q = s2 // t
        v4 = (q << 8) + (((s2 - q * t) << 9) + t) // (2 * t)
        sq4 = isqrt(v4)
        std = _sat(((sq4 << sh) + 8) >> 4)
        skew = 0
        kurt = 0
        if self._need34 and sq4 > 0:
            self._mom34(x, off, stride, t, mean, sh, sq4, res)
            skew = _sat((2 * res[5] + t) // (2 * t))
            kurt = _sat((2 * res[6] + t) // (2 * t))
        zc = res[4]
        kmax = 0
        sc = 0
        sl = 0
        if self._needfft:
            big = hi - mean if hi - mean > mean - lo else mean - lo
            if big > 0:                # block floating point: use the int16 range in the FFT
                while (big << (sl + 1)) <= _S16:
                    sl += 1
            kmax = self._spectrum(x, off, stride, mean, sl)
            sc = self._sc - 2 * sl     # power was scaled by 4^sl
        bands = self._bands
        for code in self._codes:
            if code == _MEAN:
                out[o] = mean
            elif code == _STD:
                out[o] = std
            elif code == _RMS:
                out[o] = rms(mean, std)
            elif code == _MIN:
                out[o] = lo
            elif code == _MAX:
                out[o] = hi
            elif code == _PTP:
                out[o] = _sat(rng)
            elif code == _SKEW:
                out[o] = skew
            elif code == _KURT:
                out[o] = kurt
            elif code == _ZCR:
                out[o] = (zc * 65534 + t - 1) // (2 * (t - 1))
            elif code == _DOM:
                out[o] = kmax << 4
            elif code == _CENT:
                self._psums(self._p, 1, s.nfft // 2 + 1, self._sc, res, 1)
                tot = res[0]
                if tot > 0:
                    m = res[1]
                    q = m // tot
                    out[o] = _sat((q << 4) + (((m - q * tot) << 5) + tot) // (2 * tot))
                else:
                    out[o] = 0
            else:  # _BAND
                pmax = self._pmax
                for i in range(0, len(bands), 2):
                    sb = 0             # the band's own shift: sum of (k1-k0) bins below 2^30
                    while (pmax >> sb) >= self._blim[i >> 1]:
                        sb += 2
                    self._psums(self._p, bands[i], bands[i + 1], sb, res, 0)
                    v = isqrt(res[0])
                    net = sb - 2 * sl
                    if net >= 0:
                        v <<= net >> 1
                    else:
                        k = (-net) >> 1
                        v = (v + (1 << (k - 1))) >> k
                    out[o] = _sat(v)
                    o += 1
                continue
            o += 1

    def _spectrum(self, x, off, stride, mean, sl):
        n = self.spec.nfft
        re = self._re
        im = self._im
        self._load(x, off, stride, self.spec.window, mean, re, im, n, sl)
        self._fft(re, im, n, self._cos, self._sin)
        kmax = self._power(re, im, self._p, n // 2 + 1)
        pmax = self._p[kmax]
        self._pmax = pmax
        sc = 0
        while (pmax >> sc) >= _P_LIMIT:
            sc += 2
        self._sc = sc
        return kmax
