"""The seed fan-shaped CNN loads and infers in a 64 KB heap on a 32-bit MicroPython (like every Cortex-M).

Needs a 32-bit unix MicroPython: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`). The 64-bit unix port needs ~80 KB for the same (its objects and
pointers are twice as large).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT, unixport

EXE = Path(os.environ.get("ULEARN_MICROPYTHON32") or REPO_ROOT / ".cache" / "micropython-i686" / "micropython")
MODEL = REPO_ROOT / "tests" / "device" / "nn_data" / "fan.ulb"

CODE = """
import gc
from array import array
import ulearn
m = ulearn.load({model!r})
shape = m.info()['input_shape']
x = array('b', bytes(shape[0] * shape[1]))
m.predict(x)
gc.collect()
print('OK', m.info()['params'], gc.mem_alloc(), ulearn.backend())
"""


def test_fan_cnn_load_and_inference_fit_a_64k_heap_on_32_bit():
    if not EXE.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    out = unixport.run(CODE.format(model=str(MODEL)), heap="64k", compiled=True, micropython=str(EXE),
                       arch="x86").stdout.split()
    assert out[0] == "OK" and int(out[1]) > 10_000  # the seed-sized model (~10.5 K parameters)
    assert int(out[2]) < 64 * 1024
