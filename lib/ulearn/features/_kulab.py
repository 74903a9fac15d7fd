"""The ulab feature path: the Q15 definitions (ulearn.features.extract/kernels) in float64 ulab.

Every integer step of the definition is reproduced exactly in double precision: the window, its
sums, squares and products are integers below 2^53, and each floor / shift / rounding is done by
adding and subtracting a "magic" constant 1.5 * 2^(52+k), which rounds to a multiple of 2^k in
one in-place pass (no ufunc, no allocation), after an offset that keeps the argument away from a
tie. So mean, std, rms, min, max, ptp, skew, kurt, zcr and the magnitude channel equal the Q15
path exactly. The spectrum is ulab's float FFT (utils.spectrogram) instead of the Q15 FFT, whose
rounding noise cannot be reproduced cheaply: dom, centroid and band follow the same definitions in
float (power = |X / nfft|^2 / 2) and agree within 1 LSB on real windows, except dom on near ties
(tests/test_features_ulab.py); on loud windows the Q15 path's own quantization of the powers makes
band differ by up to ~8 LSB and centroid by 2 (tests/device/test_features_ulab_device.py).

Cost model (measured, docs/svm.md): a ulab call costs ~0.1-0.2 us plus ~0.4 ns per element when
it works in place, ~3 ns per element when it allocates its result (ufuncs, binary operators) and
~2.6 ns per element for dot/sum. So the window lives in preallocated (channels, samples) matrices,
nearly every step is an in-place operator over all channels at once, and row sums are folds
(a[:, :w] += a[:, w:2w], halving w) over zero-padded power-of-two rows, several sums stacked in
one matrix. ulab still allocates small objects (shapes, strides, reductions) on every call, so this
path allocates ~20 KB per window; the Q15 paths allocate nothing.
"""

from ulab import numpy as np
from ulab import utils

from ulearn.features.kernels import rms

_S16 = 32767.0
_M = 6755399441055744.0                    # 1.5 * 2^52: (x + _M) - _M rounds x to an integer
_EPS = 1.0 / 1048576                       # below the distance of sqrt(n) from an integer, n < 2^31


def double_precision():
    """True when ulab computes in float64 here: the exact integer steps need it (a float32 ulab,
    as on most CircuitPython boards, cannot hold the sums; Extractor then uses the Q15 paths)."""
    return np.array([1.0 + 1.0 / 1099511627776])[0] != 1.0


def _k(v):
    return np.full(1, v)                   # a one-element operand: no conversion per operator


def _folds(a, w):
    """(left, right) views that sum the columns of `a` (width 2w, power of two) into column 0."""
    f = []
    while w >= 1:
        f.append((a[:, :w], a[:, w:2 * w]))
        w //= 2
    return f


class UlabPath:
    """Computes every feature of a window for one FeatureSpec with ulab (see the module docstring)."""

    def __init__(self, spec, codes):
        if not double_precision():
            raise ImportError("ulab computes in float32 here: the ulab feature path needs float64 "
                              "(exact integer steps); use path='python' or 'viper'")
        self.spec = spec
        self.codes = codes
        t = spec.window
        c_n = spec.axes
        m = spec.magnitude
        self.ch = ch = c_n + (1 if m else 0)
        need = bytearray(12)
        for c in codes:
            need[c] = 1
        self.need = need
        self.spectral = need[9] or need[10] or need[11]
        self.moments = need[1] or need[2] or need[6] or need[7]
        self.m34 = need[6] or need[7]
        n = spec.nfft if self.spectral else t
        f = 1
        while f < t:
            f *= 2                                     # row width of the sums (zero padded)
        self.mat = np.zeros((ch, n))                   # x, then x - mean; zero padded to nfft
        self.win = self.mat[:, :t] if t < n else self.mat
        self.raw = self.win[:c_n, :] if ch > c_n else self.win
        # x -> its row sums (mean); then the squares of (x - mean) >> sh -> s2; then w; then, when
        # nfft = f, the spectrum (the padding is cleared again after it)
        e = np.zeros((ch, f))
        self.e = e
        self.e_t = e[:, :t]
        self.e_f = _folds(e, f // 2)
        self.s2 = e[:, 0]
        self.e_pad = e[:, t:] if t < f else None
        # rows 0..ch-1: (x - mean) >> sh, then z / 16, then 16 floor(w z / 256);
        # rows ch..2ch-1: 256 floor(w g / 64); zero padded to f columns for the fold
        p = np.zeros((2 * ch, f))
        self.dq = p[:ch, :t]
        self.p_t = p[:, :t]
        self.p4 = p[ch:, :t]
        self.p_f = _folds(p, f // 2)
        self.a34 = p[:, 0]
        self.skew = p[:ch, 0]
        self.kurt = p[ch:, 0]
        self.p_off = np.array([[-8.0 + 1.0 / 32]] * ch + [[-126.0]] * ch)
        self.p_mag = np.array([[16 * _M]] * ch + [[256 * _M]] * ch)
        self.p_scale = np.array([1.0 / (16 * t)] * ch + [1.0 / (256 * t)] * ch)
        self.thr = np.array([[1024.0 * (1 << j) for j in range(7)]])
        self.thw = np.array([float(1 << j) for j in range(7)])
        k = _k
        self.K = (k(_M), k(1.0 / t), k(0.25 / t), k(0.5), k(-0.5 + 1.0 / 512), k(4 * _M), k(_M / 16),
                  k(-0.5 + _EPS), k(256.0 / t), k(1.0 / 32), k(1.0 / 16), k(1.0), k(256.0),
                  k(32767.0 / (t - 1)), k(0.25 / (t - 1)), k(16.0), k(1.0 / 8192))
        if m:
            self.magrow = self.win[c_n, :]
            self.sq = p[:m, :t]                        # (x >> 1)^2 of the first m axes (p is free then)
            self.sqrows = [p[c, :t] for c in range(m)]
        self.out_obj = None
        self.out_view = None
        self.vals = [None] * 12
        if self.spectral:
            nb = n // 2 + 1
            self.spec_m = e if n == f else np.zeros((ch, n))
            self.scratch = np.zeros(2 * n)
            self.rows = [self.mat[c, :] for c in range(ch)]
            self.srows = [self.spec_m[c, :] for c in range(ch)]
            self.half = self.spec_m[:, 1:nb]           # |X_k| then power, k = 1 .. n/2
            self.kk = np.array(range(1, nb))
            self.bands = [self.half[:, b[0] - 1:b[1] - 1] for b in spec.bands]
            self.bscale = (0.5 / (n * n)) ** 0.5       # band = sqrt(sum |X_k|^2 / 2) / n
            b0 = 0
            for c in codes:
                if c == 11:
                    break
                b0 += ch
            self.b0 = b0                                # the band block in the gathered outputs
            self.b1 = b0 + len(spec.bands) * ch

    def compute(self, x, out, offset, check):
        """Features of the window at sample `offset` of `x` ('h', T*C interleaved) into `out` ('h',
        n_features, scales in ulearn.features.spec); ValueError on a saturated axis when `check`."""
        s = self.spec
        t = s.window
        c_n = s.axes
        ch = self.ch
        need = self.need
        KM, KIT, KQT, KH, KW, K4M, KM16, KSQ, K256T, K32, K16, K1, K256, KZ, KZQ, KD, K8192 = self.K
        wt = np.frombuffer(x, dtype=np.int16, offset=2 * offset * c_n, count=t * c_n).reshape((t, c_n)).transpose()
        raw = self.raw
        raw -= raw
        raw += wt
        win = self.win
        m = s.magnitude
        if m:
            # magnitude = 2 isqrt(v), v = sum (x >> 1)^2 (int16 right_shift, squares added in place);
            # isqrt(v) = sqrt(v) - 1/2 + eps rounded, then doubled
            sq = self.sq
            sq -= sq
            sq += np.right_shift(wt[:m, :] if m < c_n else wt, 1)
            sq *= sq
            mr = self.magrow
            mr -= mr
            for r in self.sqrows:
                mr += r
            mr **= 0.5                         # pow(v, 0.5) in place: within an ulp, far below eps
            mr += KSQ
            mr += KM
            mr -= KM
            mr += mr
        lo = np.min(win, axis=1)
        hi = np.max(win, axis=1)
        lmin = np.min(lo)
        hmax = np.max(hi)
        if hmax > _S16 and m and hi[c_n] > _S16:   # the magnitude saturates at 32767 (Q15 path)
            q = np.minimum(mr, _S16)
            mr -= mr
            mr += q
            hi = np.max(win, axis=1)
        if check and (lmin <= -_S16 or hmax >= _S16):
            for c in range(c_n):
                if lo[c] <= -_S16 or hi[c] >= _S16:
                    raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or "
                                     "in_scale" % (c, int(lo[c]), int(hi[c])))
        # mean = (2 sum + t) // 2t = sum / t + 1 / 4t rounded (never a tie)
        st = self.e_t
        st -= st
        st += win
        for a, b in self.e_f:
            a += b
        mean = self.s2 * KIT
        mean += KQT
        mean += KM
        mean -= KM
        win -= mean.reshape((ch, 1))
        rng = hi - lo
        rmax = np.max(rng)
        vals = self.vals
        if self.moments:
            # dq = (x - mean) >> sh = floor(d / 2^sh) = d / 2^sh - 1/2 + 1 / 2^(sh+1) rounded, sh the
            # smallest shift with range >> sh <= 1023 (2^-sh = 1 / (1 + sum of 2^j, thresholds passed))
            dq = self.dq
            dq -= dq
            dq += win
            p2 = None
            if rmax > 1023.0:
                p2 = np.dot(rng.reshape((ch, 1)) >= self.thr, self.thw)
                p2 += K1
                ic = (K1 / p2).reshape((ch, 1))
                dq *= ic
                ic *= KH
                ic -= KH
                dq += ic
                dq += KM
                dq -= KM
            e = self.e_t
            e -= e
            e += dq
            e *= dq
            for a, b in self.e_f:
                a += b
            # v4 = round(256 s2 / t) (half up), sq4 = isqrt(v4), std = ((sq4 << sh) + 8) >> 4
            v4 = self.s2
            v4 *= K256T
            v4 += KQT
            v4 += KM
            v4 -= KM
            sq4 = np.sqrt(v4)
            sq4 += KSQ
            sq4 += KM
            sq4 -= KM
            if p2 is not None:
                std = sq4 * p2
                std *= K16
            else:
                std = sq4 * K16
            std += K32
            std += KM
            std -= KM
            if rmax > 65000.0:                 # std <= range / 2 (+ rounding): only then can it saturate
                std = np.minimum(std, _S16)
            vals[1] = std
            if need[2]:
                # |mean| < 16384 and std <= range / 2 + 1.5 * 2^sh < 16384: no shift in the Q15 rms
                if (lmin > -16384.0 and hmax < 16384.0 and rmax < 32000.0) or (
                        np.max(abs(mean)) < 16384.0 and np.max(std) < 16384.0):
                    r = mean * mean
                    r += std * std
                    r = np.sqrt(r)
                    r += KSQ
                    r += KM
                    r -= KM
                else:
                    r = np.array([rms(int(mean[c]), int(std[c])) for c in range(ch)])
                vals[2] = r
            if self.m34:
                # z = floor(4096 dq / sq4), kept as z / 16: rounded to a multiple of 1/16 by M / 16
                r1 = K256 / np.maximum(sq4, 1.0)
                r2 = r1 * K8192
                r2 -= K32                      # (1 - sq4) / (32 sq4)
                dq *= r1.reshape((ch, 1))
                dq += r2.reshape((ch, 1))
                dq += KM16
                dq -= KM16
                # w = floor(z^2 / 256), a multiple of 1/256 before the rounding
                e -= e
                e += dq
                e *= dq
                e += KW
                e += KM
                e -= KM
                # p3 = w z / 16 (in place of z) and p4 = 4 floor((w + 2) / 4) w, floored to
                # 16 floor(w z / 256) and 256 floor(w g / 64) with one offset and one magic column
                p4 = self.p4
                p4 -= p4
                p4 += e
                p4 += KH
                p4 += K4M
                p4 -= K4M
                p4 *= e
                dq *= e
                pt = self.p_t
                pt += self.p_off
                pt += self.p_mag
                pt -= self.p_mag
                for a, b in self.p_f:
                    a += b
                a34 = self.a34                 # skew = (2 a3 + t) // 2t, kurt the same with a4
                a34 *= self.p_scale
                a34 += KQT
                a34 += KM
                a34 -= KM
                vals[6] = self.skew
                vals[7] = self.kurt
                if np.max(a34) > _S16:         # e.g. kurt of one spike on a tiny variance
                    vals[6] = np.minimum(self.skew, _S16)
                    vals[7] = np.minimum(self.kurt, _S16)
        if need[8]:
            neg = win < 0.0
            zc = np.sum(np.not_equal(neg[:, 1:], neg[:, :-1]), axis=1)
            # zcr = (zc 65534 + t - 1) // 2 (t - 1) = zc 32767 / (t - 1) + 1 / 4 (t - 1), rounded
            z = zc * KZ
            z += KZQ
            z += KM
            z -= KM
            vals[8] = z
        if self.spectral:
            if rmax > _S16:                    # the Q15 FFT input is x - mean clamped to +-32767
                q = np.clip(win, -_S16, _S16)
                win -= win
                win += q
            sc = self.scratch
            srows = self.srows
            c = 0
            for r in self.rows:
                utils.spectrogram(r, out=srows[c], scratchpad=sc)
                c += 1
            p = self.half
            p *= p
            if self.spec_m is self.e and self.e_pad is not None:
                ep = self.e_pad                # the sums need zero padding: clear it after the spectrum
                ep -= ep
            if need[9]:
                dom = np.argmax(p, axis=1) * KD
                dom += KD
                vals[9] = dom
            if need[10]:
                cen = np.dot(p, self.kk)
                cen /= np.maximum(np.sum(p, axis=1), 1e-300)
                cen *= KD
                vals[10] = cen
        vals[0] = mean
        vals[3] = lo
        vals[4] = hi
        vals[5] = rng if rmax <= _S16 else np.minimum(rng, _S16)
        rows = []
        for code in self.codes:
            if code == 11:
                for b in self.bands:
                    rows.append(np.sum(b, axis=1))
            else:
                rows.append(vals[code])
        r = np.concatenate(tuple(rows))
        if need[11]:
            rb = r[self.b0:self.b1]
            rb **= 0.5
            rb *= self.bscale
        # the int16 conversion rounds half away from zero: centroid and band are rounded half up
        # (they are >= 0); every other value is an exact integer already
        if out is not self.out_obj:            # out seen as (features, channels): channel-major int16
            self.out_view = np.frombuffer(out, dtype=np.int16, count=ch * s.per_channel).reshape(
                (ch, s.per_channel)).transpose()
            self.out_obj = out
        self.out_view[:, :] = r.reshape((s.per_channel, ch))
        return out
