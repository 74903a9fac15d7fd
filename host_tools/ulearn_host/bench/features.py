"""`ulearn bench features`: feature extraction per 3-axis 128-sample window, each path against pure
Python on the same interpreter; heap allocated per window after warm-up; FFT alone; host agreement.

Interpreters: the PyPI MicroPython unix port (python and viper paths) and, when present, the ulab
build ($ULEARN_MICROPYTHON or .cache/micropython-ulab/micropython: python, viper and ulab paths).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import features as feat
from .. import unixport
from ..data import load_dataset

ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")

SCRIPT = """
import time, gc, json
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
from ulearn.features import kernels
spec = FeatureSpec(json.loads(open('spec.json').read()))
x = array('h', bytes(2 * spec.window * spec.axes))
with open('windows.bin', 'rb') as f:
    f.readinto(x)
def heap_per_call(fn, n=5):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for i in range(n):
        fn()
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) // n
res = {{}}
for path in {paths!r}:
    try:
        fx = Extractor(spec, path=path)
    except ImportError as e:
        res[path] = {{'error': str(e)}}
        continue
    out = array('h', bytes(2 * spec.n_features))
    fx.compute(x, out)
    reps = {reps} if path != 'python' else max(5, {reps} // 5)
    heap = heap_per_call(lambda: fx.compute(x, out))
    t0 = time.ticks_us()
    for i in range(reps):
        fx.compute(x, out)
    dt = time.ticks_diff(time.ticks_us(), t0) / reps
    res[path] = {{'us_per_window': dt, 'heap_per_window': heap}}
for n in (128, 256):
    c, s = kernels.twiddles(n)
    re = array('h', bytes(2 * n))
    im = array('h', bytes(2 * n))
    for name in ('python', 'viper'):
        try:
            k = kernels.kernels(name)
        except ImportError:
            continue
        reps = 200 if name == 'viper' else 20
        t0 = time.ticks_us()
        for i in range(reps):
            k[4](re, im, n, c, s)
        res['fft%d_%s_us' % (n, name)] = time.ticks_diff(time.ticks_us(), t0) / reps
    try:
        from ulab import numpy as np
        b = np.zeros(n)
        t0 = time.ticks_us()
        for i in range(200):
            np.fft.fft(b)
        res['fft%d_ulab_us' % n] = time.ticks_diff(time.ticks_us(), t0) / 200
    except ImportError:
        pass
print(json.dumps(res))
"""


def ulab_interpreter() -> Path | None:
    p = Path(os.environ.get("ULEARN_MICROPYTHON") or unixport.CACHE_DIR / "micropython-ulab" / "micropython")
    return p if p.exists() else None


def _run(exe: str, folder: Path, paths: list[str], reps: int) -> dict:
    env = dict(os.environ, MICROPYPATH=str(unixport.LIB_DIR))
    out = subprocess.run([exe, "-X", "heapsize=4m", "-c", SCRIPT.format(paths=paths, reps=reps)], cwd=folder,
                         env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(out.stdout + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    """Print and return the feature-extraction ratios."""
    quick = getattr(args, "quick", False)
    reps = 20 if quick else 100
    ds = load_dataset("fan-sim")
    spec = feat.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=[1, 10, 25, 50, 100], magnitude=3)
    Xq = feat.quantize(ds.X_test[:8], spec)
    results: dict = {"window": "3 axes x 128 samples (+ magnitude), %d features" % spec.n_features}
    with tempfile.TemporaryDirectory(prefix="ulearn-bench-features-") as tmp:
        folder = Path(tmp)
        (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
        (folder / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
        interpreters = [("micropython (PyPI unix port)", unixport.micropython_exe(), ["python", "viper"])]
        ulab = ulab_interpreter()
        if ulab:
            interpreters.append(("micropython + ulab", str(ulab), ["python", "viper", "ulab"]))
        for label, exe, paths in interpreters:
            r = _run(exe, folder, paths, reps)
            results[label] = r
            base = r["python"]["us_per_window"]
            print(f"{label}:")
            for p in paths:
                if "error" in r[p]:
                    print(f"  {p:<7} not available: {r[p]['error']}")
                    continue
                us = r[p]["us_per_window"]
                r[p]["ratio_vs_python"] = base / us
                print(f"  {p:<7} {us:9.1f} us/window  {base / us:6.1f}x pure Python  "
                      f"heap/window after warm-up: {r[p]['heap_per_window']} B")
            for n in (128, 256):
                py = r.get(f"fft{n}_python_us")
                for other in ("viper", "ulab"):
                    v = r.get(f"fft{n}_{other}_us")
                    if py and v:
                        print(f"  FFT-{n} {other}: {v:.1f} us vs pure-Python Q15 {py:.1f} us ({py / v:.0f}x)")
        if not ulab:
            print("ulab path: skipped, no ulab interpreter (build .cache/micropython-ulab/micropython or set "
                  "ULEARN_MICROPYTHON)")
        bm = load_dataset("basicmotions")
        bspec = feat.make_spec(bm.X, bm.rate_hz, features=ALL, bands_hz=[0.3, 1, 2.5, 5.01], magnitude=3)
        bq = feat.quantize(bm.X_test, bspec)
        (folder / "spec.json").write_text(json.dumps(bspec.to_dict()))
        (folder / "windows.bin").write_bytes(np.ascontiguousarray(bq, dtype="<i2").tobytes())
        code = ("import json\nfrom array import array\nfrom ulearn.features.spec import FeatureSpec\n"
                "from ulearn.features.extract import Extractor\n"
                "spec = FeatureSpec(json.loads(open('spec.json').read()))\nfx = Extractor(spec, path='viper')\n"
                "x = array('h', bytes(2 * spec.window * spec.axes))\nout = array('h', bytes(2 * spec.n_features))\n"
                "f = open('windows.bin', 'rb')\nwhile f.readinto(x) == 2 * len(x):\n"
                "    fx.compute(x, out)\n    print(json.dumps(list(out)))\n")
        dev = np.array([json.loads(ln) for ln in unixport.run(code, cwd=folder).stdout.splitlines()])
        host = feat.compute(bq, bspec, check_saturation=False)
        diff = int(np.abs(dev - host).max())
        results["host_vs_device_max_lsb_basicmotions_test"] = diff
        print(f"host (numpy) vs device (viper) on the 40 real BasicMotions test windows: max |diff| = {diff} LSB")
    return results
