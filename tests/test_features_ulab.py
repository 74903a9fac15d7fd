"""The ulab feature path against the Q15 definition, on real windows, in the ulab interpreter.

Time-domain features and the magnitude channel must equal the Q15 definition (host numpy twin)
exactly; centroid and band within 1 LSB; dom equal except on near ties, where the Q15 FFT's
rounding noise (<= 3 LSB per component, measured) can swap the two largest bins. Also runs
tests/device/test_features_ulab_device.py inside the ulab build (the standard harness has no ulab).
"""

from __future__ import annotations

import ast
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
NEED_ULAB = pytest.mark.skipif(not ULAB.exists(), reason=f"no ulab MicroPython at {ULAB}: run make ulab-micropython "
                                                         "MPY_DIR=... or set ULEARN_MICROPYTHON")
ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")
EXACT = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr")
BANDS = {"basicmotions": [0.3, 1, 2.5, 5.01], "fan-sim": [1, 10, 25, 50, 100]}
NEAR_TIE = 8.0      # Q15 LSB of amplitude between the two largest bins (measured noise <= 2.75 per component)
DEVICE_FILE = Path(__file__).parent / "device" / "test_features_ulab_device.py"

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


def top_two_gap(Xq: np.ndarray, spec) -> np.ndarray:
    """(windows, channels): amplitude gap between the two largest bins k >= 1 of the exact DFT of the
    Q15 FFT's input (x - mean, clamped, << sl), in the Q15 FFT's output units (divided by nfft)."""
    x = Xq.astype(np.int64)
    t = spec.window
    chans = [x[:, :, i] for i in range(spec.axes)]
    if spec.magnitude:
        acc = sum((x[:, :, i] >> 1) ** 2 for i in range(spec.magnitude))
        chans.append(np.minimum(F.isqrt(acc) << 1, F.S16))
    ch = np.stack(chans, axis=1)
    mean = (2 * ch.sum(-1) + t) // (2 * t)
    big = np.maximum(ch.max(-1) - mean, mean - ch.min(-1))
    sl = np.zeros_like(big)
    while True:
        more = (big > 0) & ((big << (sl + 1)) <= F.S16)
        if not more.any():
            break
        sl += more
    d = np.clip(ch - mean[..., None], -F.S16, F.S16) << sl[..., None]
    amp = np.abs(np.fft.rfft(d.astype(float), n=spec.nfft, axis=-1))[..., 1:] / spec.nfft
    top = np.sort(amp, axis=-1)
    return top[..., -1] - top[..., -2]


def check_against_definition(dev: np.ndarray, host: np.ndarray, spec, Xq: np.ndarray, spectral_lsb: int = 1) -> dict:
    """Assert the agreement rules; return the largest |difference| per feature kind (dom: count)."""
    assert dev.shape == host.shape
    names = [n.split(".")[1] for n in spec.feature_names()]
    gap = top_two_gap(Xq, spec) if "dom" in names else None
    worst: dict = {}
    for j, f in enumerate(names):
        diff = np.abs(dev[:, j] - host[:, j])
        kind = f.rstrip("0123456789")
        if kind == "dom":
            bad = np.flatnonzero(diff)
            assert (gap[bad, j // spec.per_channel] < NEAR_TIE).all(), (spec.feature_names()[j], bad)
            worst[kind] = worst.get(kind, 0) + len(bad)
        else:
            limit = 0 if kind in EXACT else spectral_lsb
            assert diff.max() <= limit, (spec.feature_names()[j], int(diff.max()))
            worst[kind] = max(worst.get(kind, 0), int(diff.max()))
    return worst


@NEED_ULAB
@pytest.mark.parametrize("name", ["basicmotions", "fan-sim"])
def test_ulab_path_matches_q15_definition_on_real_windows(name, tmp_path):
    ds = load_dataset(name)
    spec = F.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=BANDS[name], magnitude=3)
    X = np.concatenate([ds.X_test, ds.X])[:400]        # BasicMotions: all 80 real windows
    Xq = F.quantize(X, spec)
    host = F.compute(Xq, spec, check_saturation=False).astype(int)
    dev, heap, errors = run_ulab(spec, Xq, tmp_path)
    assert not errors
    worst = check_against_definition(dev, host, spec, Xq)
    channels = len(Xq) * spec.channels
    assert worst["dom"] <= 0.02 * channels, worst     # near ties: 2 / 560 and 1 / 1600 channels measured
    # ulab allocates its results and small objects on every call: ~21-23 KB per window measured
    assert 0 < heap <= 32 * 1024, heap


@NEED_ULAB
def test_ulab_path_other_specs(tmp_path):
    """Subsets of features in another order, no magnitude / magnitude of 2 of 3 axes, nfft > window,
    a constant (real) channel, a saturating magnitude: the same definitions."""
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
        # window 5 is loud: the Q15 band root is quantized there (see tests/device/test_features_ulab_device.py)
        check_against_definition(dev, host, spec, Xq, spectral_lsb=8 if "band" in feats else 1)
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


DEVICE_TESTS = [n.name for n in ast.parse(DEVICE_FILE.read_text()).body
                if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


@NEED_ULAB
@pytest.mark.parametrize("compiled", [False, True], ids=["src", "mpy"])
@pytest.mark.parametrize("func", DEVICE_TESTS)
def test_device_file_in_the_ulab_interpreter(func, compiled, tmp_path):
    """tests/device/test_features_ulab_device.py, which skips without ulab, run in the ulab build."""
    r = unixport.run(script=DEVICE_FILE.parent / "_runner.py", args=[DEVICE_FILE.stem, func], micropython=str(ULAB),
                     path=[DEVICE_FILE.parent], compiled=compiled, cwd=tmp_path, check=False)
    assert r.stdout.rstrip().endswith("ULEARN-TEST PASS"), r.stdout + r.stderr


@NEED_ULAB
def test_default_path_prefers_viper_then_ulab(tmp_path):
    """With the ulab backend the extractor takes viper when it compiles (exact, no allocation, faster
    here), the ulab path only without viper, and only when ulab computes in float64."""
    code = ("import sys\nfrom ulearn import backend\nfrom ulearn.features import extract, _kulab\n"
            "print(backend.NAME, extract.default_path(), _kulab.double_precision(),"
            " 'ulearn.features._kviper' in sys.modules)\n"
            "def no_viper():\n    raise ImportError('no viper')\n"
            "extract._viper_path = no_viper\nprint(backend.NAME, extract.default_path())\n"
            "_kulab.double_precision = lambda: False\nprint(extract.default_path())\n"
            "spec = {'version': 1, 'window': 16, 'axes': 1, 'rate_hz': 1.0, 'hop': 16, 'nfft': 0,"
            " 'features': ['mean']}\n"
            "try:\n    extract.Extractor(spec, path='ulab')\nexcept ImportError as e:\n    print(e)\n")
    out = unixport.run(code, micropython=str(ULAB), cwd=tmp_path, env=dict(os.environ, ULEARN_BACKEND="ulab")).stdout
    lines = out.splitlines()
    assert lines[:3] == ["ulab viper True False", "ulab ulab", "python"], out   # probed without _kviper
    assert "float32" in lines[3] and "needs float64" in lines[3], out     # a float32 ulab: never the ulab path
