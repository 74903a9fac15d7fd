"""`.npz` datasets: round trip, stratified split, and a clear UlearnError for every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
from ulearn_host.data import load_dataset, save_npz
from ulearn_host.errors import UlearnError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _xy(n=40, t=16, c=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t, c)).astype(np.float32), np.arange(n) % k


def test_npz_without_test_split_is_split_stratified_and_reproducibly(tmp_path):
    X, y = _xy()
    p = _write(tmp_path / "mine.npz", X=X, y=y)
    a, b, c = load_dataset(p, seed=0), load_dataset(p, seed=0), load_dataset(p, seed=7)
    # 10 per class, a quarter (rounded) of each held out.
    assert a.name == "mine" and a.X.shape == (32, 16, 3) and a.X_test.shape == (8, 16, 3)
    assert list(np.bincount(a.y_test)) == [2, 2, 2, 2]
    assert set(a.y_test) == {0, 1, 2, 3} and set(a.y) == {0, 1, 2, 3}
    assert np.array_equal(a.X_test, b.X_test) and not np.array_equal(a.X_test, c.X_test)
    # Train and test are disjoint and together hold every example.
    rows = {r.tobytes() for r in np.concatenate([a.X, a.X_test])}
    assert len(rows) == 40 == len({r.tobytes() for r in X})
    assert a.classes == ["0", "1", "2", "3"] and a.channels == ["ch0", "ch1", "ch2"]
    assert a.simulated is False and a.rate_hz is None and "stratified" in a.provenance


def test_npz_with_test_split_and_metadata(tmp_path):
    X, y = _xy()
    Xt, yt = _xy(8, seed=1)
    p = _write(tmp_path / "full.npz", X=X.astype(np.float64), y=y.astype(np.int32), X_test=Xt, y_test=yt,
               classes=np.array(["a", "b", "c", "d"]), channels=np.array(["x", "y", "z"]),
               rate_hz=np.float64(50), simulated=np.bool_(True), provenance=np.str_("made by a test"))
    ds = load_dataset(p)
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64 and len(ds.X) == 40 and len(ds.X_test) == 8
    assert ds.classes == ["a", "b", "c", "d"] and ds.channels == ["x", "y", "z"]
    assert ds.rate_hz == 50.0 and ds.simulated is True and ds.provenance == "made by a test"


def test_save_npz_round_trip(tmp_path):
    ds = load_dataset("fan-sim")
    back = load_dataset(save_npz(ds, tmp_path / "fan.npz"))
    assert np.array_equal(back.X, ds.X) and np.array_equal(back.y_test, ds.y_test)
    assert (back.classes, back.channels, back.rate_hz, back.simulated, back.units, back.provenance) == \
        (ds.classes, ds.channels, ds.rate_hz, ds.simulated, ds.units, ds.provenance)


def test_image_npz_round_trip(tmp_path):
    ds = load_dataset("digits")
    back = load_dataset(save_npz(ds, tmp_path / "digits.npz"))
    assert back.kind == "image" and back.X.shape[1:] == (8, 8, 1)


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.zeros(4, int)}, "missing key 'X'"),
    ({"X": np.zeros((4, 8, 1), np.float32)}, "missing key 'y'"),
    ({"X": np.zeros((4, 8), np.float32), "y": np.zeros(4, int)}, r"X\[\.\.\., None\]"),
    ({"X": np.zeros(4, np.float32), "y": np.zeros(4, int)}, "shape"),
    ({"X": np.array([[["a"]]] * 4), "y": np.zeros(4, int)}, "numbers"),
    ({"X": np.full((4, 8, 1), np.nan, np.float32), "y": np.zeros(4, int)}, "NaN"),
    ({"X": np.full((4, 8, 1), 1e300), "y": np.zeros(4, int)}, "too large for float32"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0.0, 1.0, 0.0, 1.0])}, "integer labels"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array(["a", "b", "a", "b"])}, "classes"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0, -1, 0, 1])}, "negative"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.zeros(5, int)}, "4 examples but y has 5"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.zeros((4, 1), int)}, r"shape \(n,\)"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0, 0, 0, 1])}, "only 1 example"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0, 1, 0, 1]),
      "X_test": np.zeros((2, 8, 1), np.float32)}, "only one of X_test/y_test"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0, 1, 0, 1]),
      "X_test": np.zeros((2, 9, 1), np.float32), "y_test": np.array([0, 1])}, "same window"),
    ({"X": np.zeros((4, 8, 1), np.float32), "y": np.array([0, 1, 0, 2]), "X_test": np.zeros((2, 8, 1)),
      "y_test": np.array([0, 1]), "classes": np.array(["a", "b"])}, "names only 2"),
    ({"X": np.zeros((4, 8, 2), np.float32), "y": np.array([0, 1, 0, 1]), "X_test": np.zeros((2, 8, 2)),
      "y_test": np.array([0, 1]), "channels": np.array(["x"])}, "1 channel names for 2"),
])
def test_bad_npz_files_raise_clear_errors(tmp_path, arrays, message):
    p = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UlearnError, match=message):
        load_dataset(p)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(UlearnError, match="no such file"):
        load_dataset(str(tmp_path / "absent.npz"))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(UlearnError, match="not a readable .npz"):
        load_dataset(str(junk))
