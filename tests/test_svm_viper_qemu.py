"""The one-call viper feature path and viper SVM decisions on a Cortex-M3 (QEMU, MicroPython's qemu port):
Thumb-2 code from the viper compiler on the device, 32-bit words. One boot runs the device tests of
tests/device/test_features_viper.py and test_svm_viper.py, then real BasicMotions windows: viper
features equal to the host (numpy), and the RBF SVC / linear SVM decisions equal to the python path.

Needs qemu-system-arm and `make micropython-qemu-m3 MPY_DIR=...` (ulearn_host/bench/qemu_m3.py); skips
without.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ulearn import blob as fmt
from ulearn.features.spec import parse

from ulearn_host import REPO_ROOT
from ulearn_host import features as feat
from ulearn_host.bench import qemu_m3
from ulearn_host.data import load_dataset
from ulearn_host.train import svm as trainer

MODULES = ("features/__init__", "features/_kwindow", "features/extract", "features/kernels", "features/spec",
           "svm/__init__", "svm/_svfused", "svm/_sviper", "svm/model", "svm/qmath")
ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")

CODE = """
import sys, json
from array import array
print('WORD', sys.maxsize, sys.implementation._machine)
for mod in ('test_features_viper', 'test_svm_viper'):
    m = __import__(mod)
    for name in sorted(dir(m)):
        if name.startswith('test_'):
            getattr(m, name)()
            print('PASS', name)
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
spec = FeatureSpec(json.loads(_fs.files['/spec.json']))
fx = Extractor(spec, path='viper')
x = array('h', _fs.files['/windows.bin'])
out = array('h', bytes(2 * spec.n_features))
n = spec.window * spec.axes
for i in range(len(x) // n):
    fx.compute(x, out, i * spec.window)
    print('FEAT', json.dumps(list(out)))
from ulearn import blob
from ulearn.svm import model
for name in ('svm', 'linear-svm'):
    data = _fs.files['/' + name + '.ulb']
    py = model.from_blob(blob.Blob(data), name, path='python')
    vp = model.from_blob(blob.Blob(data), name, path='viper')
    f = array('h', _fs.files['/' + name + '.bin'])
    d = py.n_features
    oa = array('i', bytes(64))
    ob = array('i', bytes(64))
    same = 0
    for i in range(len(f) // d):
        xv = f[i * d:(i + 1) * d]
        same += py.predict(xv, oa) == vp.predict(xv, ob) and list(oa) == list(ob)
    print('SVM', name, vp._fused is not None, same, len(f) // d)
"""


def test_viper_features_and_svms_on_cortex_m3():
    why = qemu_m3.missing()
    if why:
        pytest.skip(why)
    lib = REPO_ROOT / "lib" / "ulearn"
    files = {"ulearn/" + m + ".py": (lib / (m + ".py")).read_bytes() for m in MODULES}
    files.update({"ulearn/" + p.name: p.read_bytes() for p in lib.glob("*.py")})    # the package and backends
    for n in ("devtest.py", "test_features_viper.py", "test_svm_viper.py"):
        files[n] = (REPO_ROOT / "tests" / "device" / n).read_bytes()
    bm = load_dataset("basicmotions")
    spec = feat.make_spec(bm.X, bm.rate_hz, features=ALL, bands_hz=[0.3, 1, 2.5, 5.01], magnitude=3)
    Xq = feat.quantize(bm.X_test[::4], spec)                     # 10 real test windows
    files["spec.json"] = json.dumps(spec.to_dict()).encode()
    files["windows.bin"] = np.ascontiguousarray(Xq, dtype="<i2").tobytes()
    for kind in ("svm", "linear-svm"):
        blob, _, _ = trainer.fit(bm, kind)
        mspec = parse(fmt.Blob(blob).section(fmt.TAG_FEATURES))
        F = feat.features_from_floats(bm.X_test, mspec)           # all 40 real test windows
        files[kind + ".ulb"] = blob
        files[kind + ".bin"] = np.ascontiguousarray(F, dtype="<i2").tobytes()
    lines = qemu_m3.run(CODE, files).splitlines()
    assert lines[0].split()[1] == str(2**31 - 1) and "Cortex-M3" in lines[0], lines[0]
    assert sum(ln.startswith("PASS ") for ln in lines) == 9, lines
    dev = np.array([json.loads(ln[5:]) for ln in lines if ln.startswith("FEAT ")])
    host = feat.compute(Xq, spec, check_saturation=False)
    assert dev.shape == host.shape and (dev == host).all()
    svm = [ln.split() for ln in lines if ln.startswith("SVM ")]
    assert svm == [["SVM", "svm", "True", "40", "40"], ["SVM", "linear-svm", "True", "40", "40"]], svm
