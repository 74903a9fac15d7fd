"""ulearn_native built into the firmware as a user C module (micropython.mk), on the unix port.

Needs that build: $ULEARN_NATIVE_FIRMWARE or .cache/micropython-native/micropython
(`make native-firmware MPY_DIR=...`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT, unixport

EXE = Path(os.environ.get("ULEARN_NATIVE_FIRMWARE") or REPO_ROOT / ".cache" / "micropython-native" / "micropython")


def test_user_c_module_is_chosen_and_matches_reference(monkeypatch):
    if not EXE.exists():
        pytest.skip("no firmware with ulearn_native: set ULEARN_NATIVE_FIRMWARE or run "
                    "make native-firmware MPY_DIR=...")
    monkeypatch.setenv("ULEARN_MICROPYTHON", str(EXE))
    monkeypatch.delenv("ULEARN_BACKEND", raising=False)
    code = ("import ulearn_native, backend_cases\nfrom ulearn import backend\n"
            "print(ulearn_native.ABI, backend.NAME)\nbackend_cases.check('native')\nprint('checked')")
    out = unixport.run(code, path=[REPO_ROOT / "tests" / "device"]).stdout.split()
    assert out == ["2", "native", "checked"]
