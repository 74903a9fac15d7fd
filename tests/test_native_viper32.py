"""The viper backend on a 32-bit MicroPython (viper integers are 32-bit machine words, as on Cortex-M,
ESP32 and RISC-V boards): same integers as the reference, so no intermediate leaves int32.

Needs a 32-bit unix MicroPython: $ULEARN_MICROPYTHON32 or .cache/micropython-i686/micropython
(`make micropython-32bit MPY_DIR=...`, with gcc-i686-linux-gnu and libc6-dev-i386-cross).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT, unixport

EXE = Path(os.environ.get("ULEARN_MICROPYTHON32") or REPO_ROOT / ".cache" / "micropython-i686" / "micropython")


def test_viper_on_32_bit_words_matches_reference(monkeypatch):
    if not EXE.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    monkeypatch.setenv("ULEARN_MICROPYTHON", str(EXE))
    monkeypatch.delenv("ULEARN_BACKEND", raising=False)
    code = ("import sys, backend_cases\nfrom ulearn import backend\nprint(sys.maxsize, backend.NAME)\n"
            "backend_cases.check('viper')\nprint('checked')")
    x86_lib = unixport.compile_tree(unixport.LIB_DIR, arch="x86")   # .mpy with 32-bit x86 viper code
    for extra in ([], [x86_lib]):
        out = unixport.run(code, path=[*extra, REPO_ROOT / "tests" / "device"]).stdout.split()
        assert out == [str(2**31 - 1), "viper", "checked"], out
