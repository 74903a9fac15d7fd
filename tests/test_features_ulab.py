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
ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")
# largest difference allowed per feature (LSB of its scale); dom may differ on near ties only
TOLERANCE = {"mean": 1, "std": 4, "rms": 4, "min": 0, "max": 0, "ptp": 0, "skew": 24, "zcr": 0,
             "centroid": 1, "band0": 1, "band1": 1, "band2": 1, "band3": 1}

RUN = """
import json
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
spec = FeatureSpec(json.loads(open('spec.json').read()))
fx = Extractor(spec, path='ulab')
x = array('h', bytes(2 * spec.window * spec.axes))
out = array('h', bytes(2 * spec.n_features))
with open('windows.bin', 'rb') as f:
    while f.readinto(x) == 2 * len(x):
        fx.compute(x, out)
        print(json.dumps(list(out)))
"""


def run_ulab(spec, Xq: np.ndarray, folder: Path) -> np.ndarray:
    """Features of int16 windows by the ulab path (the ulab interpreter, lib/ on its path)."""
    (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
    (folder / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
    env = dict(os.environ, MICROPYPATH=str(unixport.LIB_DIR))
    out = subprocess.run([str(ULAB), "-X", "heapsize=256k", "-c", RUN], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return np.array([json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")])


@pytest.mark.skipif(not ULAB.exists(), reason=f"no ulab interpreter at {ULAB}: build it (backend make target) "
                                               "or set ULEARN_MICROPYTHON")
@pytest.mark.parametrize("name", ["basicmotions", "fan-sim"])
def test_ulab_path_close_to_q15_definition(name, tmp_path):
    ds = load_dataset(name)
    bands = [0.3, 1, 2.5, 5.01] if name == "basicmotions" else [1, 10, 25, 50, 100]
    spec = F.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=bands, magnitude=3)
    Xq = F.quantize(ds.X_test[:40], spec)
    host = F.compute(Xq, spec, check_saturation=False).astype(int)
    dev = run_ulab(spec, Xq, tmp_path)
    assert dev.shape == host.shape
    names = [n.split(".")[1] for n in spec.feature_names()]
    for j, f in enumerate(names):
        diff = np.abs(dev[:, j] - host[:, j])
        if f == "dom":
            assert (diff > 0).mean() <= 0.05, (f, diff)
        elif f == "kurt":
            assert (diff <= np.maximum(16, 0.015 * np.abs(host[:, j]))).all(), (f, diff.max())
        else:
            assert diff.max() <= TOLERANCE[f], (spec.feature_names()[j], diff.max())
