"""The C kernel built for the host (gcc, ctypes): numpy reference, sanitizers, device fixed point."""

from __future__ import annotations

import subprocess
import sys
from array import array

import numpy as np
import pytest

from ulearn_host import native
from ulearn_host.native import reference as ref

pytestmark = pytest.mark.skipif(native.gcc is None, reason="no gcc")


@pytest.fixture(scope="module")
def kernel() -> native.Kernel:
    return native.Kernel(native.build())


def test_thousands_of_random_cases_under_asan_and_ubsan():
    native.build(sanitize=True)
    proc = subprocess.run([sys.executable, "-m", "ulearn_host.native.check", "--cases", "3000", "--seed", "5",
                           "--sanitize"], env=native.sanitizer_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK 3000 random cases" in proc.stdout and "sanitizers on" in proc.stdout


def test_microcontroller_c_path_under_sanitizers():
    # the scalar path that Cortex-M (without DSP), Xtensa and RISC-V builds use, on the host
    native.build(sanitize=True, extra=["-DUL_FORCE_SCALAR"])
    proc = subprocess.run([sys.executable, "-m", "ulearn_host.native.check", "--cases", "1500", "--seed", "6",
                           "--sanitize", "--scalar"], env=native.sanitizer_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK 1500 random cases" in proc.stdout and "scalar C path" in proc.stdout


def test_sanitizers_are_really_on():
    # an out-of-bounds read and a signed overflow in a library built the same way abort the process
    import tempfile
    from pathlib import Path
    src = Path(tempfile.mkdtemp()) / "bad.c"
    src.write_text("#include <stdlib.h>\n"
                   "int peek(int i) { volatile char *p = calloc(8, 1); int v = p[i]; free((void *)p); return v; }\n"
                   "int add(int a, int b) { return a + b; }\n")
    lib = native.build(sanitize=True, src=[src], name="bad")
    for call, report in (("lib.peek(40)", "runtime error: load"),
                         ("lib.add(2147483647, 1)", "signed integer overflow")):
        code = "import ctypes; lib = ctypes.CDLL(%r); lib.peek(3); lib.add(1, 2); print(%s)" % (str(lib), call)
        proc = subprocess.run([sys.executable, "-c", code], env=native.sanitizer_env(), capture_output=True,
                              text=True)
        assert proc.returncode != 0, call
        assert report in proc.stderr or "AddressSanitizer" in proc.stderr, (call, proc.stderr[:300])


def test_requantize_equals_device_fixedpoint(kernel):
    from ulearn import fixedpoint as fp
    rng = np.random.default_rng(3)
    edges = [(fp.INT32_MAX, fp.INT32_MAX, 30), (fp.INT32_MIN, fp.INT32_MAX, 30), (fp.INT32_MIN, 1 << 30, -31),
             (-3, 1 << 30, 0), (3, 1 << 30, -1), (0, 0, 0), (1, fp.INT32_MAX, -31)]
    for acc, mult, shift in edges + [(int(a), int(m), int(s)) for a, m, s in zip(
            rng.integers(-(1 << 31), 1 << 31, 3000), rng.integers(0, 1 << 31, 3000), rng.integers(-31, 31, 3000),
            strict=True)]:
        assert kernel.requantize(acc, mult, shift) == fp.requantize(acc, mult, shift), (acc, mult, shift)


def test_numpy_reference_equals_python_reference():
    from ulearn import backend
    backend.select("python")
    rng = np.random.default_rng(4)
    for _ in range(30):
        m, n, k = (int(v) for v in rng.integers(1, 9, 3))
        a, b = rng.integers(-128, 128, m * k, dtype=np.int8), rng.integers(-128, 128, n * k, dtype=np.int8)
        bias = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)
        mult = rng.integers(0, 1 << 31, n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-31, 31, n).astype(np.int8)
        a_off, b_off, out_off = int(rng.integers(-255, 256)), int(rng.integers(-255, 256)), int(rng.integers(-128, 128))
        out = array("b", bytes(m * n))
        backend.gemm_s8(array("b", a.tobytes()), array("b", b.tobytes()), array("i", bias.tolist()),
                        array("i", mult.tolist()), array("b", shift.tobytes()), out, m, n, k, a_off, b_off, out_off,
                        -128, 127)
        want = ref.gemm_s8(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, -128, 127).reshape(-1)
        assert list(out) == want.tolist()


def test_bad_arguments_return_a_status(kernel):
    a = np.zeros(8, np.int8)
    with pytest.raises(native.KernelError, match="shift"):
        kernel.gemm_s8(a, a, None, np.full(2, 1 << 30, np.int32), np.array([0, -32], np.int8), a, 2, 2, 2,
                       0, 0, 0, -128, 127)
    with pytest.raises(native.KernelError, match="NULL"):
        kernel.gemm_s32(a, None, None, np.zeros(4, np.int32), 2, 2, 2, 0, 0)
    with pytest.raises(native.KernelError, match="scratch"):
        kernel.conv_s8(a, a, None, np.full(1, 1 << 30, np.int32), np.zeros(1, np.int8), a, np.zeros(3, np.int8),
                       2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, -128, 127)
    assert kernel.conv_col_size(3, 3, 3, 8, 8) == 32 * 27 + 1 - 1 + (4 - 32 * 27 % 4) % 4


def test_prepared_weights_equal_reference_and_reject_bad_buffers(kernel):
    # ul_gemm_prepare once, ul_gemm_s8_prep many times: the integers of ul_gemm_s8 (the numpy reference)
    rng = np.random.default_rng(8)
    for m, n, k in ((0, 3, 5), (2, 0, 5), (3, 5, 0), (1, 1, 1), (4, 67, 9), (64, 16, 120), (5, 3, 257)):
        a, b = rng.integers(-128, 128, m * k, dtype=np.int8), rng.integers(-128, 128, n * k, dtype=np.int8)
        bias = rng.integers(-(1 << 20), 1 << 20, n).astype(np.int32)
        mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-12, 2, n).astype(np.int8)
        prep = kernel.gemm_prepare(b, bias, n, k, -7)
        assert prep.nbytes >= kernel.gemm_prep_size(n, k)
        for a_off, out_off, lo, hi in ((3, -5, -128, 127), (-255, 127, -20, 90)):
            out = np.full(m * n, 0x55, np.int8)
            kernel.gemm_s8_prep(a, prep, mult, shift, out, m, n, k, a_off, out_off, lo, hi)
            want = ref.gemm_s8(a, b, bias, mult, shift, m, n, k, a_off, -7, out_off, lo, hi).reshape(-1)
            assert np.array_equal(out, want), (m, n, k, a_off)
    b = np.zeros(8, np.int8)
    raw = np.zeros(64, np.uint8)
    with pytest.raises(native.KernelError, match="prepared"):   # misaligned buffer
        native.Kernel._ok(kernel.lib.ul_gemm_prepare(b.ctypes.data_as(native._P8), None, 2, 4, 0,
                                                     raw.ctypes.data + 1, 60))
    prep = kernel.gemm_prepare(b, None, 2, 4, 0)
    with pytest.raises(native.KernelError, match="prepared"):   # prepared for n=2, called with n=1
        kernel.gemm_s8_prep(b, prep, np.ones(1, np.int32), np.zeros(1, np.int8), np.zeros(2, np.int8), 2, 1, 4,
                            0, 0, -128, 127)
    assert kernel.gemm_prep_size(-1, 4) == 0
