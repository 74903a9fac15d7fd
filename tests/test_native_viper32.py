"""The viper backend on a 32-bit MicroPython (viper integers are 32-bit machine words, as on Cortex-M,
ESP32 and RISC-V boards): same integers as the reference, so no intermediate leaves int32.

Needs a 32-bit unix MicroPython: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`, with gcc-i686-linux-gnu and libc6-dev-i386-cross).
"""

from __future__ import annotations


import pytest

from ulearn_host import REPO_ROOT, unixport

def test_viper_on_32_bit_words_matches_reference(monkeypatch, micropython32):
    monkeypatch.setenv("ULEARN_MICROPYTHON", micropython32)
    monkeypatch.delenv("ULEARN_BACKEND", raising=False)
    code = ("import sys, backend_cases\nfrom ulearn import backend\nprint(sys.maxsize, backend.NAME)\n"
            "backend_cases.check('viper')\nprint('checked')")
    x86_lib = unixport.compile_tree(unixport.LIB_DIR, arch="x86")   # .mpy with 32-bit x86 viper code
    for extra in ([], [x86_lib]):
        out = unixport.run(code, path=[*extra, REPO_ROOT / "tests" / "device"]).stdout.split()
        assert out == [str(2**31 - 1), "viper", "checked"], out


def test_x86_native_module_on_32_bit_interpreter(monkeypatch, tmp_path, micropython32):
    # mp_int_t is 32-bit here: exact int64 results (dot_q15) must come back as big integers
    import shutil
    import subprocess
    from test_native_natmod import NATIVE, mpy_dir
    tree = mpy_dir()
    if tree is None:
        pytest.skip("MPY_DIR not set: natmod tests need a MicroPython source tree (make natmod MPY_DIR=...)")
    if not shutil.which("i686-linux-gnu-gcc"):
        pytest.skip("i686-linux-gnu-gcc not installed: apt-get install gcc-i686-linux-gnu libc6-dev-i386-cross")
    proc = subprocess.run(["make", "-s", "-C", str(NATIVE), f"MPY_DIR={tree}", "ARCH=x86", "CROSS=i686-linux-gnu-",
                           "dist"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.copy(sorted((NATIVE / "dist").glob("x86_*/ulearn_native.mpy"))[-1], tmp_path / "ulearn_native.mpy")
    monkeypatch.setenv("ULEARN_MICROPYTHON", micropython32)
    monkeypatch.delenv("ULEARN_BACKEND", raising=False)
    code = ("import backend_cases\nfrom array import array\nfrom ulearn import backend\nimport ulearn_native as n\n"
            "print(backend.NAME)\nbackend_cases.check('native')\n"
            "print(n.dot_q15(array('h', [-32768] * 8), array('h', [-32768] * 8), 8) == 8 * 2 ** 30)\n"
            "print(n.dot_q15(array('h', [-32768] * 8), array('h', [32767] * 8), 8) == -8 * 32768 * 32767)")
    out = unixport.run(code, path=[tmp_path, REPO_ROOT / "tests" / "device"]).stdout.split()
    assert out == ["native", "True", "True"], out
