"""Fixed-point SVM inference: linear one-vs-rest, RBF SVC (one-vs-one), one-class (kernel or RFF).

    m = ulearn.load("motion.mpy")       # a KIND_LINEAR_SVM / KIND_RBF_SVM / KIND_ONECLASS_SVM blob
    cls = m.predict(feats, out)         # feats: 'h' n_features (ulearn.features); out: 'i' decisions
    score = oc.predict(feats)           # one-class: int score; oc.is_anomaly(score) -> bool

Blob sections (besides META and the optional FEAT feature spec; arrays little-endian):

    NRMM 'h'[D]   feature offsets mu        z[i] = sat((sat16(f[i]-mu[i]) * mul[i] + 2^(s[i]-1)) >> s[i], zlim)
    NRMK 'h'[D]   multipliers mul           z is Q(zq): standardized feature * 2^zq (RBF: times sqrt(gamma))
    NRMS 'b'[D]   shifts s (1..30)
    LINW 'h'[K*D] linear weights            dec[k] = (sum_i W[k,i] z[i] + LINB[k] + rnd) >> out_shift
    LINB 'i'[K]   linear biases             K = 1 for two classes (class 1 when dec > 0)
    SVEC 'h'[n*D] support vectors, Q(zq)    d2 = |z|^2 + |sv|^2 - 2 z.sv (Q(zq)); k = exp(-d2) Q15
    SVNM 'i'[n]   |sv|^2 in Q(zq)
    PCOE 'h'[P*n] dual coefficients per one-vs-one pair (0 where an SV is not in the pair); one-class: P = 1
    PINT 'i'[P]   intercepts                dec[p] = (sum_s PCOE[p,s] k[s] + PINT[p] + rnd) >> out_shift
    RFFW 'h'[R*D] random Fourier frequencies (turns), RFFB 'i'[R] phases: ph = (RFFW z + RFFB) >> phase_shift, Q16 turns
    OCWT 'h'[R]   one-class weights on cos(ph) (Q15); OCRH 'i'[1] -rho: score = (OCWT.phi + OCRH) >> out_shift

META: form ("linear", "kernel", "rff"), n_features, classes, zq, out_shift, score_scale (real
decision = int / score_scale), threshold (one-class; anomaly when score < threshold), phase_shift,
zlim (optional, 1..32767, default 32767: z is clamped to [-zlim, zlim]; kernel models exported from
the host set it to the Q(zq) image of the host's Q12 saturation, +-32767/2^12 standard deviations,
so the device sees the same clipped features scikit-learn was trained and evaluated on).
The host writer is ulearn_host.svm.export; models trained on the device are saved by save().
OvO voting follows libsvm: pair (i, j), i < j, votes i when dec > 0; ties go to the lower class.
"""

from array import array

from ulearn import backend
from ulearn.blob import KIND_LINEAR_SVM, KIND_ONECLASS_SVM, KIND_RBF_SVM, TAG_FEATURES, BlobError
from ulearn.svm import qmath

TAG_NRMM = b"NRMM"
TAG_NRMK = b"NRMK"
TAG_NRMS = b"NRMS"
TAG_LINW = b"LINW"
TAG_LINB = b"LINB"
TAG_SVEC = b"SVEC"
TAG_SVNM = b"SVNM"
TAG_PCOE = b"PCOE"
TAG_PINT = b"PINT"
TAG_RFFW = b"RFFW"
TAG_RFFB = b"RFFB"
TAG_OCWT = b"OCWT"
TAG_OCRH = b"OCRH"

_SIZES = {"h": 2, "i": 4, "b": 1}


def _zeros(tc, n):
    return array(tc, bytes(_SIZES[tc] * n))


class _Model:
    """Shared parts: META, feature normalization, the feature spec, save()."""

    kind = 0
    _layout = ()   # (tag, typecode, count attribute name(s)) checked before anything is allocated

    def __init__(self, meta, source, path=None, blob=None, arrays=None, spec=None):
        """From a validated `blob` (sections checked, then copied) or from ready `arrays` (training)."""
        self.source = source
        self.meta = meta
        try:
            self.n_features = int(meta["n_features"])
            self.classes = list(meta.get("classes", ()))
            self.zq = int(meta.get("zq", 12))
            self.out_shift = int(meta["out_shift"])
            self.zlim = int(meta.get("zlim", 32767))
        except (KeyError, ValueError, TypeError) as e:
            raise BlobError("%s: META lacks or garbles %s; export the model again" % (source, e))
        if not 1 <= self.n_features <= 4096 or not 6 <= self.zq <= 15 or not 0 <= self.out_shift <= 31 \
                or not 1 <= self.zlim <= 32767:
            raise BlobError("%s: META n_features/zq/out_shift/zlim out of range; export the model again" % source)
        self._dims(meta)
        self._spec = spec
        if blob is not None:
            for tag, tc, count in self._layout_counts():
                sec = blob.section(tag)
                if len(sec) != count * _SIZES[tc]:
                    raise BlobError("%s: section %r holds %d bytes, expected %d ('%s' x %d); export the "
                                    "model again" % (source, tag, len(sec), count * _SIZES[tc], tc, count))
            shifts = blob.section(TAG_NRMS)
            for i in range(self.n_features):
                if not 1 <= shifts[i] <= 30:
                    raise BlobError("%s: normalization shift %d of feature %d outside 1..30; export the "
                                    "model again" % (source, shifts[i], i))
            fsec = blob.section(TAG_FEATURES, required=False)
            if fsec is not None:
                from ulearn.features.spec import parse
                try:
                    self._spec = parse(fsec)
                except ValueError as e:
                    raise BlobError("%s: %s" % (source, e))
            arrays = {}
            for tag, tc, _ in self._layout_counts():
                arrays[tag] = array(tc, bytes(blob.section(tag)))
        if self._spec is not None and self._spec.n_features != self.n_features:
            raise BlobError("%s: the feature spec gives %d features, the model takes %d; export "
                            "again" % (source, self._spec.n_features, self.n_features))
        self.path = path or qmath.default_path()
        self._norm, self._kstage, self._rffcos = qmath.kernels(self.path)
        self.arrays = arrays
        self._z = _zeros("h", self.n_features)
        self._mu = arrays[TAG_NRMM]
        self._mul = arrays[TAG_NRMK]
        self._sh = arrays[TAG_NRMS]
        self._trainer = None
        self._setup()

    def _dims(self, meta):
        pass

    def _setup(self):
        pass

    def _layout_counts(self):
        d = self.n_features
        out = [(TAG_NRMM, "h", d), (TAG_NRMK, "h", d), (TAG_NRMS, "b", d)]
        for tag, tc, count in self._layout:
            n = 1
            for name in count:
                n *= getattr(self, name)
            out.append((tag, tc, n))
        return out

    def _check(self, x):
        if len(x) != self.n_features:
            raise ValueError("x: expected %d int16 features (the model's feature spec), got %d"
                             % (self.n_features, len(x)))

    def _normalize(self, x):
        self._check(x)
        self._norm(x, self._mu, self._mul, self._sh, self._z, self.n_features, self.zlim)
        return self._z

    def spec(self):
        """The FeatureSpec stored with the model, or None."""
        return self._spec

    def features(self, path=None):
        """A feature Extractor for the model's own feature spec (ValueError when it has none)."""
        if self._spec is None:
            raise ValueError("%s carries no feature spec: compute features yourself" % self.source)
        from ulearn.features.extract import Extractor
        return Extractor(self._spec, path=path)

    def check_features(self, spec):
        """Raise ValueError unless `spec` (FeatureSpec or dict) is the spec the model was trained with."""
        if self._spec is None:
            return
        if not self._spec.same_as(spec):
            raise ValueError("%s was trained on another feature spec (window/axes/features/bands/"
                             "scale differ): export or train the model for this pipeline" % self.source)

    def info(self):
        """dict: kind, form, n_features, classes, path, backend, bytes of arrays, meta."""
        n = 0
        for tag in self.arrays:
            a = self.arrays[tag]
            n += len(a) * _SIZES["h" if tag in (TAG_NRMM, TAG_NRMK, TAG_LINW, TAG_SVEC, TAG_PCOE, TAG_RFFW,
                                                TAG_OCWT) else ("b" if tag == TAG_NRMS else "i")]
        return {"kind": self.kind, "form": self.meta.get("form"), "n_features": self.n_features,
                "classes": self.classes, "path": self.path, "backend": backend.NAME, "array_bytes": n,
                "meta": self.meta}

    def save(self, path):
        """Save the model (as a raw blob file) to `path` atomically; returns bytes written.

        Raises store.SaveError when the write fails (e.g. flash full): the model previously saved at
        `path` stays loadable.
        """
        from ulearn.svm import store
        secs = []
        for tag, tc, _ in self._layout_counts():
            secs.append((tag, self.arrays[tag], _SIZES[tc]))
        if self._spec is not None:
            import json
            secs.append((TAG_FEATURES, json.dumps(self._spec.to_dict()).encode(), 1))
        return store.write(path, self.kind, self.meta, secs)

    def partial_fit(self, x, y=None):
        """Continue training with one window's int16 features `x` (class index `y` for linear models).

        Linear and RFF one-class models only (ulearn.svm.train.trainer_for); arrays are updated in place.
        """
        from ulearn.svm import train
        if self._trainer is None:
            self._trainer = train.trainer_for(self)
        self._trainer.partial_fit(x, y)
        self._trainer.update(self)


class LinearSVM(_Model):
    """Linear SVM, one-vs-rest (K rows; K = 1 for two classes)."""

    kind = KIND_LINEAR_SVM
    _layout = ((TAG_LINW, "h", ("rows", "n_features")), (TAG_LINB, "i", ("rows",)))

    def _dims(self, meta):
        k = len(self.classes)
        if k < 2:
            raise BlobError("%s: a linear SVM needs at least 2 classes in META" % self.source)
        self.rows = 1 if k == 2 else k

    def _setup(self):
        self._dec = _zeros("i", self.rows)
        self._fused = qmath.fused(self.path, "linear")
        self._prm = array("i", [self.n_features, self.rows, self.zq, self.out_shift, 0, 0, self.zlim])

    def predict(self, x, out=None):
        """Class index for features `x` ('h', n_features); `out` ('i', rows) receives the decisions."""
        if self._fused is not None:            # the whole decision in one viper call
            self._check(x)
            a = self.arrays
            self._prm[3] = self.out_shift      # partial_fit may have re-quantized the weights
            return self._fused(0, 0, 0, a[TAG_LINW], self._z, x, self._mu, self._mul, self._sh, a[TAG_LINB], self._dec,
                               self._prm, out, 0 if out is None else self.rows)
        z = self._normalize(x)
        dec = self._dec
        backend.matvec_q15(self.arrays[TAG_LINW], z, self.arrays[TAG_LINB], dec, self.rows,
                           self.n_features, self.out_shift)
        if out is not None:
            for k in range(self.rows):
                out[k] = dec[k]
        if self.rows == 1:
            return 1 if dec[0] > 0 else 0
        best = 0
        for k in range(1, self.rows):
            if dec[k] > dec[best]:
                best = k
        return best


class KernelSVM(_Model):
    """RBF-kernel SVC (one-vs-one voting) or kernel one-class SVM (score)."""

    _layout = ((TAG_SVEC, "h", ("n_sv", "n_features")), (TAG_SVNM, "i", ("n_sv",)),
               (TAG_PCOE, "h", ("pairs", "n_sv")), (TAG_PINT, "i", ("pairs",)))

    def _dims(self, meta):
        self.kind = KIND_ONECLASS_SVM if meta.get("one_class") else KIND_RBF_SVM
        self.n_sv = int(meta.get("n_sv", 0))
        if not 1 <= self.n_sv <= 4096:
            raise BlobError("%s: META n_sv = %d outside 1..4096" % (self.source, self.n_sv))
        k = len(self.classes)
        if self.kind == KIND_ONECLASS_SVM:
            self.pairs = 1
        else:
            if k < 2:
                raise BlobError("%s: an SVC needs at least 2 classes in META" % self.source)
            self.pairs = k * (k - 1) // 2
        self.threshold = int(meta.get("threshold", 0))

    def _setup(self):
        self._dots = _zeros("i", self.n_sv)
        self._k = _zeros("h", self.n_sv)
        self._dec = _zeros("i", self.pairs)
        self._zn = _zeros("i", 1)
        self._votes = bytearray(max(1, len(self.classes)))
        self._ftab, self._etab = qmath.exp_tables()
        self._fused = qmath.fused(self.path, "kernel")
        one = self.kind == KIND_ONECLASS_SVM
        self._prm = array("i", [self.n_features, self.n_sv, self.zq, self.out_shift, self.pairs,
                                0 if one else len(self.classes), self.zlim])

    def predict(self, x, out=None):
        """SVC: class index; one-class: int score (`out` 'i' receives the pair decisions / score)."""
        if self._fused is not None:            # the whole decision in one viper call
            self._check(x)
            a = self.arrays
            c = self._fused(0, 0, 0, a[TAG_SVEC], self._z, x, self._mu, self._mul, self._sh, a[TAG_SVNM],
                            a[TAG_PCOE], a[TAG_PINT], self._ftab, self._etab, self._k, self._dec, self._prm,
                            self._votes, out, 0 if out is None else self.pairs)
            return self._dec[0] if self.kind == KIND_ONECLASS_SVM else c
        z = self._normalize(x)
        d = self.n_features
        n = self.n_sv
        mv = backend.matvec_q15
        mv(self.arrays[TAG_SVEC], z, None, self._dots, n, d, self.zq)
        mv(z, z, None, self._zn, 1, d, self.zq)
        self._kstage(self._dots, self.arrays[TAG_SVNM], self._zn[0], self._k, n, self.zq, self._ftab, self._etab)
        dec = self._dec
        mv(self.arrays[TAG_PCOE], self._k, self.arrays[TAG_PINT], dec, self.pairs, n, self.out_shift)
        if out is not None:
            for p in range(self.pairs):
                out[p] = dec[p]
        if self.kind == KIND_ONECLASS_SVM:
            return dec[0]
        k = len(self.classes)
        votes = self._votes
        for i in range(k):
            votes[i] = 0
        p = 0
        for i in range(k):
            for j in range(i + 1, k):
                if dec[p] > 0:
                    votes[i] += 1
                else:
                    votes[j] += 1
                p += 1
        best = 0
        for i in range(1, k):
            if votes[i] > votes[best]:
                best = i
        return best

    def is_anomaly(self, score):
        """One-class: True when `score` (from predict) is below the threshold."""
        return score < self.threshold

    def partial_fit(self, x, y=None):
        """Kernel SVMs are trained on the host: raises ValueError saying what to use instead."""
        raise ValueError("%s is a kernel SVM trained on the host (ulearn train --model svm/ocsvm); "
                         "train on the device with ulearn.svm.train (linear or RFF one-class)" % self.source)


class RFFOneClass(_Model):
    """One-class SVM on random Fourier features (trained on the device, see ulearn.svm.train)."""

    kind = KIND_ONECLASS_SVM
    _layout = ((TAG_RFFW, "h", ("n_rff", "n_features")), (TAG_RFFB, "i", ("n_rff",)),
               (TAG_OCWT, "h", ("n_rff",)), (TAG_OCRH, "i", ("one",)))
    one = 1

    def _dims(self, meta):
        self.n_rff = int(meta.get("n_rff", 0))
        self.phase_shift = int(meta.get("phase_shift", -1))
        if not 1 <= self.n_rff <= 1024 or not 0 <= self.phase_shift <= 31:
            raise BlobError("%s: META n_rff/phase_shift out of range; train again" % self.source)
        self.threshold = int(meta.get("threshold", 0))

    def _setup(self):
        self._ph = _zeros("i", self.n_rff)
        self._phi = _zeros("h", self.n_rff)
        self._dec = _zeros("i", 1)
        self._ctab = qmath.cos_table()

    def predict(self, x, out=None):
        """Score (int, real = score / score_scale): high for normal windows; `out[0]` gets it too."""
        z = self._normalize(x)
        r = self.n_rff
        a = self.arrays
        backend.matvec_q15(a[TAG_RFFW], z, a[TAG_RFFB], self._ph, r, self.n_features, self.phase_shift)
        self._rffcos(self._ph, self._phi, r, self._ctab)
        backend.matvec_q15(a[TAG_OCWT], self._phi, a[TAG_OCRH], self._dec, 1, r, self.out_shift)
        if out is not None:
            out[0] = self._dec[0]
        return self._dec[0]

    def is_anomaly(self, score):
        """True when `score` (from predict) is below the threshold."""
        return score < self.threshold

    def set_threshold(self, t):
        """Set the anomaly threshold (int, same scale as scores); saved with save()."""
        self.threshold = int(t)
        self.meta["threshold"] = self.threshold


KernelSVM.set_threshold = RFFOneClass.set_threshold


def from_blob(blob, source, path=None):
    """The SVM model in a validated blob (kinds linear-svm, rbf-svm, oneclass-svm)."""
    if blob.kind not in (KIND_LINEAR_SVM, KIND_RBF_SVM, KIND_ONECLASS_SVM):
        raise BlobError("%s is a %s blob, not an SVM" % (source, blob.kind_name))
    meta = blob.meta()
    form = meta.get("form")
    if form == "linear" and blob.kind == KIND_LINEAR_SVM:
        return LinearSVM(meta, source, path, blob=blob)
    if form == "kernel" and blob.kind in (KIND_RBF_SVM, KIND_ONECLASS_SVM):
        return KernelSVM(meta, source, path, blob=blob)
    if form == "rff" and blob.kind == KIND_ONECLASS_SVM:
        return RFFOneClass(meta, source, path, blob=blob)
    raise BlobError("%s: SVM form %r with kind %s is not understood by this ulearn: update ulearn"
                    % (source, form, blob.kind_name))
