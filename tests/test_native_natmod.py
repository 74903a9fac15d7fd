"""The C kernel as a MicroPython dynamic native module (.mpy) loaded by the unix MicroPython.

Needs a MicroPython source tree: env MPY_DIR (default /work/ext/micropython when it exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT, unixport

NATIVE = REPO_ROOT / "device" / "native"
DEVICE_TESTS = REPO_ROOT / "tests" / "device"
DEFAULT_MPY_DIR = Path("/work/ext/micropython")


def mpy_dir() -> Path | None:
    explicit = os.environ.get("MPY_DIR")
    if explicit:
        return Path(explicit)
    return DEFAULT_MPY_DIR if (DEFAULT_MPY_DIR / "py" / "dynruntime.mk").exists() else None


def build_natmod(arch: str) -> Path:
    tree = mpy_dir()
    if tree is None:
        pytest.skip("MPY_DIR not set: natmod tests need a MicroPython source tree (make natmod MPY_DIR=...)")
    if arch != "x64" and not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed: apt-get install gcc-arm-none-eabi (make setup)")
    proc = subprocess.run(["make", "-s", "-C", str(NATIVE), f"MPY_DIR={tree}", f"ARCH={arch}", "dist"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = sorted((NATIVE / "dist").glob(f"{arch}_*/ulearn_native.mpy"))
    assert built, f"no dist/{arch}_*/ulearn_native.mpy after make"
    return built[-1]


@pytest.fixture(scope="module")
def natmod_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("natmod")       # only the .mpy: that is what imports
    shutil.copy(build_natmod("x64"), folder / "ulearn_native.mpy")
    return folder


def run(code: str, folder: Path, **kw) -> str:
    return unixport.run(code, path=[folder, DEVICE_TESTS], **kw).stdout


def test_natmod_is_chosen_and_matches_reference(natmod_dir):
    out = run("import backend_cases\nfrom ulearn import backend\nprint(backend.NAME)\n"
              "backend_cases.check('native')\nprint('checked')", natmod_dir)
    assert out.split() == ["native", "checked"]


def test_natmod_from_compiled_lib_and_forced_backend(natmod_dir):
    out = run("from ulearn import backend\nprint(backend.NAME)", natmod_dir, compiled=True,
              env={**os.environ, "ULEARN_BACKEND": "viper"})
    assert out.strip() == "viper"


def test_natmod_bad_input_raises_value_error_naming_the_argument(natmod_dir):
    code = """
from array import array
import ulearn_native as nat
n = nat
a = array('b', range(12)); q = array('i', [1 << 30] * 2); s = array('b', [0, 0])
w = array('b', list(range(12)) + [0, 0])
def expect(fn, text):
    try:
        fn()
    except ValueError as e:
        assert text in str(e), str(e)
        print('ok', str(e))
        return
    raise AssertionError('accepted: ' + text)
def gemm(m=2, nn=2, k=3, x=a, act=None, ww=w, qq=q, a0=0, bias0=-1, mult0=0, shift0=12, a_off=0, lo=-128, hi=127,
         typecode='i', p=0):
    g = array(typecode, [a0, 0, 0, bias0, mult0, shift0, m, nn, k, a_off, 0, 0, lo, hi])
    nat.gemm_s8(x, array('b', [0] * 4) if act is None else act, ww, qq, g, p)
expect(lambda: gemm(act=array('h', [0] * 4)), "act: typecode")
expect(lambda: gemm(x=bytearray(6)), "x: typecode")
expect(lambda: gemm(m=3, k=5), "x (a): too short")
expect(lambda: gemm(a0=-1), "x (a): offset is negative")
expect(lambda: gemm(ww=array('b', list(range(12)) + [0, 31])), "shift: outside [-31, 30] at")
expect(lambda: gemm(qq=array('i', [5, -1])), "mult: negative")
expect(lambda: gemm(bias0=1), "q (bias): too short")
expect(lambda: gemm(a_off=300), "a_off")
expect(lambda: gemm(lo=10, hi=5), "act_min")
expect(lambda: gemm(m=-2), "program: a size word is negative")
expect(lambda: gemm(p=1), "g (program): too short")
expect(lambda: n.gemm_s8(a, array('b', [0] * 4), w, q, array('b', [0] * 14), 0), "g: the layer program must be")
geom = [2, 2, 1, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, -128, 127]
expect(lambda: n.conv_s8(a, array('b', [0] * 8), w, q, array('h', [0, 0, 2, 1, 0, -1, 0, 12] + geom), 0),
       "col: scratch smaller")
expect(lambda: n.matvec_q15(array('h', [1]), array('h', [1]), None, array('i', [0]), 1, 1, 40), "shift")
expect(lambda: n.dot_q15(array('h', [1]), array('b', [1]), 1), "b: typecode must be 'h'")
"""
    out = run(code, natmod_dir)
    assert out.count("ok ") == 15, out


def test_natmod_calls_allocate_nothing(natmod_dir):
    code = """
from array import array
from backend_cases import gemm_args
from devtest import allocated
from ulearn import backend
a = array('b', range(-60, 60)); w = array('b', range(-120, 120))
bias, mult, shift = array('i', [3] * 8), array('i', [1 << 30] * 8), array('b', [-4] * 8)
args = gemm_args(a, w, bias, mult, shift, 4, 8, 30, 5, 0, -2, -128, 127, 1, False)
print(allocated(lambda: backend.gemm_s8(*args), 50))
"""
    assert run(code, natmod_dir).strip() == "0"


def test_natmod_for_another_arch_is_reported_once_and_skipped(tmp_path):
    shutil.copy(build_natmod("armv7emsp"), tmp_path / "ulearn_native.mpy")
    out = run("import ulearn\nfrom ulearn import backend\nfrom ulearn import backend as again\n"
              "print('chosen', backend.NAME)", tmp_path)
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith("ulearn: backend native unusable") and "incompatible .mpy arch" in lines[0]
    assert "rebuild" in lines[0]
    assert lines[1] == "chosen viper"


def test_natmod_prepared_weights_match_gemm_s8_and_allocate_nothing(natmod_dir):
    # weights arranged once (gemm_prepare), then gemm_s8_prep: the integers of gemm_s8 (itself checked
    # against the reference above); bad buffers raise ValueError naming `prep`
    code = """
from array import array
import ulearn_native as nat
from backend_cases import gemm_args
from devtest import allocated
def fill(tc, n, lo, hi, seed):
    x = seed
    out = array(tc, [0] * n)
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out[i] = lo + x % (hi - lo + 1)
    return out
ok = 0
for m, n, k in ((5, 3, 7), (64, 16, 120), (3, 67, 9), (2, 5, 257), (0, 2, 4), (2, 4, 0)):
    a, b = fill('b', m * k, -128, 127, 1), fill('b', n * k, -128, 127, 2)
    bias, mult, shift = fill('i', n, -99999, 99999, 3), fill('i', n, 1 << 30, (1 << 31) - 1, 4), fill('b', n, -12, 1, 5)
    prep = array('i', [0] * (nat.gemm_prep_size(n, k) // 4))
    nat.gemm_prepare(b, bias, n, k, -3, prep)
    want, got = array('b', [0] * (m * n)), array('b', [0] * (m * n))
    for a_off, out_off, lo, hi in ((4, -7, -128, 127), (-200, 100, -9, 60)):
        args = gemm_args(a, b, bias, mult, shift, m, n, k, a_off, -3, out_off, lo, hi)
        nat.gemm_s8(*args)
        nat.gemm_s8_prep(a, prep, mult, shift, got, m, n, k, a_off, out_off, lo, hi)
        ok += args[1] == got
print(ok)
print(allocated(lambda: nat.gemm_s8_prep(a, prep, mult, shift, got, m, n, k, 1, 0, -128, 127), 20))
try:
    nat.gemm_s8_prep(a, array('i', [0] * 64), mult, shift, got, m, n, k, 1, 0, -128, 127)   # never prepared
except ValueError as e:
    print(e)
"""
    lines = run(code, natmod_dir).strip().splitlines()
    assert lines[:2] == ["12", "0"], lines
    assert lines[2].startswith("prep: "), lines
