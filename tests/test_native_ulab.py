"""The ulab backend: exactness of float sums by K blocks (proof on float32), and the backend itself
inside a ulab-enabled unix MicroPython ($ULEARN_MICROPYTHON or .cache/micropython-ulab/micropython)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ulearn_host import REPO_ROOT, unixport

ULAB_EXE = Path(os.environ.get("ULEARN_MICROPYTHON") or REPO_ROOT / ".cache" / "micropython-ulab" / "micropython")
DEVICE_TESTS = REPO_ROOT / "tests" / "device"


def _float32_block_sums(a_off: int, b_off: int, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Worst-case operands (every product at its largest magnitude): float32 blocked sums vs exact."""
    va = -128 if abs(a_off - 128) >= abs(a_off + 127) else 127
    vb = -128 if abs(b_off - 128) >= abs(b_off + 127) else 127
    A = np.full((3, k), va + a_off, np.float32)
    B = np.full((2, k), vb + b_off, np.float32)
    A[1, ::2] = -(va + a_off)          # mixed signs in one row
    total = np.zeros((3, 2), np.int64)
    for k0 in range(0, k, block):
        part = A[:, k0:k0 + block] @ B[:, k0:k0 + block].T          # float32 dot of one block
        total += part.astype(np.int64)
    exact = A.astype(np.int64) @ B.astype(np.int64).T
    return total, exact


@pytest.mark.parametrize("a_off,b_off", [(128, 0), (-127, 0), (255, 255), (-255, -255), (0, 0), (3, -200)])
def test_exact_block_keeps_float32_sums_exact(a_off, b_off):
    from ulearn import backend
    block = backend.exact_block(a_off, b_off)
    k = 4 * block + 7
    total, exact = _float32_block_sums(a_off, b_off, k, block)
    assert np.array_equal(total, exact)


def test_one_long_float32_pass_is_not_exact():
    # shows the bound matters: the same sums in one float32 pass lose low bits
    from ulearn import backend
    block = backend.exact_block(255, 255)
    total, exact = _float32_block_sums(255, 255, 64 * block + 1, 64 * block + 1)
    assert not np.array_equal(total, exact)


@pytest.fixture
def ulab_run(monkeypatch):
    if not ULAB_EXE.exists():
        pytest.skip("no ulab MicroPython: set ULEARN_MICROPYTHON or build .cache/micropython-ulab/micropython "
                    "(make ulab-micropython MPY_DIR=...)")
    monkeypatch.setenv("ULEARN_MICROPYTHON", str(ULAB_EXE))
    monkeypatch.delenv("ULEARN_BACKEND", raising=False)

    def run(code: str) -> str:
        return unixport.run(code, path=[DEVICE_TESTS]).stdout
    return run


def test_ulab_backend_is_chosen_and_matches_reference(ulab_run):
    out = ulab_run("import backend_cases\nfrom ulearn import backend\nprint(backend.NAME)\n"
                    "backend_cases.check('ulab')\nbackend_cases.check('viper')\nprint('checked')")
    assert out.split() == ["ulab", "checked"]


def test_ulab_long_k_with_extreme_offsets(ulab_run):
    code = """
from array import array
from ulearn import backend
k = 3 * backend.exact_block(255, 255) + 5
a = array('b', [127] * k); b = array('b', [127] * k)
out = array('i', [0]); want = array('i', [0])
backend.select('ulab'); backend.gemm_s32(a, b, None, out, 1, 1, k, 255, 255)
backend.select('python'); backend.gemm_s32(a, b, None, want, 1, 1, k, 255, 255)
print(out[0] == want[0], k)
"""
    assert ulab_run(code).split()[0] == "True"
