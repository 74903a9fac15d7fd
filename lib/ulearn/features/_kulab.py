"""The ulab feature path: the whole window vectorised in float, rounded to the spec's scales.

Same definitions as the Q15 path (ulearn.features.spec) computed in float over all channels at
once: mean (round half up), population std, rms = sqrt(var + mean^2), skew/kurt = m3/std^3,
m4/std^4 (Q8) about the rounded mean, zero crossings about the rounded mean, the magnitude channel
as the Q15 path makes it (floor sqrt of the sum of (x >> 1)^2, times 2), |FFT| by
ulab.utils.spectrogram of each mean-removed channel zero-padded to nfft, power = |X / nfft|^2 / 2,
dom/centroid (Q4 bins), band = sqrt(sum of power). Not bit-exact with the Q15 path: the differences
on real windows are bounded in tests/test_features_ulab.py.

Speed: ulab costs a fixed ~0.2 us per call plus a few ns per element, so the window lives in one
preallocated (channels, nfft) float matrix (channel-major, zero padded) filled and mean-removed in
place, every statistic is one call over all channels, the FFT magnitudes go straight into
preallocated rows (spectrogram with out= and a scratchpad), and the outputs are gathered with one
concatenate and written with one slice assignment. ulab still allocates the results of its
operations, so this path allocates heap on every window (the Q15 paths do not).
"""

from ulab import numpy as np
from ulab import utils

_S16 = 32767


class UlabPath:
    """Computes every feature of a window for one FeatureSpec with ulab."""

    def __init__(self, spec, codes):
        self.spec = spec
        self.codes = codes
        t = spec.window
        c_n = spec.axes
        self.ch = ch = c_n + (1 if spec.magnitude else 0)
        need = bytearray(12)
        for c in codes:
            need[c] = 1
        self.need = need
        self.spectral = need[9] or need[10] or need[11]
        n = spec.nfft if self.spectral else t
        self.mat = np.zeros((ch, n))                   # channel rows, zero padded to nfft
        self.win = self.mat[:, :t] if t < n else self.mat
        self.raw = self.win[:c_n, :] if ch > c_n else self.win
        self.pw = np.zeros((ch, t))                    # powers of the deviations, in place
        self.ones = np.ones(t)
        self.tf = float(t)
        # per output (feature-major, channel-minor): final = floor(row * rmul / rdiv + radd)
        # band = sqrt(sum |X_k|^2 * scale), scale = 0.5 / n^2 (power = |X / n|^2 / 2)
        mul = {6: 256.0, 7: 256.0, 8: 32767.0, 9: 16.0, 10: 16.0, 11: (0.5 / (n * n)) ** 0.5}
        div = {6: float(t), 7: float(t), 8: float(t - 1)}
        add = {9: 16.5}
        rm = []
        rd = []
        ra = []
        for code in codes:
            k = len(spec.bands) if code == 11 else 1
            rm.extend([mul.get(code, 1.0)] * (k * ch))
            rd.extend([div.get(code, 1.0)] * (k * ch))
            ra.extend([add.get(code, 0.5)] * (k * ch))
        self.rmul = np.array(rm)
        self.rdiv = np.array(rd)
        self.radd = np.array(ra)
        self.out_obj = None
        self.out_view = None
        self.vals = [None] * 11
        m = spec.magnitude
        if m:
            self.magrow = self.win[c_n, :]
            self.sq = np.zeros((m, t))                 # (x >> 1)^2 of the first m axes
            self.sqrows = [self.sq[c, :] for c in range(m)]
        if self.spectral:
            nb = n // 2 + 1
            self.spec_m = np.zeros((ch, n))
            self.scratch = np.zeros(2 * n)
            self.rows = [self.mat[c, :] for c in range(ch)]
            self.srows = [self.spec_m[c, :] for c in range(ch)]
            self.half = self.spec_m[:, 1:nb]            # |X_k| then power, k = 1 .. n/2
            self.kk = np.array(range(1, nb))
            self.bands = [(k[0] - 1, k[1] - 1) for k in spec.bands]   # power columns of each band
            # the band block in the concatenated outputs (its rows get ** 0.5 in place)
            self.b0 = 0
            for c in codes:
                if c == 11:
                    break
                self.b0 += ch
            self.b1 = self.b0 + len(spec.bands) * ch

    def compute(self, x, out, offset, check):
        """Features of the window at sample `offset` of `x` ('h', T*C interleaved) into `out` ('h',
        n_features, scales in ulearn.features.spec); ValueError on a saturated axis when `check`."""
        s = self.spec
        t = s.window
        c_n = s.axes
        tf = self.tf
        need = self.need
        wt = np.frombuffer(x, dtype=np.int16, offset=2 * offset * c_n, count=t * c_n).reshape((t, c_n)).transpose()
        raw = self.raw
        raw -= raw                             # (x -= x zeroes without the scalar a `*= 0` allocates)
        raw += wt
        win = self.win
        m = s.magnitude
        if m:
            sq = self.sq
            sq -= sq
            sq += np.right_shift(wt[:m, :] if m < c_n else wt, 1)
            sq *= sq
            mr = self.magrow
            mr -= mr
            for r in self.sqrows:
                mr += r
            q = np.floor(np.sqrt(mr))
            mr -= mr
            mr += q
            mr += q
        lo = np.min(win, axis=1)
        hi = np.max(win, axis=1)
        if m and hi[c_n] > _S16:               # the magnitude saturates at 32767, as in the Q15 path
            q = np.minimum(mr, 32767.0)
            mr -= mr
            mr += q
            hi = np.max(win, axis=1)
        if check and (np.min(lo) <= -_S16 or np.max(hi[:c_n] if m else hi) >= _S16):
            for c in range(c_n):
                if lo[c] <= -_S16 or hi[c] >= _S16:
                    raise ValueError("window: axis %d is saturated (%d..%d); lower the sensor gain or "
                                     "in_scale" % (c, int(lo[c]), int(hi[c])))
        ones = self.ones
        mean = np.floor(np.dot(win, ones) / tf + 0.5)
        win -= mean.reshape((self.ch, 1))
        pw = self.pw
        pw -= pw
        pw += win
        pw *= win
        var = np.dot(pw, ones) / tf
        # a constant channel has var = 0 and every deviation 0: skew = kurt = 0 / tiny = 0 (var is
        # 0 or >= 1/t, so the tiny term changes nothing else)
        var += 1e-100
        std = np.sqrt(var)
        if need[6] or need[7]:
            pw *= win
            if need[6]:
                skew = np.dot(pw, ones) / (var * std)          # times 256 / t at the end
            if need[7]:
                pw *= win
                kurt = np.dot(pw, ones) / (var * var)
        if need[8]:
            neg = win < 0.0
            zc = np.sum(np.not_equal(neg[:, 1:], neg[:, :-1]), axis=1)   # times 32767 / (t - 1) at the end
        if self.spectral:
            sc = self.scratch
            srows = self.srows
            c = 0
            for r in self.rows:
                utils.spectrogram(r, out=srows[c], scratchpad=sc)
                c += 1
            p = self.half
            p *= p
            if need[9]:
                dom = np.argmax(p, axis=1)                         # (k - 1) * 16 + 16 at the end
            if need[10]:
                cen = np.dot(p, self.kk) / np.maximum(np.sum(p, axis=1), 1e-300)   # times 16 at the end
            if need[11]:
                bands = [np.sum(p[:, k[0]:k[1]], axis=1) for k in self.bands]
        vals = self.vals                       # this window's rows by feature code
        vals[0] = mean
        vals[1] = std
        vals[3] = lo
        vals[4] = hi
        if need[2]:
            vals[2] = np.sqrt(var + mean * mean)
        if need[5]:
            vals[5] = hi - lo
        if need[6]:
            vals[6] = skew
        if need[7]:
            vals[7] = kurt
        if need[8]:
            vals[8] = np.array(zc, dtype=np.float)
        if need[9]:
            vals[9] = np.array(dom, dtype=np.float)
        if need[10]:
            vals[10] = cen
        rows = []
        for code in self.codes:
            if code == 11:
                rows.extend(bands)
            else:
                rows.append(vals[code])
        # each row times its scale, over its divisor (exact for zcr), plus 0.5 (16.5 for dom), floored
        r = np.concatenate(tuple(rows))
        if need[11]:
            rb = r[self.b0:self.b1]
            rb **= 0.5                         # sqrt of each band's power sum, in place
        r *= self.rmul
        r /= self.rdiv
        r += self.radd
        r = np.clip(np.floor(r), -32767.0, 32767.0).reshape((s.per_channel, self.ch)).transpose()
        if out is not self.out_obj:
            self.out_view = np.frombuffer(out, dtype=np.int16, count=self.ch * s.per_channel).reshape(
                (self.ch, s.per_channel))
            self.out_obj = out
        self.out_view[:, :] = r
        return out
