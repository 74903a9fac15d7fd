"""Small result metrics shared by the evaluators and the plots (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_from_labels(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Confusion counts (n_classes, n_classes): row = true class, column = predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m


def confusion_result(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """{"classes": [...], "confusion": [[...]]} for an eval JSON line (what `ulearn plot confusion` reads)."""
    return {"classes": list(classes),
            "confusion": confusion_from_labels(y_true, y_pred, len(classes)).tolist()}
