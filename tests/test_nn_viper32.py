"""On a 32-bit MicroPython (like every Cortex-M board) predict of the int8 CNN allocates nothing with
the viper, native and pure-Python backends (viper: machine words; Python: the multipliers as 16-bit
halves and requantization / softmax on limbs, ulearn._limbs and ulearn.nn._slimbs; the viper and
native backends' softmax there: ulearn.nn._vsoftmax), and the limb and viper softmaxes give the same
bytes as the Python one and the host reference on both word sizes.

The 32-bit interpreter: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from ulearn_host import REPO_ROOT, unixport
from ulearn_host.nn import cases, export, reference

EXE = Path(os.environ.get("ULEARN_MICROPYTHON32") or REPO_ROOT / ".cache" / "micropython-i686" / "micropython")
FAN = REPO_ROOT / "tests" / "device" / "nn_data" / "fan.ulb"
ARCHS = ["x86", "x64"]


def _exe(arch: str) -> str | None:
    if arch == "x64":
        return None
    if not EXE.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    return str(EXE)


ALLOC_CODE = """
import gc
from array import array
import ulearn
from ulearn import backend
backend.select({backend!r})
def allocated(m, x, out):  # locals only: a new global name would grow the module's dict
    m.predict(x, out)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(100):
        m.predict(x, out)
    after = gc.mem_alloc()
    gc.enable()
    return after - before
for path in {paths!r}:
    m = ulearn.load(path)
    n = 1
    for d in m.info()['input_shape']:
        n *= d
    x = array('b', [(i * 37) % 256 - 128 for i in range(n)])
    print('ALLOC', allocated(m, x, array('b', bytes(m.info()['layers'][-1][2][2]))))
"""


def _alloc(backend: str, arch: str, tmp_path: Path, path: list[Path] | None = None) -> list[str]:
    digits = tmp_path / "digits.ulb"
    digits.write_bytes(export.to_blob(cases.build("digits", seed=1)))
    return unixport.run(ALLOC_CODE.format(backend=backend, paths=[str(FAN), str(digits)]), compiled=True,
                        micropython=_exe(arch), arch=arch, heap="1m", path=path).stdout.split()


@pytest.mark.parametrize(("backend", "arch"), [("viper", "x86"), ("viper", "x64"), ("python", "x86"),
                                               ("python", "x64")])
def test_predict_allocates_nothing_over_100_calls(backend, arch, tmp_path):
    assert _alloc(backend, arch, tmp_path) == ["ALLOC", "0", "ALLOC", "0"]  # fan, digits-shaped


def test_native_x86_predict_allocates_nothing_over_100_calls(tmp_path):
    import shutil
    import subprocess

    from test_native_natmod import NATIVE, mpy_dir
    _exe("x86")
    tree = mpy_dir()
    if tree is None:
        pytest.skip("MPY_DIR not set: natmod tests need a MicroPython source tree (make natmod MPY_DIR=...)")
    if not shutil.which("i686-linux-gnu-gcc"):
        pytest.skip("i686-linux-gnu-gcc not installed: apt-get install gcc-i686-linux-gnu libc6-dev-i386-cross")
    proc = subprocess.run(["make", "-s", "-C", str(NATIVE), f"MPY_DIR={tree}", "ARCH=x86", "CROSS=i686-linux-gnu-",
                           "dist"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    natmod = tmp_path / "natmod"
    natmod.mkdir()
    shutil.copy(sorted((NATIVE / "dist").glob("x86_*/ulearn_native.mpy"))[-1], natmod / "ulearn_native.mpy")
    assert _alloc("native", "x86", tmp_path, [natmod]) == ["ALLOC", "0", "ALLOC", "0"]


SOFTMAX_CODE = """
import struct
from array import array
from ulearn.nn._softmax import softmax
from ulearn.nn._slimbs import softmax_limbs
from ulearn.nn._vsoftmax import softmax as vsoftmax
with open({src!r}, 'rb') as f:
    data = f.read()
res = bytearray()
q = array('i', [0, 0, 0])
p = 0
while p < len(data):
    mult, shift, diff_min, n = struct.unpack_from('<iiii', data, p)
    x = array('b', data[p + 16:p + 16 + n])
    p += 16 + n
    q[2] = mult  # the program words (x0, out0, n, mult0, left shift, diff_min) as the model makes them:
    # diff_min clamped to >= -256, in an int16 program and an int32 one (with an offset)
    dmin = diff_min if diff_min > -256 else -256
    hi = mult >> 16
    g16 = array('h', [0, 0, n, 2, shift, dmin, hi, (mult & 0xFFFF) - 32768])
    g32 = array('i', [7, 7, 0, 0, n, 2, shift, dmin, hi, (mult & 0xFFFF) - 32768])
    a = array('b', bytes(n))
    b = array('b', bytes(n))
    c = array('b', bytes(n))
    d = array('b', bytes(n))
    e = array('b', bytes(n))
    softmax(x, a, q, g16, 0)
    softmax_limbs(x, b, q, g16, 0, 6)
    softmax_limbs(x, c, q, g32, 2, 8)
    vsoftmax(x, d, q, g16, 0, 0)
    vsoftmax(x, e, q, g32, 2, 1)
    assert b == c and d == a and e == a
    res += bytes(a) + bytes(b)
with open({dst!r}, 'wb') as f:
    f.write(res)
print('DONE')
"""


@pytest.mark.parametrize("arch", ARCHS)
def test_limb_softmax_equals_python_and_reference(arch, tmp_path):
    exe = _exe(arch)
    rng = np.random.default_rng(4)
    data = bytearray()
    expected = []
    # all-equal rows of these sizes give the largest sums (output shifts of 31 to 34 bits)
    equal = [1, 10, 255, 300, 700, 1000, 3000, 4095]
    sizes = equal + [2, 4, 10, 37, 255, 1000, 4095] + [int(v) for v in rng.integers(1, 64, 150)]
    for i, n in enumerate(sizes):
        scale = 10 ** float(rng.uniform(-3.5, 1.0))  # input scales from ~0.0003 to 10
        mult, shift, diff_min = reference.softmax_params(float(rng.choice([1.0, 0.7, 2.0])), scale)
        if i < len(equal) or i % 3 == 0:
            x = np.full(n, int(rng.integers(-128, 128)), np.int8)  # all equal: the largest sum
        else:
            x = rng.integers(-128, 128, n).astype(np.int8)
        data += struct.pack("<iiii", mult, shift, diff_min, n) + x.tobytes()
        expected.append(reference.softmax_row(x, mult, shift, diff_min).astype(np.int8).tobytes())
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(bytes(data))
    out = unixport.run(SOFTMAX_CODE.format(src=str(src), dst=str(dst)), compiled=True, micropython=exe,
                       arch=arch, heap="1m").stdout.split()
    assert out == ["DONE"], out
    got = dst.read_bytes()
    p = 0
    for n, want in zip(sizes, expected, strict=True):
        py, vi = got[p:p + n], got[p + n:p + 2 * n]
        p += 2 * n
        assert py == want, f"python softmax differs from the reference (n={n})"
        assert vi == want, f"limb softmax differs from the reference (n={n})"
