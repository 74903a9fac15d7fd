"""The `Dataset` record every trainer, evaluator and plot reads, and the checks that guard it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UlearnError

TEST_FRACTION = 0.25
"""Share of each class held out when a dataset has no test split of its own."""


@dataclass
class Dataset:
    """A labelled dataset, split into train and test.

    Attributes:
        name: short name ("basicmotions", "digits", "fan-sim" or the .npz file's stem).
        X: training inputs, float32. Time series: shape (n, T, C) = (windows, samples per window,
            channels), in the channel's physical unit. Images (``kind == "image"``, e.g. digits):
            shape (n, H, W, C), values in [0, 1], ready for a conv2d model.
        y: training labels, int64, shape (n,), values 0 .. len(classes) - 1.
        X_test, y_test: the held-out split, same layout as X and y.
        classes: class names; ``classes[k]`` names label k.
        channels: channel names (with units where known), ``len(channels) == X.shape[-1]``.
        rate_hz: sample rate of the time axis in Hz, or None (images, or unknown).
        simulated: True when the data comes from a simulator, not from a sensor.
        provenance: where the data comes from, how it was made, and how to cite it.
        kind: "timeseries" or "image".
        units: physical unit of the values (e.g. "m/s^2"), or "" when mixed/unknown.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    channels: list[str]
    rate_hz: float | None
    simulated: bool
    provenance: str
    kind: str = "timeseries"
    units: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def window(self) -> int:
        """Samples per window (T) for time series; image height for images."""
        return int(self.X.shape[1])

    def class_counts(self, split: str = "train") -> dict[str, int]:
        """Examples per class name in the "train" or "test" split."""
        y = self.y if split == "train" else self.y_test
        counts = np.bincount(y, minlength=self.n_classes)
        return {c: int(k) for c, k in zip(self.classes, counts, strict=True)}

    def summary(self) -> str:
        """A few human-readable lines: shapes, classes, counts, rate, provenance."""
        sim = "SIMULATED" if self.simulated else "recorded"
        rate = f"{self.rate_hz:g} Hz" if self.rate_hz else "no sample rate"
        lines = [
            f"{self.name}: {sim} {self.kind}, {rate}",
            f"  X {tuple(self.X.shape)} {self.X.dtype}, X_test {tuple(self.X_test.shape)}",
            f"  channels: {', '.join(self.channels)}",
            f"  train per class: {self.class_counts('train')}",
            f"  test per class:  {self.class_counts('test')}",
            f"  provenance: {self.provenance}",
        ]
        return "\n".join(lines)

    def validate(self) -> Dataset:
        """Check shapes, dtypes, label range and finiteness; raise UlearnError naming what is wrong."""
        check_arrays(self.name, self.X, self.y, "X", "y", n_classes=self.n_classes)
        check_arrays(self.name, self.X_test, self.y_test, "X_test", "y_test", n_classes=self.n_classes)
        if self.X.shape[1:] != self.X_test.shape[1:]:
            raise UlearnError(f"{self.name}: X is {self.X.shape[1:]} per example but X_test is "
                              f"{self.X_test.shape[1:]}; both splits need the same window and channels")
        if len(self.channels) != self.X.shape[-1]:
            raise UlearnError(f"{self.name}: {len(self.channels)} channel names for "
                              f"{self.X.shape[-1]} channels in X")
        if self.kind not in ("timeseries", "image"):
            raise UlearnError(f"{self.name}: kind must be 'timeseries' or 'image', not {self.kind!r}")
        return self


def check_arrays(name: str, X: np.ndarray, y: np.ndarray, xname: str, yname: str,
                 n_classes: int | None = None) -> None:
    """Raise UlearnError unless X is finite float32 (n, T, C) or (n, H, W, C) and y is int64 (n,)."""
    if X.dtype != np.float32:
        raise UlearnError(f"{name}: {xname} must be float32, got {X.dtype}")
    if X.ndim not in (3, 4):
        raise UlearnError(f"{name}: {xname} must have shape (n, T, C) (or (n, H, W, C) for images), "
                          f"got {X.shape}")
    if min(X.shape) == 0:
        raise UlearnError(f"{name}: {xname} is empty (shape {X.shape})")
    if y.dtype != np.int64 or y.ndim != 1:
        raise UlearnError(f"{name}: {yname} must be int64 with shape (n,), got {y.dtype} {y.shape}")
    if len(y) != len(X):
        raise UlearnError(f"{name}: {xname} has {len(X)} examples but {yname} has {len(y)} labels")
    if not np.isfinite(X).all():
        bad = int(np.size(X) - np.isfinite(X).sum())
        raise UlearnError(f"{name}: {xname} holds {bad} NaN/infinite values; clean or drop those windows")
    if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
        raise UlearnError(f"{name}: {yname} must lie in 0..{(n_classes or 1) - 1}, "
                          f"got {int(y.min())}..{int(y.max())}")


def stratified_split(X: np.ndarray, y: np.ndarray, seed: int,
                     test_fraction: float = TEST_FRACTION, name: str = "dataset"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (X, y) into train and test with every class in both; same seed, same split.

    Each class keeps ``round(test_fraction * count)`` examples (at least 1) for the test split.
    Returns (X_train, y_train, X_test, y_test); the order inside each split follows the input order.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5917]))
    test_mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        if len(idx) < 2:
            raise UlearnError(f"{name}: class {int(label)} has only {len(idx)} example; a train/test split "
                              "needs at least 2 per class (or store X_test/y_test in the file)")
        k = min(len(idx) - 1, max(1, round(test_fraction * len(idx))))
        test_mask[rng.choice(idx, size=k, replace=False)] = True
    return X[~test_mask], y[~test_mask], X[test_mask], y[test_mask]


def repo_root() -> Path | None:
    """The ulearn source tree this package runs from, or None when installed elsewhere."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "lib" / "ulearn").is_dir():
        return root
    return None


def data_dir() -> Path:
    """Where prepared datasets live: $ULEARN_DATA_DIR, else <repo>/.cache/data, else ~/.cache/ulearn/data."""
    env = os.environ.get("ULEARN_DATA_DIR")
    if env:
        return Path(env)
    root = repo_root()
    if root is not None:
        return root / ".cache" / "data"
    return Path.home() / ".cache" / "ulearn" / "data"
