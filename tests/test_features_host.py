"""Host features (numpy) against the device (CPython and MicroPython, python and viper paths)."""

from __future__ import annotations

import json
import math
from array import array

import numpy as np
import pytest
from ulearn.features.extract import Extractor
from ulearn.features.spec import FeatureSpec

from ulearn_host import features as F
from ulearn_host import unixport
from ulearn_host.data import load_dataset
from ulearn_host.errors import UlearnError

ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")


@pytest.fixture(scope="module")
def real_windows():
    """Real BasicMotions windows (all 80) and 32 simulated fan windows, with their specs."""
    bm = load_dataset("basicmotions")
    fan = load_dataset("fan-sim")
    bm_spec = F.make_spec(bm.X, bm.rate_hz, features=ALL, bands_hz=[0.3, 1, 2.5, 5.01], magnitude=3)
    fan_spec = F.make_spec(fan.X, fan.rate_hz, features=ALL, bands_hz=[1, 10, 25, 50, 100], magnitude=3)
    bm_q = F.quantize(np.concatenate([bm.X, bm.X_test]), bm_spec)
    fan_q = F.quantize(fan.X_test[::9][:32], fan_spec)
    return [(bm_spec, bm_q), (fan_spec, fan_q)]


DEVICE_RUN = """
import json, sys
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
spec = FeatureSpec(json.loads(open('spec.json').read()))
fx = Extractor(spec, path=sys.argv[1] if len(sys.argv) > 1 else {path!r})
x = array('h', bytes(2 * spec.window * spec.axes))
out = array('h', bytes(2 * spec.n_features))
with open('windows.bin', 'rb') as f:
    while f.readinto(x) == 2 * len(x):
        fx.compute(x, out)
        print(json.dumps(list(out)))
"""


def _device(spec: FeatureSpec, Xq: np.ndarray, path: str, tmp_path, compiled=False, env=None) -> np.ndarray:
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    (tmp_path / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
    out = unixport.run(DEVICE_RUN.format(path=path), cwd=tmp_path, compiled=compiled, env=env).stdout
    return np.array([json.loads(line) for line in out.splitlines() if line.startswith("[")])


@pytest.mark.parametrize("path", ["python", "viper"])
def test_host_equals_micropython_on_real_windows(real_windows, path, tmp_path):
    for spec, Xq in real_windows:
        host = F.compute(Xq, spec, check_saturation=False)
        dev = _device(spec, Xq, path, tmp_path, compiled=(path == "viper"))
        assert dev.shape == host.shape
        assert np.abs(dev - host).max() <= 1            # the contract; in fact they are equal
        assert (dev == host).all()


def test_host_equals_device_code_under_cpython(real_windows):
    spec, Xq = real_windows[0]
    host = F.compute(Xq[:10], spec, check_saturation=False)
    fx = Extractor(spec, path="python")
    out = array("h", bytes(2 * spec.n_features))
    for i in range(10):
        fx.compute(array("h", Xq[i].ravel().tolist()), out)
        assert list(out) == host[i].tolist()


def test_features_mean_what_they_say():
    """Against float formulas on a noisy sine: the scales in the spec docstring are right."""
    t = np.arange(128)
    rng = np.random.default_rng(0)
    x = 2000 * np.sin(2 * np.pi * 10 * t / 128) + 300 + rng.normal(0, 200, 128)
    spec = FeatureSpec({"version": 1, "window": 128, "axes": 1, "rate_hz": 100.0, "hop": 128, "nfft": 128,
                        "features": list(ALL), "bands": [[5, 15], [15, 40]]})
    q = np.round(x).astype(np.int16)[None, :, None]
    f = dict(zip(spec.feature_names(), F.compute(q, spec)[0].tolist(), strict=True))
    xf = q[0, :, 0].astype(float)
    d = xf - xf.mean()
    assert abs(f["ch0.mean"] - xf.mean()) <= 0.5
    assert abs(f["ch0.std"] - xf.std()) / xf.std() < 0.01
    assert abs(f["ch0.rms"] - np.sqrt((xf ** 2).mean())) / xf.std() < 0.01
    assert abs(f["ch0.skew"] / 256 - (d ** 3).mean() / xf.std() ** 3) < 0.05
    assert abs(f["ch0.kurt"] / 256 - (d ** 4).mean() / xf.std() ** 4) < 0.05
    zc = np.count_nonzero(np.diff(np.signbit(d)))
    assert abs(f["ch0.zcr"] - zc / 127 * 32767) <= 1
    assert f["ch0.dom"] == 10 << 4
    spec_p = np.abs(np.fft.rfft(d))[1:] ** 2
    centroid = (np.arange(1, 65) * spec_p).sum() / spec_p.sum()
    assert abs(f["ch0.centroid"] / 16 - centroid) < 0.3
    band = np.sqrt((np.abs(np.fft.fft(d) / 128) ** 2)[5:15].sum() / 2)
    assert abs(f["ch0.band0"] - band) / band < 0.02


def test_q15_fft_close_to_numpy():
    rng = np.random.default_rng(1)
    x = rng.integers(-20000, 20000, size=(4, 256))
    re, im = F.fft_q15(x.astype(np.int64), np.zeros((4, 256), np.int64))
    ref = np.fft.fft(x, axis=-1) / 256
    err = np.maximum(np.abs(re - ref.real), np.abs(im - ref.imag)).max()
    assert err <= 4, err          # 8 stages, each rounding by at most half an LSB after halving


def test_quantize_refuses_nan_and_matches_device_rounding():
    spec = FeatureSpec({"version": 1, "window": 8, "axes": 2, "rate_hz": 1.0, "hop": 8, "nfft": 0,
                        "features": ["mean"], "in_scale": [10.0, 100.0]})
    X = np.array([[[0.05, -0.005], [1.25, -1.255], [-3.3, 400.0]] + [[0, 0]] * 5])
    q = F.quantize(X, spec)
    fx = Extractor(spec, path="python")
    out = array("h", bytes(32))
    fx.quantize(X[0].ravel().tolist(), out)
    assert list(out) == q[0].ravel().tolist()
    assert q[0, 2, 1] == 32767
    X[0, 1, 0] = math.nan
    with pytest.raises(UlearnError, match="NaN"):
        F.quantize(X, spec)


def test_saturated_window_is_refused_on_host():
    spec = F.make_spec(np.ones((2, 16, 1)), 10.0, features=("std",))
    with pytest.raises(UlearnError, match="saturated"):
        F.compute(np.full((1, 16, 1), 32767, np.int16), spec)
    with pytest.raises(UlearnError, match="shape"):
        F.compute(np.zeros((1, 15, 1), np.int16), spec)


def test_feature_spec_blob_loads_as_an_extractor(tmp_path):
    import ulearn
    from ulearn import blob as fmt

    from ulearn_host.blob import save_model, write_blob
    spec = F.make_spec(np.ones((2, 32, 3)) * [1, 2, 3], 50.0, features=("mean", "std", "dom"), hop=16)
    b = write_blob(fmt.KIND_FEATURE_SPEC, {"name": "spec"}, {fmt.TAG_FEATURES: json.dumps(spec.to_dict()).encode()})
    save_model(b, tmp_path / "spec.ulb")
    fx = ulearn.load(str(tmp_path / "spec.ulb"))
    assert fx.info()["n_features"] == 9
    assert fx.spec.same_as(spec)
