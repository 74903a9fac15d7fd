"""Datasets: shapes, dtypes, determinism, provenance and the simulated flag of every named dataset."""

from __future__ import annotations

import numpy as np
import pytest
from ulearn_host.data import DATASETS, basicmotions, load_dataset
from ulearn_host.data.basicmotions import parse_ts
from ulearn_host.errors import UlearnError


def _basicmotions_or_skip():
    if not basicmotions.is_prepared():
        pytest.skip("BasicMotions not prepared: run `make setup` (or `python -m ulearn_host.data prepare`)")
    return load_dataset("basicmotions")


def _common(ds):
    assert ds.X.dtype == np.float32 and ds.X_test.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.X.shape[0] == ds.y.shape[0] and ds.X_test.shape[0] == ds.y_test.shape[0]
    assert ds.X.shape[1:] == ds.X_test.shape[1:]
    assert len(ds.channels) == ds.X.shape[-1]
    assert set(np.unique(ds.y)) == set(range(len(ds.classes))) == set(np.unique(ds.y_test))
    assert np.isfinite(ds.X).all() and np.isfinite(ds.X_test).all()
    assert ds.provenance


def test_basicmotions_shapes_classes_provenance():
    ds = _basicmotions_or_skip()
    _common(ds)
    assert ds.X.shape == (40, 100, 6) and ds.X_test.shape == (40, 100, 6)
    assert ds.classes == ["standing", "walking", "running", "badminton"]
    assert ds.channels[:3] == ["acc_x", "acc_y", "acc_z"] and ds.channels[3:] == ["gyro_x", "gyro_y", "gyro_z"]
    assert ds.rate_hz == 10.0 and ds.simulated is False
    assert list(np.bincount(ds.y)) == [10] * 4 and list(np.bincount(ds.y_test)) == [10] * 4
    assert "UEA" in ds.provenance and "arXiv:1811.00075" in ds.provenance and "aeon==1.6.0" in ds.provenance
    # Activity really shows in the data: standing moves far less than running.
    spread = [ds.X[ds.y == k, :, :3].std(axis=1).mean() for k in range(4)]
    assert spread[0] < spread[2] / 5


def test_basicmotions_first_values_match_the_file():
    ds = _basicmotions_or_skip()
    text = (basicmotions.folder() / "BasicMotions_TRAIN.ts").read_text()
    first = next(line for line in text.splitlines() if line and line[0] not in "#@")
    dims = first.split(":")
    assert ds.X[0, :3, 0].tolist() == pytest.approx([float(v) for v in dims[0].split(",")[:3]])
    assert ds.X[0, 0, 5] == pytest.approx(float(dims[5].split(",")[0]))
    assert ds.classes[ds.y[0]] == dims[-1].lower()


def test_basicmotions_missing_files_say_run_make_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("ULEARN_DATA_DIR", str(tmp_path))
    with pytest.raises(UlearnError, match="make setup"):
        load_dataset("basicmotions")


def test_basicmotions_prepare_from_a_wheel_checks_hashes(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("ULEARN_DATA_DIR", str(tmp_path / "data"))
    fake = tmp_path / "aeon-1.6.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as z:
        for split in ("TRAIN", "TEST"):
            z.writestr(basicmotions.MEMBER.format(split=split), "@problemName X\n@data\n1,2:a\n")
    with pytest.raises(UlearnError, match="SHA-256"):
        basicmotions.prepare(wheel=fake, quiet=True)
    assert not basicmotions.is_prepared()


def test_ts_parser():
    text = ("# comment\n@problemName T\n@dimensions 2\n@equalLength true\n@classLabel true a b\n@data\n"
            "1,2,3:4,5,6:a\n7,8,9:10,11,12:b\n")
    X, labels, header = parse_ts(text)
    assert X.shape == (2, 3, 2) and X.dtype == np.float32
    assert X[0, :, 0].tolist() == [1, 2, 3] and X[1, :, 1].tolist() == [10, 11, 12]
    assert labels == ["a", "b"] and header["classlabel"] == "true a b"
    with pytest.raises(UlearnError, match="unequal"):
        parse_ts("@data\n1,2,3:4,5:a\n")
    with pytest.raises(UlearnError, match="missing values"):
        parse_ts("@data\n1,?,3:4,5,6:a\n")
    with pytest.raises(UlearnError, match="no @data"):
        parse_ts("@problemName x\n")


def test_digits_images():
    ds = load_dataset("digits")
    _common(ds)
    assert ds.kind == "image" and ds.X.shape[1:] == (8, 8, 1)
    assert len(ds.X) + len(ds.X_test) == 1797
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0 and ds.X.max() == 1.0
    assert ds.classes == [str(i) for i in range(10)] and ds.rate_hz is None and not ds.simulated
    # Stratified: every class holds out about a quarter of its examples.
    frac = np.bincount(ds.y_test) / (np.bincount(ds.y) + np.bincount(ds.y_test))
    assert np.all(np.abs(frac - 0.25) < 0.02)


def test_digits_split_depends_on_seed_only():
    a, b, c = load_dataset("digits", seed=0), load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X, c.X)


def test_fan_sim_shapes_and_flag():
    ds = load_dataset("fan-sim")
    _common(ds)
    assert ds.X.shape == (768, 128, 3) and ds.X_test.shape == (288, 128, 3)
    assert ds.classes == ["off", "on", "clogged", "friction"]
    assert ds.rate_hz == 200.0 and ds.units == "m/s^2"
    assert ds.simulated is True and "SIMULATED" in ds.provenance
    assert list(np.bincount(ds.y)) == [192] * 4 and list(np.bincount(ds.y_test)) == [72] * 4


def test_fan_sim_deterministic_per_seed():
    a, b, c = load_dataset("fan-sim", 3), load_dataset("fan-sim", 3), load_dataset("fan-sim", 4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X, c.X)


def test_name_aliases_and_unknown_name():
    assert load_dataset("FAN_SIM").name == "fan-sim"
    with pytest.raises(UlearnError, match="unknown dataset"):
        load_dataset("no-such-dataset")
    assert set(DATASETS) == {"basicmotions", "digits", "fan-sim"}


def test_summary_mentions_simulated():
    text = load_dataset("fan-sim").summary()
    assert "SIMULATED" in text and "(768, 128, 3)" in text
