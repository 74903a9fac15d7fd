"""The ulab feature path against the Q15 definition, on real windows, in the ulab interpreter."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ulearn_host import features as F
from ulearn_host import unixport
from ulearn_host.data import load_dataset

ULAB = Path(os.environ.get("ULEARN_MICROPYTHON") or unixport.CACHE_DIR / "micropython-ulab" / "micropython")
NEED_ULAB = pytest.mark.skipif(not ULAB.exists(), reason=f"no ulab interpreter at {ULAB}: build it (backend make "
                                                         "target) or set ULEARN_MICROPYTHON")
ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")
# largest difference allowed per feature (LSB of its scale); dom may differ on near ties only
TOLERANCE = {"mean": 1, "std": 4, "rms": 4, "min": 0, "max": 0, "ptp": 0, "skew": 24, "zcr": 0,
             "centroid": 1, "band0": 1, "band1": 1, "band2": 1, "band3": 1}
BANDS = {"basicmotions": [0.3, 1, 2.5, 5.01], "fan-sim": [1, 10, 25, 50, 100]}

RUN = """
import json, gc
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
spec = FeatureSpec(json.loads(open('spec.json').read()))
fx = Extractor(spec, path='ulab')
x = array('h', bytes(2 * spec.window * spec.axes))
out = array('h', bytes(2 * spec.n_features))
heap = []
with open('windows.bin', 'rb') as f:
    while f.readinto(x) == 2 * len(x):
        try:
            fx.compute(x, out)
        except ValueError as e:
            print('ValueError:', e)
            continue
        print(json.dumps(list(out)))
        gc.collect()
        a = gc.mem_alloc()
        fx.compute(x, out)
        heap.append(gc.mem_alloc() - a)
print('heap', max(heap) if heap else 0)
"""


def run_ulab(spec, Xq: np.ndarray, folder: Path) -> tuple[np.ndarray, int, list[str]]:
    """Features of int16 windows by the ulab path (the ulab interpreter, lib/ on its path); also the
    largest heap allocated by one window after warm-up and the ValueError lines."""
    (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
    (folder / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
    env = dict(os.environ, MICROPYPATH=str(unixport.LIB_DIR))
    out = subprocess.run([str(ULAB), "-X", "heapsize=256k", "-c", RUN], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    feats = np.array([json.loads(ln) for ln in lines if ln.startswith("[")])
    heap = [int(ln.split()[1]) for ln in lines if ln.startswith("heap ")][0]
    return feats, heap, [ln for ln in lines if ln.startswith("ValueError")]


def check_close(dev: np.ndarray, host: np.ndarray, spec) -> None:
    assert dev.shape == host.shape
    names = [n.split(".")[1] for n in spec.feature_names()]
    for j, f in enumerate(names):
        diff = np.abs(dev[:, j] - host[:, j])
        if f == "dom":
            # near ties only (e.g. fan-sim window 3 below: bins 44 and 9 within 0.2 % in power)
            assert (diff > 0).sum() <= max(1, 0.05 * len(diff)), (f, diff)
        elif f == "kurt":
            assert (diff <= np.maximum(16, 0.015 * np.abs(host[:, j]))).all(), (f, diff.max())
        else:
            assert diff.max() <= TOLERANCE[f], (spec.feature_names()[j], diff.max())


@NEED_ULAB
@pytest.mark.parametrize("name", ["basicmotions", "fan-sim"])
def test_ulab_path_close_to_q15_definition(name, tmp_path):
    ds = load_dataset(name)
    spec = F.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=BANDS[name], magnitude=3)
    Xq = F.quantize(ds.X_test[:40], spec)
    host = F.compute(Xq, spec, check_saturation=False).astype(int)
    dev, heap, errors = run_ulab(spec, Xq, tmp_path)
    assert not errors
    check_close(dev, host, spec)
    # ulab allocates its results; after the rewrite ~20-23 KB per window (it was ~140-180 KB)
    assert 0 < heap <= 32 * 1024, heap


@NEED_ULAB
def test_ulab_path_other_specs(tmp_path):
    """Subsets of features in another order, no magnitude / magnitude of 2 of 3 axes, nfft > window,
    a constant (real) channel: the same definitions."""
    ds = load_dataset("fan-sim")
    X = ds.X_test[:12].copy()
    X[3, :, 1] = X[3, 0, 1]                          # one real sample held: a constant channel
    for feats, magnitude, nfft, bands in ((("kurt", "band", "mean", "skew"), 0, 256, [5, 40, 200]),
                                          (("zcr", "centroid", "ptp", "dom", "std"), 2, None, None),
                                          (("rms", "min", "max"), 3, None, None),
                                          (ALL, 0, None, [2, 30, 90])):
        one_axis = feats == ALL                      # a single axis, every feature
        spec = F.make_spec(X[:, :, :1] if one_axis else X, ds.rate_hz, features=feats, bands_hz=bands,
                           magnitude=magnitude, nfft=nfft)
        Xq = F.quantize(X[:, :, :1] if one_axis else X, spec)
        big = np.abs(Xq[5]).max(0)                   # window 5 scaled up: its magnitude saturates
        Xq[5] = np.clip(Xq[5].astype(int) * (30000 // big), -32766, 32766)
        host = F.compute(Xq, spec, check_saturation=False).astype(int)
        dev, _, errors = run_ulab(spec, Xq, tmp_path)
        assert not errors
        check_close(dev, host, spec)
        if magnitude and "max" in feats:
            assert dev[5, spec.feature_names().index("mag.max")] == 32767
        per = spec.per_channel
        const = [i for i, n in enumerate(spec.feature_names()) if i // per == 1 and not one_axis
                 and n.split(".")[1] in ("std", "skew", "kurt", "ptp")]
        assert (dev[3, const] == 0).all() and (host[3, const] == 0).all()


@NEED_ULAB
def test_ulab_path_refuses_saturated_window(tmp_path):
    ds = load_dataset("fan-sim")
    spec = F.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=BANDS["fan-sim"], magnitude=3)
    Xq = F.quantize(ds.X_test[:2], spec)
    Xq[1, 5, 2] = 32767                              # a sensor stuck at full scale on axis 2
    dev, _, errors = run_ulab(spec, Xq, tmp_path)
    assert len(dev) == 1 and len(errors) == 1
    assert "axis 2 is saturated" in errors[0] and "lower the sensor gain" in errors[0]


def test_ulab_path_is_never_a_silent_fallback(tmp_path):
    """Asking for the ulab path where ulab is absent (the PyPI unix port) is an ImportError."""
    code = ("from ulearn.features.extract import Extractor\n"
            "spec = {'version': 1, 'window': 16, 'axes': 1, 'rate_hz': 1.0, 'hop': 16, 'nfft': 0,"
            " 'features': ['mean']}\n"
            "try:\n    Extractor(spec, path='ulab')\n    print('no error')\n"
            "except ImportError as e:\n    print('ImportError', e)\n")
    out = unixport.run(code, cwd=tmp_path).stdout
    assert out.startswith("ImportError") and "ulab" in out, out
