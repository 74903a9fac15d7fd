"""Datasets for training, evaluation, plots and labs: `load_dataset(name_or_path, seed)`.

Names: "basicmotions" (real smartwatch data, UEA archive; needs `make setup`), "digits"
(scikit-learn's 8x8 handwritten digits, as images), "fan-sim" (SIMULATED fan vibration). Anything
else is read as a path to an .npz file with X (n, T, C) float32 and integer y (see `npz`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UlearnError
from . import basicmotions, digits, fansim
from .dataset import Dataset, data_dir, stratified_split
from .npz import load_npz, save_npz

DATASETS: dict[str, Callable[[int], Dataset]] = {
    "basicmotions": basicmotions.load,
    "digits": digits.load,
    "fan-sim": fansim.load,
}

__all__ = ["DATASETS", "Dataset", "data_dir", "load_dataset", "load_npz", "prepare", "save_npz",
           "stratified_split"]


def load_dataset(name_or_path: str | Path, seed: int = 0) -> Dataset:
    """Load a dataset by name ("basicmotions", "digits", "fan-sim") or from an .npz path.

    seed fixes any split or simulation that depends on chance: the same seed gives the same arrays.
    Raises UlearnError with what to do when the data is missing or malformed.
    """
    key = str(name_or_path)
    norm = key.lower().replace("_", "-")
    if norm in ("fansim", "fan"):
        norm = "fan-sim"
    if norm in DATASETS:
        return DATASETS[norm](seed)
    p = Path(key)
    if p.suffix.lower() != ".npz" and not p.exists():
        raise UlearnError(f"unknown dataset {key!r}: use one of {', '.join(DATASETS)} or a path to an .npz file")
    return load_npz(p, seed=seed)


def prepare(quiet: bool = False) -> None:
    """Fetch and unpack every dataset that needs a download (BasicMotions); safe to run again."""
    basicmotions.prepare(quiet=quiet)
