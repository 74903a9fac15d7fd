"""`ulearn bench features`: feature extraction per window, each path against pure Python on the same
interpreter and the same windows (40 simulated fan-sim test windows, 3 axes x 128 samples, and the 40
real BasicMotions test windows, 6 axes x 100 samples; magnitude channel, every feature), all paths
and both data sets in ONE interpreter process (-X heapsize=512k, board-sized; the ulab path is also
timed with a 4 MB heap, where its short-lived arrays land in cold memory and it runs slower); the
median of 5 timed runs with their spread; heap allocated per window after warm-up; the ulab path's
largest difference from the Q15 definition (host numpy) per feature; what one ulab call costs here;
FFT alone; host agreement.

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
import time, gc, json, os
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
from ulearn.features import kernels
def heap_per_window(fx, xs, out, nw, t):
    nw = min(nw, 4)                     # gc off: a few windows (the ulab path allocates ~20 KB each)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for i in range(nw):
        fx.compute(xs, out, i * t)
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) // nw
res = {{}}
for name in {datasets!r}:
    xs = None
    gc.collect()
    spec = FeatureSpec(json.loads(open(name + '/spec.json').read()))
    t = spec.window
    xs = array('h', bytes(os.stat(name + '/windows.bin')[6]))
    with open(name + '/windows.bin', 'rb') as f:
        f.readinto(xs)
    nw = len(xs) // (t * spec.axes)
    out = array('h', bytes(2 * spec.n_features))
    r = res[name] = {{'windows': nw}}
    gc.collect()
    for path in {paths!r}:
        try:
            fx = Extractor(spec, path=path)
        except ImportError as e:
            r[path] = {{'error': str(e)}}
            continue
        feats = []
        for i in range(nw):             # warm-up pass; the ulab results are compared on the host
            fx.compute(xs, out, i * t)
            if path == 'ulab':
                feats.append(bytes(out))
        heap = heap_per_window(fx, xs, out, nw, t)
        passes = {passes} if path != 'python' else 1
        runs = []
        for k in range({runs}):         # several timed runs: the machine is shared, report the spread
            t0 = time.ticks_us()
            for p in range(passes):
                for i in range(nw):
                    fx.compute(xs, out, i * t)
            runs.append(time.ticks_diff(time.ticks_us(), t0) / (passes * nw))
        runs.sort()
        r[path] = {{'us_per_window': runs[len(runs) // 2], 'runs': runs, 'heap_per_window': heap}}
        if feats:
            r[path]['features'] = [list(array('h', b)) for b in feats]
        fx = None
        feats = None
        gc.collect()
if 'ulab' in {paths!r}:                 # where the ulab path's time goes: growing feature sets
    name = {datasets!r}[0]
    spec_d = json.loads(open(name + '/spec.json').read())
    t = spec_d['window']
    xs = array('h', bytes(os.stat(name + '/windows.bin')[6]))
    with open(name + '/windows.bin', 'rb') as f:
        f.readinto(xs)
    nw = len(xs) // (t * spec_d['axes'])
    steps = []
    for feats in (['min', 'max'], ['min', 'max', 'mean'], ['min', 'max', 'mean', 'std', 'rms'],
                  ['min', 'max', 'mean', 'std', 'rms', 'skew', 'kurt'],
                  ['min', 'max', 'mean', 'std', 'rms', 'skew', 'kurt', 'ptp', 'zcr'],
                  spec_d['features']):
        d = dict(spec_d)
        d['features'] = feats
        try:
            fx = Extractor(FeatureSpec(d), path='ulab')
        except ImportError:
            break
        out = array('h', bytes(2 * fx.n_features))
        for i in range(nw):
            fx.compute(xs, out, i * t)
        runs = []
        for k in range({runs}):
            gc.collect()
            t0 = time.ticks_us()
            for p in range({passes}):
                for i in range(nw):
                    fx.compute(xs, out, i * t)
            runs.append(time.ticks_diff(time.ticks_us(), t0) / ({passes} * nw))
        runs.sort()
        steps.append((' '.join(feats), runs[len(runs) // 2]))
        fx = None
    res['ulab_steps'] = [name, steps]
    xs = None
    gc.collect()
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
try:                                   # what one ulab call costs here (where the ulab path's time goes)
    xs = None
    gc.collect()
    from ulab import numpy as np
    from ulab import utils
    def per_call(f, n=2000):
        f()
        gc.collect()
        t0 = time.ticks_us()
        for i in range(n):
            f()
        return time.ticks_diff(time.ticks_us(), t0) / n
    a = np.zeros((4, 128))
    b = np.zeros((4, 128))
    k = np.full(1, 1.0)
    v = np.zeros(4)
    ones = np.ones(128)
    folds = [(a[:, :w], a[:, w:2 * w]) for w in (64, 32, 16, 8, 4, 2, 1)]
    row = np.zeros(128)
    spec_out = np.zeros(128)
    pad = np.zeros(256)
    def inplace():
        global a
        a += b
    def inplace_k():
        global a
        a += k
    def small():
        global v
        v += k
    def fold():
        for x, y in folds:
            x += y
    def spectro():
        utils.spectrogram(row, out=spec_out, scratchpad=pad)
    res['ulab_call_us'] = [
        ('a += b (4x128, in place)', per_call(inplace)),
        ('a += k (4x128, one-element k)', per_call(inplace_k)),
        ('a + b (4x128, allocates)', per_call(lambda: a + b)),
        ('np.floor(a) (4x128)', per_call(lambda: np.floor(a))),
        ('np.dot(a, ones) (row sums, 4x128)', per_call(lambda: np.dot(a, ones))),
        ('fold: 7 in-place adds (row sums, 4x128)', per_call(fold)),
        ('np.sum(a, axis=1) (4x128)', per_call(lambda: np.sum(a, axis=1))),
        ('np.max(a, axis=1) (4x128)', per_call(lambda: np.max(a, axis=1))),
        ('a < 0 (4x128, bool)', per_call(lambda: a < 0.0)),
        ('v += k (4 values)', per_call(small)),
        ('v * v (4 values, allocates)', per_call(lambda: v * v)),
        ('spectrogram (128, out=, scratchpad=)', per_call(spectro))]
except ImportError:
    pass
print(json.dumps(res))
"""

RUNS = 5       # timed runs per path (median and min-max printed)
HEAP = "512k"   # board-sized (the 80 real/simulated windows take 80 KB of it); see also the 4 MB run below
DATASETS = {"fan-sim": [1, 10, 25, 50, 100], "basicmotions": [0.3, 1, 2.5, 5.01]}


def ulab_interpreter() -> Path | None:
    p = Path(os.environ.get("ULEARN_MICROPYTHON") or unixport.CACHE_DIR / "micropython-ulab" / "micropython")
    return p if p.exists() else None


def _run(exe: str, folder: Path, paths: list[str], passes: int, heap: str = HEAP) -> dict:
    env = dict(os.environ, MICROPYPATH=str(unixport.LIB_DIR))
    code = SCRIPT.format(datasets=list(DATASETS), paths=paths, passes=passes, runs=RUNS)
    out = subprocess.run([exe, "-X", f"heapsize={heap}", "-c", code], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stdout + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _agreement(dev: np.ndarray, host: np.ndarray, names: list[str]) -> dict:
    """Per feature kind: max |ulab - Q15 definition| in LSB over windows and channels (dom: how many
    window-channels differ, near ties of the two largest bins)."""
    agg: dict = {}
    n = 0
    for j, full in enumerate(names):
        kind = full.split(".")[1]
        d = np.abs(dev[:, j] - host[:, j])
        if kind == "dom":
            agg[kind] = agg.get(kind, 0) + int((d > 0).sum())
            n += len(d)
        else:
            agg[kind] = max(agg.get(kind, 0), int(d.max()))
    if "dom" in agg:
        agg["dom"] = f"{agg['dom']} of {n} differ"
    return agg


def run(args: argparse.Namespace) -> dict:
    """Print and return the feature-extraction ratios (real fan-sim and BasicMotions test windows)."""
    quick = getattr(args, "quick", False)
    passes = 3 if quick else 10
    results: dict = {"window": "3 axes x 128 samples + magnitude (fan-sim, simulated; 60 features) and "
                               "6 axes x 100 samples + magnitude (BasicMotions, real; 98 features)"}
    with tempfile.TemporaryDirectory(prefix="ulearn-bench-features-") as tmp:
        folder = Path(tmp)
        host: dict = {}
        specs: dict = {}
        for name, bands in DATASETS.items():
            ds = load_dataset(name)
            spec = feat.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=bands, magnitude=3)
            Xq = feat.quantize(ds.X_test[:40], spec)
            (folder / name).mkdir()
            (folder / name / "spec.json").write_text(json.dumps(spec.to_dict()))
            (folder / name / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
            host[name] = feat.compute(Xq, spec, check_saturation=False).astype(int)
            specs[name] = spec
        interpreters = [("micropython (PyPI unix port)", unixport.micropython_exe(), ["python", "viper"])]
        ulab = ulab_interpreter()
        if ulab:
            interpreters.append(("micropython + ulab", str(ulab), ["python", "viper", "ulab"]))
        for label, exe, paths in interpreters:
            r = _run(exe, folder, paths, passes)
            results[label] = r
            print(f"{label} (one process, -X heapsize={HEAP}):")
            for name in DATASETS:
                rd = r[name]
                base = rd["python"]["us_per_window"]
                print(f"  {name}, {rd['windows']} test windows:")
                for p in paths:
                    if "error" in rd[p]:
                        print(f"    {p:<7} not available: {rd[p]['error']}")
                        continue
                    us = rd[p]["us_per_window"]
                    lo, hi = min(rd[p]["runs"]), max(rd[p]["runs"])
                    rd[p]["ratio_vs_python"] = base / us
                    rd[p]["ratio_range"] = [min(rd["python"]["runs"]) / hi, max(rd["python"]["runs"]) / lo]
                    r0, r1 = rd[p]["ratio_range"]
                    print(f"    {p:<7} {us:9.1f} us/window ({lo:.1f}-{hi:.1f} over {len(rd[p]['runs'])} runs)  "
                          f"{base / us:6.1f}x pure Python ({r0:.1f}-{r1:.1f}x)  "
                          f"heap/window after warm-up: {rd[p]['heap_per_window']} B")
                    feats = rd[p].pop("features", None)
                    if feats is not None:
                        agg = _agreement(np.array(feats), host[name], specs[name].feature_names())
                        rd[p]["max_lsb_vs_q15_definition"] = agg
                        print("    ulab vs the Q15 definition (max |diff| LSB): "
                              + ", ".join(f"{k} {v}" for k, v in agg.items()))
            if "ulab" in paths:
                # the ulab path allocates: a bigger heap spreads its short-lived arrays over cold memory
                big = _run(exe, folder, ["python", "ulab"], passes, heap="4m")
                results[label + ", 4 MB heap"] = big
                for name in DATASETS:
                    rd = big[name]
                    rd["ulab"].pop("features", None)
                    ratio = rd["python"]["us_per_window"] / rd["ulab"]["us_per_window"]
                    print(f"  {name}, second process, 4 MB heap (-X heapsize=4m): ulab "
                          f"{rd['ulab']['us_per_window']:.1f} us/window, {ratio:.1f}x pure Python")
            if "ulab_steps" in r:
                name, steps = r["ulab_steps"]
                print(f"  ulab path on {name}, feature sets growing to all (median us/window, increment):")
                prev = 0.0
                for feats, us in steps:
                    label = "all (+ dom centroid band)" if feats == " ".join(ALL) else feats
                    print(f"    {us:6.1f} (+{us - prev:5.1f})  {label}")
                    prev = us
            if "ulab_call_us" in r:
                print("  ulab, microseconds per call (in place: ~0.4 ns/element; allocating: ~3 ns/element):")
                for what, us in r["ulab_call_us"]:
                    print(f"    {what:<42} {us:6.2f}")
            for n in (128, 256):
                py = r.get(f"fft{n}_python_us")
                for other in ("viper", "ulab"):
                    v = r.get(f"fft{n}_{other}_us")
                    if py and v:
                        print(f"  FFT-{n} {other}: {v:.1f} us vs pure-Python Q15 {py:.1f} us ({py / v:.0f}x)")
        if not ulab:
            print("ulab path: skipped, no ulab interpreter (build .cache/micropython-ulab/micropython or set "
                  "ULEARN_MICROPYTHON)")
        code = ("import json\nfrom array import array\nfrom ulearn.features.spec import FeatureSpec\n"
                "from ulearn.features.extract import Extractor\n"
                "spec = FeatureSpec(json.loads(open('spec.json').read()))\nfx = Extractor(spec, path='viper')\n"
                "x = array('h', bytes(2 * spec.window * spec.axes))\nout = array('h', bytes(2 * spec.n_features))\n"
                "f = open('windows.bin', 'rb')\nwhile f.readinto(x) == 2 * len(x):\n"
                "    fx.compute(x, out)\n    print(json.dumps(list(out)))\n")
        dev = np.array([json.loads(ln) for ln in unixport.run(code, cwd=folder / "basicmotions").stdout.splitlines()])
        diff = int(np.abs(dev - host["basicmotions"]).max())
        results["host_vs_device_max_lsb_basicmotions_test"] = diff
        print(f"host (numpy) vs device (viper) on the {len(dev)} real BasicMotions test windows: "
              f"max |diff| = {diff} LSB")
    return results
