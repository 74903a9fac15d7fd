"""Export scikit-learn SVMs (LinearSVC, SVC with RBF kernel, OneClassSVM) to ulearn model blobs.

The section tags and scales are defined in ``lib/ulearn/svm/model.py`` (NRMM/NRMK/NRMS feature
normalization; LINW/LINB linear; SVEC/SVNM/PCOE/PINT kernel). The models are trained on
*standardized* features ``zs = zq / 2^12`` where ``zq`` is the device's Q12 normalization of the
int16 features (``Normalizer``, saturated at +-32767, i.e. +-8 standard deviations; kernel models
carry that bound to the device as META zlim), so the only differences between scikit-learn and the device are
the quantized weights / support vectors, the rounding of the dot products and the exp table.

Alongside each blob a float twin (``FloatModel``) reproduces scikit-learn's decision function from
the same parameters, for the ``float_accuracy`` / ``agreement`` figures of ``ulearn eval``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ulearn import blob as fmt
from ulearn.svm import model as dev

from ..blob import write_blob
from ..errors import UlearnError

ZQ_LINEAR = 12
S16 = 32767


@dataclass
class Normalizer:
    """z = sat16((sat16(f - mu) * mul + 2^(sh-1)) >> sh), per feature (the device's `norm`)."""

    mu: np.ndarray   # int16 (D,)
    mul: np.ndarray  # int16 (D,)
    sh: np.ndarray   # int8 (D,)

    @classmethod
    def fit(cls, F: np.ndarray, zq: int = ZQ_LINEAR, gain: float = 1.0) -> Normalizer:
        """From int16 features F (n, D): z ~= (f - mean) / std * gain * 2^zq."""
        F = np.asarray(F, dtype=np.float64)
        mu = np.clip(np.round(F.mean(0)), -S16, S16).astype(np.int16)
        std = F.std(0)
        k = np.where(std > 0, gain * (1 << zq) / np.where(std > 0, std, 1), 0.0)
        return cls.from_gains(mu, k)

    @classmethod
    def from_gains(cls, mu: np.ndarray, gains: np.ndarray) -> Normalizer:
        """z = (f - mu) * gains[i], gains as 15-bit multipliers with the finest shift that fits."""
        mul = np.zeros(len(mu), np.int16)
        sh = np.ones(len(mu), np.int8)
        for i, k in enumerate(gains):
            if k <= 0:
                continue
            best = 1
            for shift in range(1, 31):
                if round(k * (1 << shift)) <= S16:
                    best = shift
            sh[i] = best
            mul[i] = min(S16, max(1, round(k * (1 << best))))
        return cls(np.asarray(mu, np.int16), mul, sh)

    def gains(self) -> np.ndarray:
        """The real multipliers mul / 2^sh."""
        return self.mul.astype(np.float64) / (2.0 ** self.sh.astype(np.float64))

    def scaled(self, factor: float) -> Normalizer:
        """The same offsets with every gain multiplied by `factor` (e.g. 2^(zq-12) * sqrt(gamma))."""
        return Normalizer.from_gains(self.mu, self.gains() * factor)

    def apply(self, F: np.ndarray) -> np.ndarray:
        """int64 z (n, D) exactly as the device computes it."""
        d = np.clip(np.asarray(F, np.int64) - self.mu.astype(np.int64), -S16, S16)
        s = self.sh.astype(np.int64)
        return np.clip((d * self.mul.astype(np.int64) + (np.int64(1) << (s - 1))) >> s, -S16, S16)

    def sections(self) -> dict[bytes, bytes]:
        return {dev.TAG_NRMM: self.mu.astype("<i2").tobytes(), dev.TAG_NRMK: self.mul.astype("<i2").tobytes(),
                dev.TAG_NRMS: self.sh.astype("i1").tobytes()}


def standardized(F: np.ndarray, norm: Normalizer) -> np.ndarray:
    """The float inputs the scikit-learn models are trained on: the device's Q12 z / 4096."""
    return norm.apply(F).astype(np.float64) / (1 << ZQ_LINEAR)


def _q(values: np.ndarray, scale: float, lo: int, hi: int, what: str) -> np.ndarray:
    q = np.round(np.asarray(values, np.float64) * scale)
    if q.min(initial=0) < lo or q.max(initial=0) > hi:
        raise UlearnError(f"{what} does not fit its fixed-point format: retrain with more regularization")
    return q.astype(np.int64)


def _shift_for(maxabs: float, limit: int = S16, top: int = 30) -> int:
    """Largest s in 0..top with maxabs * 2^s <= limit."""
    s = 0
    while s < top and maxabs * (1 << (s + 1)) <= limit:
        s += 1
    return s


@dataclass
class FloatModel:
    """The float decision function of the exported model (equals scikit-learn's on zs)."""

    form: str
    params: dict = field(default_factory=dict)

    def decision(self, zs: np.ndarray) -> np.ndarray:
        p = self.params
        if self.form == "linear":
            return zs @ np.asarray(p["coef"]).T + np.asarray(p["intercept"])
        sv = np.asarray(p["sv"])
        d2 = ((zs[:, None, :] - sv[None, :, :]) ** 2).sum(-1)
        k = np.exp(-p["gamma"] * d2)
        return k @ np.asarray(p["pcoef"]).T + np.asarray(p["pint"])

    def predict(self, zs: np.ndarray) -> np.ndarray:
        dec = self.decision(zs)
        if self.form == "linear":
            return (dec[:, 0] > 0).astype(int) if dec.shape[1] == 1 else dec.argmax(1)
        if self.params.get("one_class"):
            return dec[:, 0]
        return ovo_vote(dec, len(self.params["classes"]))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"form": self.form, "params": _jsonable(self.params)}))

    @classmethod
    def load(cls, path: Path) -> FloatModel:
        d = json.loads(path.read_text())
        return cls(d["form"], d["params"])


def _jsonable(p: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}


def ovo_vote(dec: np.ndarray, k: int) -> np.ndarray:
    """libsvm one-vs-one voting over pair decisions (n, k(k-1)/2): pair (i,j) votes i when dec > 0."""
    votes = np.zeros((dec.shape[0], k), np.int64)
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            pos = dec[:, p] > 0
            votes[pos, i] += 1
            votes[~pos, j] += 1
            p += 1
    return votes.argmax(1)


def pair_coefficients(clf) -> tuple[np.ndarray, np.ndarray]:
    """(P, n_sv) coefficients and (P,) intercepts of an SVC's one-vs-one pairs, in libsvm pair order.

    libsvm's sign: pair (i, j) votes i when its decision is > 0. scikit-learn negates its public
    dual_coef_/intercept_ for two classes (so decision > 0 means class 1); undone here.
    """
    k = len(clf.classes_)
    starts = np.concatenate([[0], np.cumsum(clf.n_support_)])
    dual = clf.dual_coef_
    rows, ints = [], []
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            row = np.zeros(dual.shape[1])
            row[starts[i]:starts[i + 1]] = dual[j - 1, starts[i]:starts[i + 1]]
            row[starts[j]:starts[j + 1]] = dual[i, starts[j]:starts[j + 1]]
            rows.append(row)
            ints.append(clf.intercept_[p])
            p += 1
    sign = -1.0 if k == 2 else 1.0
    return sign * np.array(rows), sign * np.array(ints)


def _meta(form: str, d: int, classes: list[str], zq: int, out_shift: int, score_scale: float, **extra) -> dict:
    return {"form": form, "n_features": d, "classes": list(classes), "zq": zq, "out_shift": out_shift,
            "score_scale": score_scale, **extra}


def _sections(norm: Normalizer, spec_dict: dict | None, **arrays: np.ndarray) -> dict[bytes, bytes]:
    secs = norm.sections()
    for tag, (a, dtype) in arrays.items():
        secs[tag.encode()] = np.asarray(a).astype(dtype).tobytes()
    if spec_dict is not None:
        secs[fmt.TAG_FEATURES] = json.dumps(spec_dict, separators=(",", ":")).encode()
    return secs


def export_linear(clf, norm: Normalizer, classes: list[str], spec_dict: dict | None) -> tuple[bytes, FloatModel]:
    """Blob (KIND_LINEAR_SVM) and float twin of a LinearSVC trained on standardized(F, norm)."""
    coef = np.atleast_2d(clf.coef_).astype(np.float64)
    icpt = np.atleast_1d(clf.intercept_).astype(np.float64)
    rows, d = coef.shape
    ws = _shift_for(np.abs(coef).max())
    while ws > 0 and np.abs(icpt).max() * 2.0 ** (ws + ZQ_LINEAR) >= 2 ** 31 - 1:
        ws -= 1
    w_q = _q(coef, 2.0 ** ws, -S16, S16, "linear weights")
    b_q = _q(icpt, 2.0 ** (ws + ZQ_LINEAR), -(2 ** 31), 2 ** 31 - 1, "linear intercepts")
    meta = _meta("linear", d, classes, ZQ_LINEAR, ws, float(2 ** ZQ_LINEAR))
    blob = write_blob(fmt.KIND_LINEAR_SVM, meta, _sections(norm, spec_dict, LINW=(w_q.ravel(), "<i2"),
                                                           LINB=(b_q, "<i4")))
    return blob, FloatModel("linear", {"coef": coef, "intercept": icpt, "classes": list(classes)})


def zlim_for(g: float, zq: int) -> int:
    """|z| bound (Q(zq), features scaled by g = sqrt(gamma)) equal to the Q12 saturation S16 / 2^12."""
    return int(min(S16, max(1, math.floor(S16 * g * 2.0 ** (zq - ZQ_LINEAR) + 0.5))))


def _kernel_blob(kind: int, sv: np.ndarray, pcoef: np.ndarray, pint: np.ndarray, gamma: float, norm: Normalizer,
                 classes: list[str], spec_dict: dict | None, extra: dict) -> bytes:
    """Shared RBF export: z and SVs scaled by sqrt(gamma), so |z - sv|^2 is the exp argument."""
    g = math.sqrt(gamma)
    # exp(-d2) is 0 (table) once d2 >= 12, i.e. |z - sv| >= sqrt(12) in one coordinate: a range of
    # max|sv| + 3.5 makes saturation of z harmless (a saturated coordinate already zeroes the kernel).
    zq = max(6, min(15, _shift_for(np.abs(sv * g).max() + 3.5, S16, 15)))
    norm = norm.scaled(g * 2.0 ** (zq - ZQ_LINEAR))
    # scikit-learn sees the Q12 features, saturated at +-S16 / 2^12 standard deviations (standardized);
    # the device clamps its Q(zq) z at the image of that bound, else a window with a feature beyond
    # 8 standard deviations gets another (lower) kernel value on the device than in scikit-learn.
    zlim = zlim_for(g, zq)
    sv_q = _q(sv * g, 2.0 ** zq, -S16, S16, "support vectors")
    svn = (np.sum(sv_q * sv_q, 1) + (1 << (zq - 1))) >> zq
    cq = _shift_for(np.abs(pcoef).max())
    while cq > 0 and np.abs(pint).max() * 2.0 ** cq * S16 >= 2 ** 31 - 1:
        cq -= 1
    c_q = _q(pcoef, 2.0 ** cq, -S16, S16, "dual coefficients")
    n_sv = sv.shape[0]
    out_shift = max(0, n_sv.bit_length() + 1)
    i_q = _q(pint, 2.0 ** cq * S16, -(2 ** 31), 2 ** 31 - 1, "intercepts")
    meta = _meta("kernel", sv.shape[1], classes, zq, out_shift, float(2.0 ** cq * S16 / 2 ** out_shift),
                 n_sv=n_sv, gamma=gamma, zlim=zlim, **extra)
    return write_blob(kind, meta, _sections(norm, spec_dict, SVEC=(sv_q.ravel(), "<i2"), SVNM=(svn, "<i4"),
                                            PCOE=(c_q.ravel(), "<i2"), PINT=(i_q, "<i4")))


def export_svc(clf, norm: Normalizer, classes: list[str], spec_dict: dict | None) -> tuple[bytes, FloatModel]:
    """Blob (KIND_RBF_SVM) and float twin of an RBF SVC trained on standardized(F, norm)."""
    if clf.kernel != "rbf":
        raise UlearnError(f"only RBF SVCs export (got kernel={clf.kernel!r})")
    gamma = float(clf._gamma)
    pcoef, pint = pair_coefficients(clf)
    sv = clf.support_vectors_
    blob = _kernel_blob(fmt.KIND_RBF_SVM, sv, pcoef, pint, gamma, norm, classes, spec_dict, {})
    return blob, FloatModel("kernel", {"sv": sv, "pcoef": pcoef, "pint": pint, "gamma": gamma,
                                       "classes": list(classes)})


def export_ocsvm(clf, norm: Normalizer, spec_dict: dict | None,
                 normal: list[str]) -> tuple[bytes, FloatModel]:
    """Blob (KIND_ONECLASS_SVM, kernel form) and float twin of a OneClassSVM (RBF)."""
    gamma = float(clf._gamma)
    pcoef = clf.dual_coef_.astype(np.float64)
    pint = np.atleast_1d(clf.intercept_).astype(np.float64)
    blob = _kernel_blob(fmt.KIND_ONECLASS_SVM, clf.support_vectors_, pcoef, pint, gamma, norm, ["normal"],
                        spec_dict, {"one_class": True, "threshold": 0, "normal": normal})
    return blob, FloatModel("kernel", {"sv": clf.support_vectors_, "pcoef": pcoef, "pint": pint, "gamma": gamma,
                                       "classes": ["normal"], "one_class": True})
