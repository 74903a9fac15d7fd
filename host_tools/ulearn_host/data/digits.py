"""scikit-learn's 8x8 handwritten digits (UCI optical recognition of handwritten digits), as images."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset, stratified_split

PROVENANCE = ("scikit-learn load_digits: 1,797 8x8 images of handwritten digits 0-9, each pixel a count "
              "0..16 from 32x32 bitmaps (UCI ML repository, 'Optical Recognition of Handwritten Digits', "
              "E. Alpaydin and C. Kaynak, 1998). Recorded data, scaled to [0, 1].")


def load(seed: int = 0) -> Dataset:
    """Digits as (n, 8, 8, 1) float32 images in [0, 1] (pixel count / 16), labels 0..9 (int64).

    The train/test split is stratified with a fixed seed (25 % of each class held out).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images.astype(np.float32) / np.float32(16.0))[..., None]
    y = d.target.astype(np.int64)
    X_tr, y_tr, X_te, y_te = stratified_split(X, y, seed, name="digits")
    return Dataset(name="digits", X=X_tr, y=y_tr, X_test=X_te, y_test=y_te,
                   classes=[str(i) for i in range(10)], channels=["intensity"], rate_hz=None,
                   simulated=False, provenance=PROVENANCE + f" Stratified split, seed {seed}.",
                   kind="image", units="").validate()
