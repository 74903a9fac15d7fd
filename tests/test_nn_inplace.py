"""A `.mpy` CNN model's weights used in place (the bytes constant of the module, in flash on ROMFS
boards): with the viper and native backends the model reads its int8 weights and shifts from the blob's
unsigned bytes (no copy), gives the bytes of the copying pure-Python backend, and predict allocates
nothing; selecting the pure-Python backend afterwards makes the int8 copy once (same outputs).
Runs in the 64-bit unix MicroPython, the 32-bit one (viper) and the ulab build when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT, unixport
from ulearn_host.bench.nn_speed import native_path
from ulearn_host.nn import cases, export, synth

EXE32 = Path(os.environ.get("ULEARN_MICROPYTHON32") or REPO_ROOT / ".cache" / "micropython-i686" / "micropython")
EXE_ULAB = REPO_ROOT / ".cache" / "micropython-ulab" / "micropython"

CODE = """
import gc
from array import array
import ulearn
from ulearn import backend
def allocated(m, x):  # locals only: a new global name would grow the module's dict
    m.predict(x)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        m.predict(x)
    return gc.mem_alloc() - before
for name in ('fan', 'digits'):
    x = array('b', open(name + '.x', 'rb').read())
    backend.select('python')
    ref = ulearn.load(name + '.mpy')
    ref.predict(x)
    want = bytes(ref.output)
    del ref
    for b in {backends!r}:
        try:
            backend.select(b)
        except ValueError:
            print('ABSENT', b)
            continue
        m = ulearn.load(name + '.mpy')
        alloc = allocated(m, x)
        print('RUN', name, b, m.weights_in_place, m.info()['weights_copied'], bytes(m.output) == want, alloc)
        backend.select('python')
        m.predict(x)
        print('COPY', name, m.weights_in_place, m.weights_copied, bytes(m.output) == want)
"""


@pytest.mark.parametrize("arch", ["x64", "x86", "ulab"])
def test_mpy_weights_in_place(arch, tmp_path):
    if arch == "x86" and not EXE32.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    if arch == "ulab" and not EXE_ULAB.exists():
        pytest.skip("no ulab MicroPython (.cache/micropython-ulab/micropython): run make ulab-micropython MPY_DIR=...")
    for name, model in (("fan", synth.fan_model(seed=3)), ("digits", cases.build("digits", seed=0))):
        export.save(model, tmp_path / f"{name}.mpy")
        (tmp_path / f"{name}.x").write_bytes(cases.inputs(model, 3, seed=1)[2].tobytes())
    backends = {"x64": ["viper", "native"], "x86": ["viper"], "ulab": ["ulab"]}[arch]
    exe = {"x64": None, "x86": str(EXE32), "ulab": str(EXE_ULAB)}[arch]
    out = unixport.run(CODE.format(backends=backends), cwd=tmp_path, compiled=True,
                       arch="x86" if arch == "x86" else "x64", micropython=exe, heap="2m" if arch == "ulab" else "256k",
                       path=native_path(tmp_path) if arch == "x64" else None).stdout.splitlines()
    runs = [line.split() for line in out if line.startswith("RUN")]
    copies = [line.split() for line in out if line.startswith("COPY")]
    assert runs and len(runs) == len(copies), out
    for _, name, b, in_place, copied, same, alloc in runs:
        # ulab's GEMM makes float matrices per call (docs/native.md): only the in-place use is checked
        assert (in_place, copied, same) == ("True", "False", "True"), (name, b, out)
        assert alloc == "0" or b == "ulab", (name, b, out)
    for _, name, in_place, copied, same in copies:
        assert (in_place, copied, same) == ("False", "True", "True"), (name, out)
