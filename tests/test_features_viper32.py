"""The viper feature path on a 32-bit MicroPython (viper ints are 32-bit machine words, as on Cortex-M):
the device tests of tests/device/test_features_viper.py, and real windows equal to the host (numpy).

Needs a 32-bit unix MicroPython: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ulearn_host import REPO_ROOT, unixport
from ulearn_host import features as F
from ulearn_host.data import load_dataset

ALL = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")


@pytest.mark.parametrize("compiled", [False, True], ids=["source", "mpy-x86"])
def test_device_viper_tests_pass_on_32_bit_words(compiled, device_tests_32):
    names = device_tests_32("test_features_viper", compiled)
    assert len(names) == 4 and all(n.startswith("test_") for n in names), names


DEVICE_RUN = """
import json
from array import array
from ulearn.features.spec import FeatureSpec
from ulearn.features.extract import Extractor
spec = FeatureSpec(json.loads(open('spec.json').read()))
fx = Extractor(spec, path='viper')
x = array('h', bytes(2 * spec.window * spec.axes))
out = array('h', bytes(2 * spec.n_features))
with open('windows.bin', 'rb') as f:
    while f.readinto(x) == 2 * len(x):
        fx.compute(x, out)
        print(json.dumps(list(out)))
"""


def test_real_windows_equal_the_host_on_32_bit_words(tmp_path, micropython32):
    bm = load_dataset("basicmotions")
    fan = load_dataset("fan-sim")
    cases = [(F.make_spec(bm.X, bm.rate_hz, features=ALL, bands_hz=[0.3, 1, 2.5, 5.01], magnitude=3),
              np.concatenate([bm.X, bm.X_test])),
             (F.make_spec(fan.X, fan.rate_hz, features=ALL, bands_hz=[1, 10, 25, 50, 100], magnitude=3),
              fan.X_test[::9][:32])]
    for spec, X in cases:
        Xq = F.quantize(X, spec)
        host = F.compute(Xq, spec, check_saturation=False)
        (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
        (tmp_path / "windows.bin").write_bytes(np.ascontiguousarray(Xq, dtype="<i2").tobytes())
        out = unixport.run(DEVICE_RUN, micropython=micropython32, arch="x86", compiled=True, cwd=tmp_path).stdout
        dev = np.array([json.loads(line) for line in out.splitlines() if line.startswith("[")])
        assert dev.shape == host.shape
        assert (dev == host).all(), np.argwhere(dev != host)[:5]


@pytest.mark.parametrize("arch", ["armv6m", "armv7emsp", "xtensawin", "rv32imc"])
def test_window_path_compiles_for_board_archs(arch, tmp_path):
    # the viper emitters of the boards' CPUs (RP2040, Cortex-M4F, ESP32-S3, ESP32-C3) accept v_window
    import subprocess
    src = REPO_ROOT / "lib" / "ulearn" / "features" / "_kwindow.py"
    out = tmp_path / "_kwindow.mpy"
    p = subprocess.run([unixport.mpy_cross_exe(), f"-march={arch}", "-o", str(out), str(src)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and out.stat().st_size > 0, p.stderr
