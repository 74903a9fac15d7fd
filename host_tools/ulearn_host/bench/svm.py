"""`ulearn bench svm`: BasicMotions accuracy and agreement with scikit-learn, predict speed per
backend (ratios to pure Python on the same interpreter), heap of the loaded model and per predict,
in-situ training peak heap, the anomaly demos, and the comparison with m2cgen-generated code.

m2cgen (PyPI) is not a dependency: it is looked for in $M2CGEN_PATH or /work/ext/m2cgen-pkg
(`pip install --no-deps --target /work/ext/m2cgen-pkg m2cgen`); its generated module is written
to a temporary folder outside the repository and measured in the same MicroPython.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .. import unixport
from ..data import load_dataset
from ..svm import export as E
from ..svm.run import run_model
from ..train import svm as trainer
from . import anomaly
from .features import ulab_interpreter

PREDICT = """
import gc, json, time
from array import array
import ulearn
from ulearn import backend
from ulearn.svm import model, qmath
from ulearn.features import spec, extract
gc.collect()
a0 = gc.mem_alloc()
m = ulearn.load('m.ulb')
gc.collect()
load_heap = gc.mem_alloc() - a0
d = m.n_features
xs = []
with open('f.bin', 'rb') as f:
    while True:
        x = array('h', bytes(2 * d))
        if f.readinto(x) != 2 * d:
            break
        xs.append(x)
out = array('i', bytes(64))
def heap_per_call(fn, n=10):
    gc.collect()
    gc.disable()
    b0 = gc.mem_alloc()
    for i in range(n):
        fn()
    b1 = gc.mem_alloc()
    gc.enable()
    return (b1 - b0) // n
x0 = xs[0]
m.predict(x0, out)
heap = heap_per_call(lambda: m.predict(x0, out))
best = None
for r in range({reps}):          # the best round: the machine is shared, the minimum is the cost
    t0 = time.ticks_us()
    for x in xs:
        m.predict(x, out)
    dt = time.ticks_diff(time.ticks_us(), t0)
    best = dt if best is None or dt < best else best
us = best / len(xs)
print(json.dumps({{"backend": backend.NAME, "path": m.path, "us_per_predict": us, "load_heap": load_heap,
                  "heap_per_predict": heap, "one_call": getattr(m, '_fused', None) is not None}}))
"""

M2C = """
import gc, json, time
import micropython
gc.collect()
a0 = gc.mem_alloc()
p0 = micropython.mem_peak() if hasattr(micropython, 'mem_peak') else 0
import m2c_model
gc.collect()
held = gc.mem_alloc() - a0
peak = (micropython.mem_peak() - a0) if hasattr(micropython, 'mem_peak') else None
xs = json.loads(open('z.json').read())
preds = [m2c_model.score(x) for x in xs]
best = None
for r in range(10):
    t0 = time.ticks_us()
    for x in xs:
        m2c_model.score(x)
    dt = time.ticks_diff(time.ticks_us(), t0)
    best = dt if best is None or dt < best else best
us = best / len(xs)
print(json.dumps({"import_heap_held": held, "import_heap_peak": peak, "us_per_predict": us,
                  "preds": [p.index(max(p)) if isinstance(p, list) else p for p in preds]}))
"""

TRAIN_PEAK = """
import gc, json
from array import array
from ulearn.svm import train, model, qmath
from ulearn import backend
def peak(n):
    gc.collect()
    base = gc.mem_alloc()
    top = 0
    t = train.OneClassTrainer(60, n_rff=64, seed=2)
    x = array('h', bytes(120))
    s = 1
    for phase in range(3):
        for i in range(n):
            for j in range(60):
                s = (s * 1103515245 + 12345) & 0x7FFFFFFF
                x[j] = ((s >> 16) & 1023) - 512 + 40 * (j % 7)
            if phase == 0:
                t.observe(x)
            else:
                t.partial_fit(x)
            used = gc.mem_alloc() - base
            if used > top:
                top = used
        if phase == 0:
            t.freeze()
    m = t.model()
    used = gc.mem_alloc() - base
    return max(top, used)
gc.threshold(2048)
print(json.dumps({"20": peak(20), "200": peak(200)}))
"""


ARM = """
import json, time, gc
from array import array
from ulearn import blob
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
from ulearn.features import kernels
from ulearn.svm import model
res = {}
def per_call(fn, n):
    fn(0)
    gc.collect()
    t0 = time.ticks_us()
    for i in range(n):
        fn(i)
    return time.ticks_diff(time.ticks_us(), t0) / n
for name in ('fan-sim', 'basicmotions'):
    spec = FeatureSpec(json.loads(_fs.files['/' + name + '.json']))
    x = array('h', _fs.files['/' + name + '.bin'])
    nw = len(x) // (spec.window * spec.axes)
    out = array('h', bytes(2 * spec.n_features))
    for path in ('python', 'before', 'viper'):   # before: the Python channel loop over per-stage viper kernels
        fx = Extractor(spec, path='python' if path == 'before' else path)
        if path == 'before':
            (fx._sums, fx._mom2, fx._mom34, fx._load, fx._fft, fx._power, fx._psums,
             fx._mag) = kernels.kernels('viper')
        res['features %s %s' % (name, path)] = per_call(lambda i: fx.compute(x, out, i * spec.window), nw)
from ulearn import backend
for name in ('svm', 'linear-svm'):
    data = _fs.files['/' + name + '.ulb']
    f = array('h', _fs.files['/' + name + '.bin'])
    # pure Python; before (viper kernels + the viper backend's matvec, one call per row); one viper call
    for label, bk, path in (('python', 'python', 'python'), ('before', 'viper', 'python'), ('viper', 'viper', 'viper')):
        backend.select(bk)
        m = model.from_blob(blob.Blob(data), name, path=path)
        if label == 'before':
            m._norm, m._kstage = model.qmath.kernels('viper')[:2]
        d = m.n_features
        xs = [f[i * d:(i + 1) * d] for i in range(len(f) // d)]
        o = array('i', bytes(64))
        res['predict %s %s' % (name, label)] = per_call(lambda i: m.predict(xs[i], o), len(xs))
print(json.dumps(res))
"""
ARM_MODULES = ("features/__init__", "features/_kwindow", "features/_kviper", "features/extract", "features/kernels",
               "features/spec", "svm/__init__", "svm/_svfused", "svm/_sviper", "svm/model", "svm/qmath")


ARM_M2C = """
import gc, json, time
gc.collect()
a0 = gc.mem_alloc()
import m2c_model
gc.collect()
held = gc.mem_alloc() - a0
xs = json.loads(_fs.files['/z.json'])
m2c_model.score(xs[0])
t0 = time.ticks_us()
for x in xs:
    m2c_model.score(x)
print(json.dumps({"m2cgen held": held, "predict svm m2cgen": time.ticks_diff(time.ticks_us(), t0) / len(xs)}))
"""


def _arm_bench(models: dict, m2c: tuple | None) -> dict:
    """Features per window and predict per call, pure Python vs viper path (and m2cgen's code for the
    RBF SVC when `m2c` = (source, standardized features)), on a Cortex-M3 in QEMU with -icount
    shift=0 (time.ticks_us() there = thousands of instructions)."""
    from .. import REPO_ROOT
    from .. import features as feat
    from . import qemu_m3
    from .features import ALL, DATASETS
    why = qemu_m3.missing()
    if why:
        return {"skipped": why}
    lib = REPO_ROOT / "lib" / "ulearn"
    files = {"ulearn/" + m + ".py": (lib / (m + ".py")).read_bytes() for m in ARM_MODULES}
    files.update({"ulearn/" + p.name: p.read_bytes() for p in lib.glob("*.py")})    # the package and backends
    for name, bands in DATASETS.items():
        ds = load_dataset(name)
        spec = feat.make_spec(ds.X, ds.rate_hz, features=ALL, bands_hz=bands, magnitude=3)
        files[name + ".json"] = json.dumps(spec.to_dict()).encode()
        files[name + ".bin"] = np.ascontiguousarray(feat.quantize(ds.X_test[:8], spec), dtype="<i2").tobytes()
    for name, (blob, F) in models.items():
        files[name + ".ulb"] = blob
        files[name + ".bin"] = np.ascontiguousarray(F[:10], dtype="<i2").tobytes()
    res = json.loads(qemu_m3.run(ARM, files, icount=True).strip().splitlines()[-1])
    if m2c is not None:
        files = {"m2c_model.py": m2c[0].encode(), "z.json": json.dumps(m2c[1][:10].tolist()).encode()}
        res.update(json.loads(qemu_m3.run(ARM_M2C, files, icount=True).strip().splitlines()[-1]))
    return res


def _m2cgen():
    for p in (os.environ.get("M2CGEN_PATH"), "/work/ext/m2cgen-pkg"):
        if p and Path(p).exists() and p not in sys.path:
            sys.path.append(p)
    try:
        return importlib.import_module("m2cgen")
    except ImportError:
        return None


def _predict_bench(blob: bytes, F: np.ndarray, reps: int) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ulearn-bench-svm-") as tmp:
        folder = Path(tmp)
        (folder / "m.ulb").write_bytes(blob)
        (folder / "f.bin").write_bytes(np.ascontiguousarray(F, dtype="<i2").tobytes())
        code = PREDICT.format(reps=reps)
        from .nn_speed import native_path
        extra = native_path(folder)
        for name in ("python", "viper", "native"):
            env = dict(os.environ, ULEARN_BACKEND=name)
            r = unixport.run(code, cwd=folder, env=env, check=False, compiled=True, path=extra)
            rows[name] = json.loads(r.stdout.strip().splitlines()[-1]) if r.ok else {
                "error": ((r.stdout + r.stderr).strip().splitlines() or ["?"])[-1]}
        ulab = ulab_interpreter()
        if ulab:
            env = dict(os.environ, MICROPYPATH=str(unixport.LIB_DIR))
            for name in ("python", "ulab"):
                env["ULEARN_BACKEND"] = name
                r = subprocess.run([str(ulab), "-X", "heapsize=256k", "-c", code], cwd=folder, env=env,
                                   capture_output=True, text=True, timeout=600)
                rows["ulab-interpreter:" + name] = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 \
                    else {"error": ((r.stdout + r.stderr).strip().splitlines() or ["?"])[-1]}
    return rows


def _m2cgen_bench(clf, zte: np.ndarray) -> dict:
    m2c = _m2cgen()
    if m2c is None:
        return {"skipped": "m2cgen not found: pip install --no-deps --target /work/ext/m2cgen-pkg m2cgen"}
    code = m2c.export_to_python(clf)
    out: dict = {"m2cgen": getattr(m2c, "__version__", "?"), "source_bytes": len(code)}
    with tempfile.TemporaryDirectory(prefix="m2cgen-bm-") as tmp:
        folder = Path(tmp)
        (folder / "m2c_model.py").write_text(code)
        (folder / "z.json").write_text(json.dumps(zte.tolist()))
        env = dict(os.environ, MICROPYPATH=str(folder))
        exe = unixport.micropython_exe()
        r = subprocess.run([exe, "-X", "heapsize=8m", "-c", M2C], cwd=folder, env=env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode == 0:
            res = json.loads(r.stdout.strip().splitlines()[-1])
            preds = res.pop("preds")
            res["agrees_with_sklearn"] = float((np.array(preds) == clf.predict(zte)).mean())
            out.update(res)
        else:
            out["error_8m"] = r.stderr.strip()[-300:]
        r = subprocess.run([exe, "-X", "heapsize=256k", "-c", "import m2c_model\nprint('imported')"], cwd=folder,
                           env=env, capture_output=True, text=True, timeout=600)
        out["imports_in_256k_heap"] = r.returncode == 0 and "imported" in r.stdout
        if not out["imports_in_256k_heap"]:
            out["error_256k"] = ((r.stdout + r.stderr).strip().splitlines() or ["?"])[-1]
    return out


def run(args: argparse.Namespace) -> dict:
    """Print and return the SVM benchmark figures."""
    quick = getattr(args, "quick", False)
    ds = load_dataset("basicmotions")
    res: dict = {}
    arm_models: dict = {}
    arm_m2c = None
    print("BasicMotions (real, 40 train / 40 test windows, 60 int16 features):")
    for model in ("svm", "linear-svm"):
        blob, twin, summary = trainer.fit(ds, model)
        spec = trainer.feature_spec(ds, "supervised")
        from .. import features as feat
        F = feat.features_from_floats(ds.X_test, spec)
        nrm = twin.params["norm"]
        norm = E.Normalizer(np.array(nrm["mu"], np.int16), np.array(nrm["mul"], np.int16), np.array(nrm["sh"], np.int8))
        zte = E.standardized(F, norm)
        run_ = run_model(blob, F)
        pred = np.array(run_["preds"])
        fpred = twin.predict(zte)
        fdec = twin.decision(zte)
        diff = [{"i": int(i), "float_margin": float(np.min(np.abs(fdec[i])))} for i in np.nonzero(pred != fpred)[0]]
        row = {"accuracy": float((pred == ds.y_test).mean()), "float_accuracy": float((fpred == ds.y_test).mean()),
               "agreement": float((pred == fpred).mean()), "disagreements": diff, "blob_bytes": len(blob),
               "load_heap": run_["load_heap"], **{k: summary[k] for k in ("n_sv",) if k in summary}}
        print(f"  {model:<10} fixed-point accuracy {row['accuracy']:.3f} (float {row['float_accuracy']:.3f}), "
              f"agreement with scikit-learn {row['agreement']:.4f} on {len(pred)} windows, "
              f"blob {len(blob)} B, heap when loaded {row['load_heap']} B"
              + (f", {summary['n_sv']} SV x {spec.n_features}" if "n_sv" in summary else "")
              + (f"; differing: {diff}" if diff else ""))
        speed = _predict_bench(blob, F, 5 if quick else 25)
        base = speed.get("python", {}).get("us_per_predict")
        for name, r in speed.items():
            if "error" in r:
                print(f"    predict [{name}]: not available ({r['error']})")
                continue
            ratio = base / r["us_per_predict"] if base else float("nan")
            if name.startswith("ulab-interpreter") and "ulab-interpreter:python" in speed:
                ratio = speed["ulab-interpreter:python"]["us_per_predict"] / r["us_per_predict"]
            r["ratio_vs_python"] = ratio
            how = "whole decision in one viper call" if r.get("one_call") else \
                f"path {r['path']}, {r['backend']} matvec"
            print(f"    predict [{name:<24}] {r['us_per_predict']:8.1f} us  {ratio:5.1f}x pure Python  "
                  f"heap/predict {r['heap_per_predict']} B  ({how})")
        row["predict"] = speed
        if model == "svm":
            from sklearn.svm import SVC
            Ftr = feat.features_from_floats(ds.X, spec)
            clf = SVC(C=10.0, gamma="scale").fit(E.standardized(Ftr, norm), ds.y)
            m2 = _m2cgen_bench(clf, zte)
            m2c_mod = _m2cgen()
            arm_m2c = (m2c_mod.export_to_python(clf), zte) if m2c_mod is not None else None
            row["m2cgen"] = m2
            if "skipped" in m2:
                print(f"    m2cgen comparison: skipped ({m2['skipped']})")
            else:
                print(f"    m2cgen {m2.get('m2cgen')} generated code for the same SVC ({m2['source_bytes']} B of "
                      f"Python): import holds {m2.get('import_heap_held')} B, import peak "
                      f"{m2.get('import_heap_peak')} B, predict {m2.get('us_per_predict', float('nan')):.1f} us; "
                      f"imports in a 256 KB heap: {m2['imports_in_256k_heap']}"
                      + (f" ({m2.get('error_256k')})" if not m2["imports_in_256k_heap"] else ""))
                if base and m2.get("us_per_predict"):
                    for name in ("python", "viper", "native"):
                        r = speed.get(name, {})
                        if "us_per_predict" in r:
                            print(f"      ulearn [{name}] is {m2['us_per_predict'] / r['us_per_predict']:.1f}x "
                                  f"m2cgen's speed, with {row['load_heap']} B vs {m2.get('import_heap_held')} B "
                                  f"held")
        res[model] = row
        arm_models[model] = (blob, F)
    arm = _arm_bench(arm_models, arm_m2c)
    res["cortex_m3_qemu_kinstructions"] = arm
    if "skipped" in arm:
        print(f"Cortex-M3 (QEMU): skipped ({arm['skipped']})")
    else:
        print("Cortex-M3 (QEMU, MicroPython qemu port, viper compiled on the device; -icount shift=0: "
              "thousands of instructions per call):")
        for what in ("features fan-sim", "features basicmotions", "predict svm", "predict linear-svm"):
            py, vp = arm[what + " python"], arm[what + " viper"]
            before = arm.get(what + " before")
            was = f", before this path {before:.1f} ({py / before:.1f}x)" if before else ""
            print(f"  {what:<22} pure Python {py:9.1f}, viper {vp:7.1f} k instructions ({py / vp:4.1f}x){was}")
        if "predict svm m2cgen" in arm:
            m2, vp = arm["predict svm m2cgen"], arm["predict svm viper"]
            print(f"  m2cgen's code for the same SVC: {m2:.1f} k instructions per predict, {arm['m2cgen held']} B held "
                  f"after import (32-bit); ulearn viper is {m2 / vp:.1f}x faster")
    r = unixport.run(TRAIN_PEAK, compiled=True)
    peaks = json.loads(r.stdout.strip().splitlines()[-1])
    res["in_situ_training_peak_heap"] = peaks
    print(f"In-situ training (RFF one-class, 60 features, 64 random features): peak heap {peaks['20']} B with 20 "
          f"windows, {peaks['200']} B with 200 windows (sampled after every window, gc every 2 KB)")
    for name in ("basicmotions", "fan-sim"):
        dsa = load_dataset(name)
        blob, _, summary = trainer.fit(dsa, "ocsvm")
        from ulearn import blob as fmt
        meta = fmt.Blob(blob).meta()
        from .. import features as feat
        from ulearn.features.spec import parse
        spec = parse(fmt.Blob(blob).section(fmt.TAG_FEATURES))
        pred = np.array(run_model(blob, feat.features_from_floats(dsa.X_test, spec))["preds"])
        flagged = pred < meta["threshold"]
        normal = np.isin(dsa.y_test, [dsa.classes.index(c) for c in anomaly.DEMOS[name]["normal"]])
        target = np.isin(dsa.y_test, [dsa.classes.index(c) for c in anomaly.DEMOS[name]["flag"]])
        host = {"detection_rate": float(flagged[target].mean()), "false_alarm_rate": float(flagged[normal].mean()),
                "n_sv": summary["n_sv"]}
        res["host_ocsvm_" + name] = host
        print(f"Host-trained OneClassSVM on {name} ({summary['n_sv']} SV, run in fixed point): detection rate "
              f"{host['detection_rate']:.3f}, false-alarm rate {host['false_alarm_rate']:.3f}")
        demo = anomaly.run_demo(name)
        res["anomaly_" + name] = demo
        label = "simulated" if demo["simulated"] else "real"
        print(f"Anomaly demo {name} ({label}; in-situ trained on {demo['n_train']} normal windows, "
              f"{demo['n_features']} features): detection rate {demo['detection_rate']:.3f}, false-alarm rate "
              f"{demo['false_alarm_rate']:.3f}; flagged per class {json.dumps(demo['flagged_per_class'])}")
    return res
