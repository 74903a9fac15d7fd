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


# The model's own heap: what a loaded fan model keeps beyond its blob file and its arena, measured as
# the heap a SECOND model adds (library bytecode, the lazily loaded backend and the names interned by
# the first load are not the model's), and what its first predict adds (the backend's code already
# loaded by the first model). A raw blob keeps its weights and quantization sections in place but not
# its metadata sections (~1.1 KB for the fan); the layer program (int16 words), the model words, the
# Model object and its metadata fit in that: measured blob + arena - 232 B on 32-bit and - 72 B on
# 64-bit MicroPython (docs/nn.md, "Memory"). The target: load heap <= blob + arena.
OWN_BOUND = {"x86": 0, "x64": 0}
OWN_CODE = """
import gc, os
from array import array
import ulearn
def used():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()
first = ulearn.load({model!r})
x = array('b', bytes(first.info()['input_shape'][0] * first.info()['input_shape'][1]))
first.predict(x)
base = used()
m = ulearn.load({model!r})
loaded = used() - base
base = used()
m.predict(x)
print('OWN', os.stat({model!r})[6], m.info()['arena_bytes'], loaded, used() - base)
"""


def _own_heap(exe: str | None, arch: str) -> tuple[int, int, int, int]:
    out = unixport.run(OWN_CODE.format(model=str(MODEL)), heap="256k", compiled=True, micropython=exe,
                       arch=arch).stdout.split()
    assert out[0] == "OWN", out
    blob, arena, loaded, first_predict = (int(v) for v in out[1:5])
    print(f"{arch}: fan model keeps {loaded} B = blob {blob} + arena {arena} + {loaded - blob - arena} B; "
          f"its first predict adds {first_predict} B")
    return blob, arena, loaded, first_predict


@pytest.mark.parametrize("arch", ["x86", "x64"])
def test_fan_model_own_heap_is_blob_plus_arena_plus_a_small_bound(arch):
    if arch == "x86" and not EXE.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    blob, arena, loaded, first_predict = _own_heap(str(EXE) if arch == "x86" else None, arch)
    assert loaded <= blob + arena + OWN_BOUND[arch]
    assert first_predict <= 64  # one small object at most (the input seen); predict itself allocates nothing
