"""Datasets stored as .npz files: `X` (n, T, C) and integer `y`, optionally `X_test`/`y_test`.

Optional keys: `classes` (strings, one per label), `channels` (strings, one per channel),
`rate_hz` (scalar), `simulated` (bool), `provenance` (string), `units` (string),
`kind` ("timeseries" or "image"). `ulearn record` writes this layout; `save_npz` writes it too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import UlearnError
from .dataset import Dataset, stratified_split

KNOWN_KEYS = {"X", "y", "X_test", "y_test", "classes", "channels", "rate_hz", "simulated",
              "provenance", "units", "kind"}


def _features(name: str, key: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "fiu":
        raise UlearnError(f"{name}: {key} must hold numbers (float32 preferred), got dtype {a.dtype}")
    if a.ndim == 2:
        raise UlearnError(f"{name}: {key} has shape {a.shape}; it must be (n, T, C) - for a single channel "
                          f"save X[..., None]")
    if a.ndim not in (3, 4):
        raise UlearnError(f"{name}: {key} must have shape (n, T, C) (or (n, H, W, C) for images), got {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int(a.size - np.isfinite(a).sum())
        raise UlearnError(f"{name}: {key} holds {bad} NaN/infinite values; clean or drop those windows")
    with np.errstate(over="ignore"):
        out = a.astype(np.float32)
    if not np.isfinite(out).all():
        raise UlearnError(f"{name}: {key} has values too large for float32")
    return out


def _labels(name: str, key: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "iu":
        hint = " (store class names in `classes` and integer labels 0..K-1 in y)" if a.dtype.kind in "USO" else ""
        raise UlearnError(f"{name}: {key} must hold integer labels, got dtype {a.dtype}{hint}")
    if a.ndim != 1:
        raise UlearnError(f"{name}: {key} must have shape (n,), got {a.shape}")
    if a.size and a.min() < 0:
        raise UlearnError(f"{name}: {key} holds negative labels ({int(a.min())}); labels are 0..K-1")
    return a.astype(np.int64)


def _strings(name: str, key: str, a: np.ndarray) -> list[str]:
    if a.dtype.kind not in "US" or a.ndim != 1:
        raise UlearnError(f"{name}: {key} must be a 1-D array of strings, got {a.dtype} {a.shape}")
    return [str(s) for s in a.tolist()]


def load_npz(path: str | Path, seed: int = 0) -> Dataset:
    """Load a dataset from an .npz file; split it (stratified, fixed seed) if it has no X_test/y_test.

    Raises UlearnError for a missing file, missing keys, wrong shapes or dtypes, NaN, or labels that
    are not non-negative integers matching `classes`.
    """
    p = Path(path)
    name = p.stem
    if not p.is_file():
        raise UlearnError(f"{p}: no such file; give a dataset name (basicmotions, digits, fan-sim) or an .npz path")
    try:
        with np.load(p, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UlearnError(f"{p}: not a readable .npz file ({e}); write it with numpy.savez") from e
    for key in ("X", "y"):
        if key not in data:
            raise UlearnError(f"{p}: missing key {key!r} (has {sorted(data)}); an .npz dataset needs X (n, T, C) "
                              "float32 and y integer labels")
    if ("X_test" in data) != ("y_test" in data):
        raise UlearnError(f"{p}: has only one of X_test/y_test; store both or neither")
    X = _features(name, "X", data["X"])
    y = _labels(name, "y", data["y"])
    if len(X) != len(y):
        raise UlearnError(f"{p}: X has {len(X)} examples but y has {len(y)} labels")
    if "X_test" in data:
        X_test = _features(name, "X_test", data["X_test"])
        y_test = _labels(name, "y_test", data["y_test"])
        if len(X_test) != len(y_test):
            raise UlearnError(f"{p}: X_test has {len(X_test)} examples but y_test has {len(y_test)} labels")
        split_note = ""
    else:
        X, y, X_test, y_test = stratified_split(X, y, seed, name=str(p))
        split_note = f" (stratified {len(y_test)}-example test split, seed {seed})"

    top = int(max(y.max(), y_test.max())) + 1
    classes = _strings(name, "classes", data["classes"]) if "classes" in data else [str(i) for i in range(top)]
    if top > len(classes):
        raise UlearnError(f"{p}: labels go up to {top - 1} but `classes` names only {len(classes)} classes")
    channels = (_strings(name, "channels", data["channels"]) if "channels" in data
                else [f"ch{i}" for i in range(X.shape[-1])])
    rate = float(data["rate_hz"]) if "rate_hz" in data and float(data["rate_hz"]) > 0 else None
    simulated = bool(data["simulated"]) if "simulated" in data else False
    provenance = str(data["provenance"]) if "provenance" in data else f"loaded from {p}"
    ds = Dataset(name=name, X=X, y=y, X_test=X_test, y_test=y_test, classes=classes, channels=channels,
                 rate_hz=rate, simulated=simulated, provenance=provenance + split_note,
                 kind=str(data["kind"]) if "kind" in data else ("image" if X.ndim == 4 else "timeseries"),
                 units=str(data["units"]) if "units" in data else "")
    return ds.validate()


def save_npz(ds: Dataset, path: str | Path) -> Path:
    """Write a Dataset (both splits and its metadata) to an .npz that `load_npz` reads back unchanged."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(p, X=ds.X, y=ds.y, X_test=ds.X_test, y_test=ds.y_test,
                        classes=np.array(ds.classes), channels=np.array(ds.channels),
                        rate_hz=np.float64(ds.rate_hz or 0.0), simulated=np.bool_(ds.simulated),
                        provenance=np.str_(ds.provenance), units=np.str_(ds.units), kind=np.str_(ds.kind))
    return p
