"""`ulearn train --model svm|linear-svm|ocsvm` and `ulearn eval` for SVM blobs.

Windows -> int16 features (``ulearn_host.features``, the device definition) -> Q12 standardized
features -> scikit-learn (RBF SVC, LinearSVC, OneClassSVM) -> fixed-point blob with the feature
spec in FEAT (``ulearn_host.svm.export``). Beside the model a float twin ``<out>.float.json``
lets `ulearn eval` report float accuracy and the fixed-point/float agreement.
`evaluate` runs the blob with the device code: in the MicroPython unix port, or on a board (--port).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..blob import save_model
from ..data import load_dataset
from ..errors import UlearnError
from ..metrics import confusion_result
from .. import features as feat
from ..svm import export as E
from ..svm.run import run_model

ANOMALY_FEATURES = ("std", "rms", "ptp", "centroid")
FULL_FEATURES = ("mean", "std", "rms", "ptp", "kurt", "zcr", "dom", "centroid", "band")
# dataset -> model family -> make_spec keyword arguments (unknown datasets use the "default" row);
# "insitu" is the spec of the anomaly_detector demo (one-class SVM trained on the device)
FEATURE_SETS: dict[str, dict[str, dict]] = {
    "basicmotions": {"supervised": {}, "ocsvm": {"features": ANOMALY_FEATURES},
                     "insitu": {"features": ANOMALY_FEATURES}},
    "fan-sim": {"supervised": {"features": FULL_FEATURES, "bands_hz": [1, 10, 25, 50, 100], "magnitude": 3},
                "ocsvm": {"features": FULL_FEATURES, "bands_hz": [1, 10, 25, 50, 100], "magnitude": 3},
                "insitu": {"features": ("mean", "std", "centroid", "band"),
                           "bands_hz": [1, 5, 10, 20, 35, 50, 75, 100], "magnitude": 3}},
    "default": {"supervised": {}, "ocsvm": {"features": ANOMALY_FEATURES}, "insitu": {"features": ANOMALY_FEATURES}},
}
DEFAULT_NORMAL = {"basicmotions": "standing,walking", "fan-sim": "on"}
OC_NU = 0.1
OC_GAMMA = {"default": 0.1}   # times 1/n_features (features are standardized); per dataset if needed
THRESHOLD_KEEP = 8   # the device keeps this many lowest training scores


def threshold_from_scores(scores: np.ndarray) -> float:
    """The anomaly threshold rule of the app (anomaly_detector.calibrate): with s_k the k-th lowest
    training score, k = clamp(n // 50, 1, 8), and s_max the highest: s_k - (s_max - s_k) / 10."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    k = max(1, min(THRESHOLD_KEEP, len(s) // 50))
    return float(s[k - 1] - (s[-1] - s[k - 1]) / 10)


def feature_spec(ds, family: str):
    row = FEATURE_SETS.get(ds.name, FEATURE_SETS["default"])[family]
    if ds.rate_hz is None:
        raise UlearnError(f"dataset {ds.name} has no sample rate: SVM features need time series")
    return feat.make_spec(ds.X, ds.rate_hz, axis_names=ds.channels, **row)


def _normal_indices(ds, normal: str | None) -> list[int]:
    text = normal or DEFAULT_NORMAL.get(ds.name)
    if not text:
        raise UlearnError("ocsvm needs --normal CLASS[,CLASS...]: the classes that count as normal")
    out = []
    for item in text.split(","):
        item = item.strip()
        if item in ds.classes:
            out.append(ds.classes.index(item))
        elif item.isdigit() and int(item) < len(ds.classes):
            out.append(int(item))
        else:
            raise UlearnError(f"--normal {item!r} is not a class of {ds.name} ({', '.join(ds.classes)})")
    return out


def fit(ds, model: str, normal: str | None = None, seed: int = 0) -> tuple[bytes, E.FloatModel, dict]:
    """Train `model` on dataset `ds`; returns (blob, float twin, summary)."""
    from sklearn.svm import SVC, LinearSVC, OneClassSVM
    family = "ocsvm" if model == "ocsvm" else "supervised"
    spec = feature_spec(ds, family)
    F = feat.features_from_floats(ds.X, spec)
    summary: dict = {"dataset": ds.name, "model": model, "n_features": spec.n_features}
    if model == "ocsvm":
        idx = _normal_indices(ds, normal)
        Fn = F[np.isin(ds.y, idx)]
        if len(Fn) < 8:
            raise UlearnError(f"only {len(Fn)} normal training windows: need at least 8")
        norm = E.Normalizer.fit(Fn)
        z = E.standardized(Fn, norm)
        gamma = OC_GAMMA.get(ds.name, OC_GAMMA["default"])
        clf = OneClassSVM(nu=OC_NU, gamma=gamma / spec.n_features).fit(z)
        names = [ds.classes[i] for i in idx]
        blob, twin = E.export_ocsvm(clf, norm, spec.to_dict(), names)
        thr = threshold_from_scores(clf.decision_function(z))
        blob = _with_threshold(blob, thr)
        twin.params["threshold"] = thr
        summary.update(normal=names, n_sv=int(clf.support_vectors_.shape[0]), threshold=thr)
    else:
        norm = E.Normalizer.fit(F)
        z = E.standardized(F, norm)
        if model == "linear-svm":
            clf = LinearSVC(C=1.0, max_iter=50000, random_state=seed).fit(z, ds.y)
            blob, twin = E.export_linear(clf, norm, ds.classes, spec.to_dict())
        else:
            clf = SVC(C=10.0, kernel="rbf", gamma="scale").fit(z, ds.y)
            blob, twin = E.export_svc(clf, norm, ds.classes, spec.to_dict())
            summary["n_sv"] = int(clf.support_vectors_.shape[0])
        summary["train_accuracy"] = float((twin.predict(z) == ds.y).mean())
    twin.params["norm"] = {"mu": norm.mu.tolist(), "mul": norm.mul.tolist(), "sh": norm.sh.tolist()}
    summary["blob_bytes"] = len(blob)
    return blob, twin, summary


def _with_threshold(blob: bytes, thr_real: float) -> bytes:
    """Re-write a one-class blob with META threshold = thr_real in device score units."""
    from ulearn import blob as fmt

    from ..blob import write_blob
    b = fmt.Blob(blob)
    meta = b.meta()
    meta["threshold"] = int(np.floor(thr_real * meta["score_scale"] + 0.5))
    sections = {tag: bytes(b.section(tag)) for tag in b.tags() if tag != fmt.TAG_META}
    return write_blob(b.kind, meta, sections)


def twin_path(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".float.json")


def train(args: argparse.Namespace) -> int:
    """`ulearn train --model svm|linear-svm|ocsvm --data D --out M.mpy`: prints a JSON summary."""
    ds = load_dataset(args.data, seed=args.seed)
    blob, twin, summary = fit(ds, args.model, getattr(args, "normal", None), args.seed)
    out = save_model(blob, args.out, getattr(args, "arch", None))
    twin.save(twin_path(out))
    summary["out"] = str(out)
    print(json.dumps(summary, sort_keys=True))
    return 0


def _twin(args, meta: dict) -> E.FloatModel | None:
    p = twin_path(args.model)
    return E.FloatModel.load(p) if p.exists() else None


def evaluate(args: argparse.Namespace, blob_bytes: bytes) -> dict:
    """Run the blob on the test split with the device code; accuracy, agreement, heap (one dict)."""
    from ulearn import blob as fmt
    from ulearn.features.spec import parse
    b = fmt.Blob(blob_bytes)
    meta = b.meta()
    if not b.has(fmt.TAG_FEATURES):
        raise UlearnError(f"{args.model} has no feature spec (FEAT): evaluate it on features yourself")
    spec = parse(b.section(fmt.TAG_FEATURES))
    ds = load_dataset(args.data, seed=getattr(args, "seed", 0) or 0)
    X, y = ds.X_test, ds.y_test
    limit = getattr(args, "limit", None)
    if limit:
        X, y = X[:limit], y[:limit]
    if X.shape[1:] != (spec.window, spec.axes):
        raise UlearnError(f"{args.data} windows are {X.shape[1:]}, the model needs ({spec.window}, {spec.axes})")
    F = feat.features_from_floats(X, spec)
    run = run_model(blob_bytes, F, port=getattr(args, "port", None))
    pred = np.array(run["preds"])
    twin = _twin(args, meta)
    result: dict = {"n": int(len(y)), "blob_bytes": len(blob_bytes), "peak_heap": run["heap_after"],
                    "load_heap": run["load_heap"], "backend": run["backend"], "path": run["path"],
                    "target": args.port or "unix-port"}
    one_class = b.kind == fmt.KIND_ONECLASS_SVM
    fpred = fdec = None
    if twin is not None:
        nrm = twin.params["norm"]
        norm = E.Normalizer(np.array(nrm["mu"], np.int16), np.array(nrm["mul"], np.int16), np.array(nrm["sh"], np.int8))
        zs = E.standardized(F, norm)
        fdec = twin.decision(zs)
        fpred = twin.predict(zs)
    if one_class:
        names = meta.get("normal") or DEFAULT_NORMAL.get(ds.name, "").split(",")
        normal = np.isin(y, [ds.classes.index(n) for n in names if n in ds.classes])
        flag = pred < int(meta.get("threshold", 0))
        result.update(detection_rate=float(flag[~normal].mean()) if (~normal).any() else None,
                      false_alarm_rate=float(flag[normal].mean()) if normal.any() else None,
                      accuracy=float((flag == ~normal).mean()))
        per_class = {ds.classes[c]: float(flag[y == c].mean()) for c in np.unique(y)}
        result["flagged_per_class"] = per_class
        result.update(confusion_result(~normal, flag, ["normal", "anomaly"]))
        if twin is not None:
            fflag = fpred < twin.params.get("threshold", 0.0)
            result["float_accuracy"] = float((fflag == ~normal).mean())
            result["agreement"] = float((fflag == flag).mean())
            result["disagreements"] = [{"i": int(i), "float_score": float(fpred[i])}
                                       for i in np.nonzero(fflag != flag)[0]]
    else:
        result["accuracy"] = float((pred == y).mean())
        result.update(confusion_result(y, pred, ds.classes))
        if twin is not None:
            result["float_accuracy"] = float((fpred == y).mean())
            result["agreement"] = float((fpred == pred).mean())
            diff = np.nonzero(fpred != pred)[0]
            result["disagreements"] = [{"i": int(i), "float_margin": float(np.sort(np.abs(fdec[i]))[0])}
                                       for i in diff]
    if twin is None:
        result.update(float_accuracy=None, agreement=None)
    return result
