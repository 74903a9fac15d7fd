"""In-situ training on the device, one window at a time, in memory fixed when the trainer is made.

    t = OneClassTrainer(n_features=60, spec=spec)     # normal windows only
    for f in normal_features: t.observe(f)            # pass 1: feature mean/std (Welford)
    t.freeze()                                        # fixes the fixed-point normalization
    for epoch ...: for f in normal_features: t.partial_fit(f)
    m = t.model(); m.save("/flash/oc.ulb")

    t = LinearTrainer(n_features=60, classes=["a", "b", "c"])  # Pegasos, one-vs-rest
    ... t.observe(f); t.freeze(); t.partial_fit(f, y) ...

`partial_fit` before `freeze` feeds the scaler and freezes by itself after `warmup` windows, so a
single pass over a stream also works. Features go through the model's own fixed-point
normalization (and, for the one-class model, its fixed-point random Fourier features), so the
weights are learned on exactly what inference computes. Floats are used for the SGD state only.

One-class model: nu-one-class SVM on R random Fourier features (Rahimi & Recht), phi_r =
cos(2 pi (w_r . z + b_r)), w_r ~ N(0, 2 gamma / (2 pi)^2) in turns, b_r ~ U[0, 1); trained by
Pegasos-style SGD on nu/2 |w|^2 - nu rho + max(0, rho - w.phi) with step 1/(nu t) and Polyak
averaging. Memory: R x D int16 frequencies + 4 R floats, independent of the number of windows.
Linear model: Pegasos (lambda/2 |w|^2 + hinge, step 1/(lambda t)), bias as a constant feature,
averaged iterates. See docs/svm.md for why these two.
"""

import math
from array import array

from ulearn import backend
from ulearn.blob import KIND_LINEAR_SVM, KIND_ONECLASS_SVM
from ulearn.svm import model as _m
from ulearn.svm import qmath

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

MIN_WINDOWS = const(8)     # fewer windows than this cannot give a usable scaler
_ZQ = const(12)            # normalized features are Q12 standardized values
_S16 = const(32767)


def _shift_for(maxabs, limit=32767, top=30):
    s = 0
    while s < top and maxabs * (1 << (s + 1)) <= limit:
        s += 1
    return s


def _rint(v):
    return int(math.floor(v + 0.5))


class _Trainer:
    """Scaler (Welford) + frozen fixed-point normalization shared by both trainers."""

    def __init__(self, n_features, spec, warmup):
        if n_features < 1:
            raise ValueError("n_features must be >= 1")
        if spec is not None and spec.n_features != n_features:
            raise ValueError("spec gives %d features, trainer built for %d" % (spec.n_features, n_features))
        self.n_features = n_features
        self.spec = spec
        self.warmup = max(warmup, MIN_WINDOWS)
        self.seen = 0
        self.t = 0
        self._mean = array("f", bytes(4 * n_features))
        self._m2 = array("f", bytes(4 * n_features))
        self.frozen = False
        self._z = array("h", bytes(2 * n_features))

    def observe(self, x):
        """Pass 1: update the feature mean/variance with one window's int16 features `x`."""
        if self.frozen:
            raise ValueError("the scaler is frozen: call observe() before freeze()")
        d = self.n_features
        if len(x) != d:
            raise ValueError("x: expected %d int16 features, got %d" % (d, len(x)))
        self.seen += 1
        n = self.seen
        mean = self._mean
        m2 = self._m2
        for i in range(d):
            v = x[i]
            delta = v - mean[i]
            mean[i] += delta / n
            m2[i] += delta * (v - mean[i])

    def freeze(self):
        """Fix the normalization (needs at least MIN_WINDOWS observed windows)."""
        if self.seen < MIN_WINDOWS:
            raise ValueError("too few windows to train: %d seen, need at least %d; collect more normal "
                             "windows" % (self.seen, MIN_WINDOWS))
        d = self.n_features
        self._mu = array("h", bytes(2 * d))
        self._mul = array("h", bytes(2 * d))
        self._sh = array("b", bytes(d))
        for i in range(d):
            mu = _rint(self._mean[i])
            self._mu[i] = max(-_S16, min(_S16, mu))
            std = math.sqrt(self._m2[i] / self.seen)
            self._sh[i] = 1
            if std > 0:
                k = (1 << _ZQ) * self._gain() / std
                s = 1
                for shift in range(1, 31):
                    if _rint(k * (1 << shift)) <= _S16:
                        s = shift
                self._sh[i] = s
                self._mul[i] = min(_S16, max(1, _rint(k * (1 << s))))
        self._norm = qmath.kernels(qmath.default_path())[0]
        self.frozen = True
        self._after_freeze()

    def _gain(self):
        return 1.0

    def _normalize(self, x):
        if len(x) != self.n_features:
            raise ValueError("x: expected %d int16 features, got %d" % (self.n_features, len(x)))
        self._norm(x, self._mu, self._mul, self._sh, self._z, self.n_features, _S16)
        return self._z

    def _norm_arrays(self):
        return {_m.TAG_NRMM: self._mu, _m.TAG_NRMK: self._mul, _m.TAG_NRMS: self._sh}

    def _need_trained(self):
        if not self.frozen or self.t < MIN_WINDOWS:
            raise ValueError("too few windows to train: %d training steps, need at least %d"
                             % (self.t, MIN_WINDOWS))

    def save(self, path):
        """Save the current model atomically (see _Model.save); returns bytes written."""
        return self.model().save(path)


class LinearTrainer(_Trainer):
    """Pegasos linear SVM, one-vs-rest over `classes` (one row for two classes)."""

    def __init__(self, n_features, classes, lam=0.01, spec=None, warmup=16):
        _Trainer.__init__(self, n_features, spec, warmup)
        if len(classes) < 2:
            raise ValueError("classes: need at least 2, got %d" % len(classes))
        self.classes = list(classes)
        self.rows = 1 if len(classes) == 2 else len(classes)
        self.lam = lam
        n = self.rows * (n_features + 1)
        self._w = array("f", bytes(4 * n))
        self._avg = array("f", bytes(4 * n))

    def _after_freeze(self):
        pass

    def partial_fit(self, x, y):
        """One Pegasos step on int16 features `x` with class index `y` (before freeze: scaler only)."""
        if not 0 <= y < len(self.classes):
            raise ValueError("y = %r is not a class index 0..%d" % (y, len(self.classes) - 1))
        if not self.frozen:
            self.observe(x)
            if self.seen >= self.warmup:
                self.freeze()
            return
        z = self._normalize(x)
        d = self.n_features
        self.t += 1
        eta = 1.0 / (self.lam * self.t)
        keep = 1.0 - eta * self.lam
        w = self._w
        avg = self._avg
        inv = 1.0 / (1 << _ZQ)
        a = 1.0 / self.t
        for k in range(self.rows):
            base = k * (d + 1)
            yk = (1.0 if y == 1 else -1.0) if self.rows == 1 else (1.0 if y == k else -1.0)
            s = w[base + d]
            for i in range(d):
                s += w[base + i] * z[i] * inv
            hit = yk * s < 1.0
            for i in range(d + 1):
                v = w[base + i] * keep
                if hit:
                    v += eta * yk * (z[i] * inv if i < d else 1.0)
                w[base + i] = v
                avg[base + i] += (v - avg[base + i]) * a

    def model(self):
        """The fixed-point LinearSVM of the averaged weights (ValueError when too few windows)."""
        self._need_trained()
        d = self.n_features
        rows = self.rows
        avg = self._avg
        big = 1e-9
        bmax = 0.0
        for k in range(rows):
            for i in range(d):
                big = max(big, abs(avg[k * (d + 1) + i]))
            bmax = max(bmax, abs(avg[k * (d + 1) + d]))
        ws = _shift_for(big)
        while ws > 0 and bmax * 2.0 ** (ws + _ZQ) >= 2147483647:
            ws -= 1
        w_q = array("h", bytes(2 * rows * d))
        b_q = array("i", bytes(4 * rows))
        for k in range(rows):
            for i in range(d):
                w_q[k * d + i] = _rint(avg[k * (d + 1) + i] * (1 << ws))
            b_q[k] = _rint(avg[k * (d + 1) + d] * 2.0 ** (ws + _ZQ))
        meta = {"form": "linear", "n_features": d, "classes": self.classes, "zq": _ZQ, "out_shift": ws,
                "score_scale": float(1 << _ZQ), "trained": "device-pegasos", "t": self.t, "lambda": self.lam}
        arrays = self._norm_arrays()
        arrays[_m.TAG_LINW] = w_q
        arrays[_m.TAG_LINB] = b_q
        return _m.LinearSVM(meta, "<trained on device>", arrays=arrays, spec=self.spec)


class OneClassTrainer(_Trainer):
    """nu-one-class SVM on `n_rff` random Fourier features, SGD; normal windows only."""

    def __init__(self, n_features, n_rff=64, nu=0.1, gamma=None, seed=1, spec=None, warmup=16):
        _Trainer.__init__(self, n_features, spec, warmup)
        if not 0.0 < nu < 1.0:
            raise ValueError("nu = %r, need 0 < nu < 1" % (nu,))
        self.n_rff = n_rff
        self.nu = nu
        self.gamma = gamma if gamma else 1.0 / n_features
        self._seed = seed & 0xFFFFFFFF or 1
        self._w = array("f", bytes(4 * n_rff))
        self._avg = array("f", bytes(4 * n_rff))
        self.rho = 0.0
        self.rho_avg = 0.0

    def _rand(self):
        x = self._seed
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._seed = x
        return (x >> 8) / 16777216.0

    def _after_freeze(self):
        r = self.n_rff
        d = self.n_features
        sigma = math.sqrt(2.0 * self.gamma) / (2.0 * math.pi)     # in turns per standardized unit
        qo = min(18, _shift_for(4.5 * sigma))
        self._omega = array("h", bytes(2 * r * d))
        for i in range(r * d):
            u1 = self._rand() or 1e-7
            g = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self._rand())
            self._omega[i] = max(-_S16, min(_S16, _rint(g * sigma * (1 << qo))))
        self._phase = array("i", bytes(4 * r))
        for i in range(r):
            self._phase[i] = int(self._rand() * (1 << (qo + _ZQ)))
        self._pshift = qo + _ZQ - 16
        self._ph = array("i", bytes(4 * r))
        self._phi = array("h", bytes(2 * r))
        self._ctab = qmath.cos_table()
        self._cos = qmath.kernels(qmath.default_path())[2]

    def _features(self, x):
        z = self._normalize(x)
        backend.matvec_q15(self._omega, z, self._phase, self._ph, self.n_rff, self.n_features, self._pshift)
        self._cos(self._ph, self._phi, self.n_rff, self._ctab)
        return self._phi

    def partial_fit(self, x, y=None):
        """One SGD step on a normal window's int16 features `x` (before freeze: scaler only)."""
        if not self.frozen:
            self.observe(x)
            if self.seen >= self.warmup:
                self.freeze()
            return
        phi = self._features(x)
        r = self.n_rff
        w = self._w
        s = 0.0
        for i in range(r):
            s += w[i] * phi[i]
        s /= 32768.0
        self.t += 1
        t = self.t
        eta = 1.0 / (self.nu * t)
        keep = 1.0 - 1.0 / t
        hit = s < self.rho
        step = eta / 32768.0
        a = 1.0 / t
        avg = self._avg
        for i in range(r):
            v = w[i] * keep
            if hit:
                v += step * phi[i]
            w[i] = v
            avg[i] += (v - avg[i]) * a
        self.rho += 1.0 / t - (eta if hit else 0.0)
        self.rho_avg += (self.rho - self.rho_avg) * a

    def model(self):
        """The fixed-point RFFOneClass of the averaged weights (threshold 0 until calibrated)."""
        self._need_trained()
        r = self.n_rff
        big = 1e-9
        for i in range(r):
            big = max(big, abs(self._avg[i]))
        ws = _shift_for(big)
        while ws > 0 and abs(self.rho_avg) * 2.0 ** (ws + 15) >= 2147483647:
            ws -= 1
        w_q = array("h", bytes(2 * r))
        for i in range(r):
            w_q[i] = _rint(self._avg[i] * (1 << ws))
        rho_q = array("i", [-_rint(self.rho_avg * 2.0 ** (ws + 15))])
        meta = {"form": "rff", "n_features": self.n_features, "classes": ["normal"], "zq": _ZQ,
                "out_shift": ws + 15 - _ZQ, "score_scale": float(1 << _ZQ), "n_rff": r,
                "phase_shift": self._pshift, "threshold": 0, "nu": self.nu, "gamma": self.gamma,
                "trained": "device-rff-sgd", "t": self.t}
        arrays = self._norm_arrays()
        arrays[_m.TAG_RFFW] = self._omega
        arrays[_m.TAG_RFFB] = self._phase
        arrays[_m.TAG_OCWT] = w_q
        arrays[_m.TAG_OCRH] = rho_q
        return _m.RFFOneClass(meta, "<trained on device>", arrays=arrays, spec=self.spec)


def _adopt_norm(t, m):
    t._mu = m.arrays[_m.TAG_NRMM]
    t._mul = m.arrays[_m.TAG_NRMK]
    t._sh = m.arrays[_m.TAG_NRMS]
    t._norm = qmath.kernels(qmath.default_path())[0]
    t.frozen = True
    t.t = max(int(m.meta.get("t", 0)), MIN_WINDOWS)
    t.seen = t.t


def _copy_into(m, new, tags):
    for tag in tags:
        dst = m.arrays[tag]
        src = new.arrays[tag]
        for i in range(len(dst)):
            dst[i] = src[i]
    m.out_shift = new.out_shift
    threshold = m.meta.get("threshold")
    m.meta = new.meta
    if threshold is not None:
        m.meta["threshold"] = threshold


class _Continue:
    """partial_fit on a loaded model: a trainer started from its dequantized weights."""

    def __init__(self, trainer, tags):
        self.trainer = trainer
        self.tags = tags

    def partial_fit(self, x, y):
        if self.tags[0] == _m.TAG_LINW:
            self.trainer.partial_fit(x, y)
        else:
            self.trainer.partial_fit(x)

    def update(self, m):
        _copy_into(m, self.trainer.model(), self.tags)


def trainer_for(m):
    """Continue training a loaded model `m` (its normalization stays fixed); used by m.partial_fit."""
    d = m.n_features
    if m.kind == KIND_LINEAR_SVM:
        t = LinearTrainer(d, m.classes, lam=float(m.meta.get("lambda", 0.01)), spec=m.spec())
        _adopt_norm(t, m)
        w = m.arrays[_m.TAG_LINW]
        b = m.arrays[_m.TAG_LINB]
        ws = m.out_shift
        for k in range(t.rows):
            for i in range(d):
                t._w[k * (d + 1) + i] = w[k * d + i] / (1 << ws)
            t._w[k * (d + 1) + d] = b[k] / 2.0 ** (ws + _ZQ)
        for i in range(len(t._w)):
            t._avg[i] = t._w[i]
        return _Continue(t, (_m.TAG_LINW, _m.TAG_LINB))
    if m.kind == KIND_ONECLASS_SVM and m.meta.get("form") == "rff":
        meta = m.meta
        t = OneClassTrainer(d, n_rff=m.n_rff, nu=float(meta.get("nu", 0.1)), gamma=meta.get("gamma"),
                            spec=m.spec())
        _adopt_norm(t, m)
        t._omega = m.arrays[_m.TAG_RFFW]
        t._phase = m.arrays[_m.TAG_RFFB]
        t._pshift = m.phase_shift
        t._ph = array("i", bytes(4 * m.n_rff))
        t._phi = array("h", bytes(2 * m.n_rff))
        t._ctab = qmath.cos_table()
        t._cos = qmath.kernels(qmath.default_path())[2]
        ws = m.out_shift + _ZQ - 15
        wq = m.arrays[_m.TAG_OCWT]
        for i in range(m.n_rff):
            t._w[i] = wq[i] / 2.0 ** ws
            t._avg[i] = t._w[i]
        t.rho = -m.arrays[_m.TAG_OCRH][0] / 2.0 ** (ws + 15)
        t.rho_avg = t.rho
        return _Continue(t, (_m.TAG_OCWT, _m.TAG_OCRH))
    raise ValueError("%s: only linear and RFF one-class models continue training on the device; "
                     "kernel SVMs are retrained on the host" % m.source)
