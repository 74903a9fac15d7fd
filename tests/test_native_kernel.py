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
    # the host's numpy reference against the device's pure-Python one: its int32 GEMM (plain buffers) and
    # ulearn.fixedpoint's requantization (the layer kernels' own entry points take layer programs)
    from ulearn import backend
    from ulearn import fixedpoint as fp
    backend.select("python")
    rng = np.random.default_rng(4)
    for _ in range(30):
        m, n, k = (int(v) for v in rng.integers(1, 9, 3))
        a, b = rng.integers(-128, 128, m * k, dtype=np.int8), rng.integers(-128, 128, n * k, dtype=np.int8)
        bias = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)
        mult = rng.integers(0, 1 << 31, n, dtype=np.int64).astype(np.int32)
        shift = rng.integers(-31, 31, n).astype(np.int8)
        a_off, b_off, out_off = int(rng.integers(-255, 256)), int(rng.integers(-255, 256)), int(rng.integers(-128, 128))
        acc = array("i", bytes(4 * m * n))
        backend.gemm_s32(array("b", a.tobytes()), array("b", b.tobytes()), array("i", bias.tolist()), acc, m, n, k,
                         a_off, b_off)
        assert list(acc) == ref.gemm_s32(a, b, bias, m, n, k, a_off, b_off).reshape(-1).tolist()
        out = [min(127, max(-128, fp.requantize(acc[i * n + j], int(mult[j]), int(shift[j])) + out_off))
               for i in range(m) for j in range(n)]
        want = ref.gemm_s8(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, -128, 127).reshape(-1)
        assert out == want.tolist()


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


# ---- pooling (ul_max_pool_s8 / ul_avg_pool_s8 / ul_pool_s8): numpy reference, the Python runtime ----

_POOL_ARGS = 13   # in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, act_min, act_max


def _pool_lib(path):
    import ctypes
    lib = ctypes.CDLL(str(path))
    for name in ("ul_max_pool_s8", "ul_avg_pool_s8"):
        getattr(lib, name).argtypes = [native._P8, native._P8] + [native._I] * _POOL_ARGS
    lib.ul_pool_s8.argtypes = [native._P8, native._P8, native._P32]
    lib.ul_pool_sizes.argtypes = [native._P32, native._P32, native._P32]
    return lib


def _pool_ref(x: np.ndarray, is_max: int, g: tuple) -> np.ndarray:
    """TFLite int8 pooling written independently: numpy over the taps inside each window."""
    in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, lo, hi = g
    x = x.reshape(in_h, in_w, c).astype(np.int64)
    out = np.empty((out_h, out_w, c), np.int64)
    for oy in range(out_h):
        y = oy * s_h - pad_top
        for ox in range(out_w):
            xx = ox * s_w - pad_left
            win = x[max(y, 0):min(y + k_h, in_h), max(xx, 0):min(xx + k_w, in_w)].reshape(-1, c)
            n = len(win)
            assert n > 0
            s = win.sum(0)   # the average rounds half away from zero
            v = win.max(0) if is_max else np.sign(s) * ((np.abs(s) + n // 2) // n)
            out[oy, ox] = np.clip(v, lo, hi)
    return out.reshape(-1).astype(np.int8)


def _pool_geometry(rng: np.random.Generator) -> tuple:
    one_d = rng.random() < 0.4
    dims = []
    for axis in range(2):
        if axis == 0 and one_d:
            dims.append((1, 1, 1, 1, 0))
            continue
        size = int(rng.integers(1, 10))
        k = int(rng.integers(1, size + 2))
        s = int(rng.integers(1, 4))
        mode = rng.integers(0, 3)
        if mode == 0 and k <= size:                # VALID
            out, pad = (size - k) // s + 1, 0
        elif mode <= 1:                            # SAME (TFLite: the smaller half of the padding first)
            out = -(-size // s)
            pad = max((out - 1) * s + k - size, 0) // 2
            if pad >= k:
                out, pad = (size - 1) // s + 1, 0
        else:                                      # any padding below k; every window keeps a tap
            pad = int(rng.integers(0, k))
            out = int(rng.integers(1, (size + pad - 1) // s + 2))
        dims.append((size, out, k, s, pad))
    (in_h, out_h, k_h, s_h, pad_top), (in_w, out_w, k_w, s_w, pad_left) = dims
    c = int(rng.choice([1, 2, 3, 8, 16, 63, 64, 65, 130]))
    lo, hi = (-128, 127) if rng.random() < 0.5 else tuple(sorted(int(v) for v in rng.integers(-128, 128, 2)))
    return in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, lo, hi


def _python_fast_path_reads_past(is_max: int, g: tuple) -> bool:
    # lib/ulearn/nn/layers.py pool's 1-D max shortcut (in_h 1, pad_left 0, s_w == k_w) assumes every
    # window lies inside the row; with SAME padding of an odd width the last one does not
    in_h, in_w, _, out_h, out_w, _, k_w, _, s_w, _, pad_left, _, _ = g
    return bool(is_max) and in_h == 1 and pad_left == 0 and s_w == k_w and (out_w * k_w > in_w or out_h != 1)


def pool_random_check(lib_path: str, cases: int, seed: int) -> int:
    """C pooling against the numpy reference and lib/ulearn's pool on `cases` random layers; returns the
    number of cases also compared with the Python runtime. Run under sanitizers by the test below."""
    import inspect

    from ulearn.nn.layers import pool
    program = len(inspect.signature(pool).parameters) == 4
    lib = _pool_lib(lib_path)
    rng = np.random.default_rng(seed)
    with_python = 0
    for i in range(cases):
        g = _pool_geometry(rng)
        in_h, in_w, c, out_h, out_w = g[:5]
        x = rng.integers(-128, 128, in_h * in_w * c, dtype=np.int8)
        if i % 3 == 0:   # long runs of the extremes
            x[rng.random(x.size) < 0.7] = rng.choice([-128, 127])
        for is_max in (1, 0):
            want = _pool_ref(x, is_max, g)
            got = np.full(out_h * out_w * c + 16, 0x5A, np.int8)   # 16 guard bytes must stay
            fn = lib.ul_max_pool_s8 if is_max else lib.ul_avg_pool_s8
            st = fn(x.ctypes.data_as(native._P8), got.ctypes.data_as(native._P8), *g)
            assert st == 0, (st, g)
            assert np.array_equal(got[:want.size], want), (is_max, g)
            assert (got[want.size:] == 0x5A).all(), ("wrote past out", g)
            p = np.array([is_max, *g[:11], g[11] + 128, g[12] + 128], np.int32)
            got2 = np.zeros(want.size, np.int8)
            assert lib.ul_pool_s8(x.ctypes.data_as(native._P8), got2.ctypes.data_as(native._P8),
                                  p.ctypes.data_as(native._P32)) == 0
            assert np.array_equal(got2, want), (is_max, g)
            if not _python_fast_path_reads_past(is_max, g):
                out = array("b", bytes(want.size))
                if program:   # pool(x, act, q, p): words x0 = 0, out0 = 0, then the 14-int block
                    pool(array("b", x.tobytes()), out, array("i", [0, 0, *p.tolist()]), 0)
                else:         # pool(x, out, p)
                    pool(array("b", x.tobytes()), out, array("i", p.tolist()))
                assert list(out) == want.tolist(), ("python runtime", is_max, g)
                with_python += 1
    return with_python


def _under_sanitizers(check: str, cases: int, seed: int, extra: list[str] | None = None) -> int:
    """test_native_kernel.<check>(lib, cases, seed) on a sanitizer build, in a fresh Python with libasan
    preloaded; asserts it ran clean and returns what the check returned."""
    lib = native.build(sanitize=True, extra=extra)
    code = ("import sys; sys.path.insert(0, %r); import test_native_kernel as t; print('OK', t.%s(%r, %d, %d))"
            % (str(native.REPO_ROOT / "tests"), check, str(lib), cases, seed))
    proc = subprocess.run([sys.executable, "-c", code], env=native.sanitizer_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return int(proc.stdout.split("OK ")[-1])


def test_pooling_random_layers_under_asan_and_ubsan():
    assert _under_sanitizers("pool_random_check", 1500, 11) > 2500   # most cases also equal the Python runtime


def test_pooling_microcontroller_c_path_and_fan_layers():
    # the build Cortex-M (no DSP), Xtensa and RISC-V use; and the fan net's two 1-D max pools exactly
    lib = _pool_lib(native.build(extra=["-DUL_FORCE_SCALAR"]))
    assert pool_random_check(str(native.build(extra=["-DUL_FORCE_SCALAR"])), 200, 12) > 300
    rng = np.random.default_rng(13)
    for in_w, c in ((125, 8), (59, 16)):
        g = (1, in_w, c, 1, in_w // 2, 1, 2, 1, 2, 0, 0, 0, 127)
        x = rng.integers(-128, 128, in_w * c, dtype=np.int8)
        out = np.zeros(in_w // 2 * c, np.int8)
        assert lib.ul_max_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8), *g) == 0
        assert np.array_equal(out, _pool_ref(x, 1, g))


def test_pooling_bad_arguments_return_a_status_and_write_nothing():
    lib = _pool_lib(native.build())
    x = np.arange(-8, 8, dtype=np.int8)
    good = (2, 4, 2, 1, 2, 2, 2, 2, 2, 0, 0, -128, 127)
    bad = {
        -1: [(-1, *good[1:]), (*good[:5], 0, *good[6:]), (*good[:7], 0, *good[8:]), (*good[:9], -1, *good[10:])],
        -5: [(*good[:11], 5, 4), (*good[:11], -129, 127), (*good[:11], -128, 128)],
        -12: [(*good[:3], 2, *good[4:]),               # a second row of windows below the input
              (*good[:4], 3, *good[5:]),               # a third column of windows right of the input
              (*good[:10], 2, *good[11:]),             # padding = kernel: the first window is all padding
              (0, *good[1:])],                         # no input at all
    }
    for status, cases in bad.items():
        for g in cases:
            for fn in (lib.ul_max_pool_s8, lib.ul_avg_pool_s8):
                out = np.full(16, 7, np.int8)
                assert fn(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8), *g) == status, g
                assert (out == 7).all()
    out = np.zeros(4, np.int8)
    assert lib.ul_max_pool_s8(None, out.ctypes.data_as(native._P8), *good) == -10
    assert lib.ul_max_pool_s8(None, None, 2, 4, 0, *good[3:]) == 0          # c = 0: nothing to do
    assert lib.ul_max_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8), *good) == 0
    assert out.tolist() == [2, 3, 6, 7]
    assert lib.ul_avg_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8), *good) == 0
    assert out.tolist() == [-3, -2, 1, 2]
    # halves round away from zero: pairs summing to -3, 3, -1, 1
    x = np.array([-3, 0, 3, 0, -1, 0, 1, 0], np.int8)
    assert lib.ul_avg_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8),
                              1, 8, 1, 1, 4, 1, 2, 1, 2, 0, 0, -128, 127) == 0
    assert out.tolist() == [-2, 2, -1, 1]
    sizes = np.zeros(2, np.int32)
    p = np.array([1, 2, 4, 2, 1, 2, 2, 2, 2, 2, 0, 0, 0, 255], np.int32)
    assert lib.ul_pool_sizes(p.ctypes.data_as(native._P32), sizes[:1].ctypes.data_as(native._P32),
                             sizes[1:].ctypes.data_as(native._P32)) == 0
    assert sizes.tolist() == [16, 4]
    p[1:4] = [1 << 16, 1 << 16, 1]   # 2^32 input bytes
    assert lib.ul_pool_sizes(p.ctypes.data_as(native._P32), sizes[:1].ctypes.data_as(native._P32),
                             sizes[1:].ctypes.data_as(native._P32)) == -1
    p = np.array([2, 2, 4, 2, 1, 2, 2, 2, 2, 2, 0, 0, 0, 255], np.int32)   # is_max must be 0 or 1
    assert lib.ul_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8),
                          p.ctypes.data_as(native._P32)) == -1
    p[0], p[12] = 1, 256                                                  # act_min + 128 beyond 255
    assert lib.ul_pool_s8(x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8),
                          p.ctypes.data_as(native._P32)) == -5


# ---- the x86-64 SSE2 path (PMADDWD, vector requantization, conv widened from the input) at its limits ----

def _req(rng: np.random.Generator, n: int, left: bool) -> tuple[np.ndarray, np.ndarray]:
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64).astype(np.int32)
    mult[rng.random(n) < 0.05] = 0
    shift = rng.integers(-14, 1, n).astype(np.int8)   # right shifts (the vector requantization) and 0
    shift[rng.random(n) < 0.1] = -31
    if left:                                           # some left shifts: those groups go the scalar way
        shift[rng.random(n) < 0.2] = rng.integers(1, 31)
    return mult, shift


def layers_random_check(lib_path: str, cases: int, seed: int) -> int:
    """conv_s8 and gemm_s8 on shapes the small random checker does not reach (many channels, long rows,
    inputs beyond the widening buffers, 1-D convs read in place) against the numpy reference."""
    k = native.Kernel(lib_path)
    rng = np.random.default_rng(seed)
    for i in range(cases):
        one_d = i % 2 == 0
        in_h = 1 if one_d else int(rng.integers(1, 12))
        in_w = int(rng.choice([1, 5, 40, 130, 700])) if one_d else int(rng.integers(1, 12))
        in_c = int(rng.choice([1, 3, 8, 17, 40]))
        out_c = int(rng.choice([1, 4, 8, 12, 16, 21, 33, 260]))
        k_h = 1 if one_d else int(rng.integers(1, 4))
        k_w = int(rng.integers(1, 6))
        sh, sw = (int(v) for v in rng.integers(1, 3, 2))
        dh, dw = (1, 1) if rng.random() < 0.7 else (int(v) for v in rng.integers(1, 3, 2))
        pt, pl = (0, 0) if rng.random() < 0.5 else (int(rng.integers(0, k_h)), int(rng.integers(0, k_w)))
        out_h = (in_h + 2 * pt - dh * (k_h - 1) - 1) // sh + 1
        out_w = (in_w + 2 * pl - dw * (k_w - 1) - 1) // sw + 1
        if out_h < 1 or out_w < 1:
            continue
        x = rng.integers(-128, 128, in_h * in_w * in_c, dtype=np.int8)
        w = rng.integers(-128, 128, out_c * k_h * k_w * in_c, dtype=np.int8)
        if i % 5 == 0:
            x[:] = rng.choice([-128, 127])
            w[:] = rng.choice([-128, 127])
        bias = None if i % 7 == 0 else rng.integers(-(1 << 31), 1 << 31, out_c, dtype=np.int64).astype(np.int32)
        if bias is not None and i % 2:
            bias = (bias >> 12).astype(np.int32)
        mult, shift = _req(rng, out_c, i % 3 == 0)
        in_off, out_off = int(rng.choice([-127, 0, 128, int(rng.integers(-127, 129))])), int(rng.integers(-128, 128))
        lo, hi = (-128, 127) if i % 2 else (-20, 90)
        geom = (in_h, in_w, in_c, out_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, in_off, out_off, lo, hi)
        out = np.full(out_h * out_w * out_c + 8, 0x5A, np.int8)
        col = np.zeros(k.conv_col_size(in_c, k_h, k_w, out_h, out_w), np.int8)
        k.conv_s8(x, w, bias, mult, shift, out, col, *geom)
        want = ref.conv_s8(x, w, bias, mult, shift, *geom)
        assert np.array_equal(out[:want.size], want), ("conv", geom)
        assert (out[want.size:] == 0x5A).all()
        # the same weights as a GEMM of a few rows (m >= 2 takes the SSE2 GEMM)
        kk, m = k_h * k_w * in_c, int(rng.choice([1, 2, 3, 17, 64]))
        a = rng.integers(-128, 128, m * kk, dtype=np.int8)
        a_off, b_off = int(rng.integers(-255, 256)), int(rng.choice([0, int(rng.integers(-255, 256))]))
        out8 = np.zeros(m * out_c, np.int8)
        k.gemm_s8(a, w, bias, mult, shift, out8, m, out_c, kk, a_off, b_off, out_off, lo, hi)
        assert np.array_equal(out8, ref.gemm_s8(a, w, bias, mult, shift, m, out_c, kk, a_off, b_off, out_off, lo,
                                                hi).reshape(-1)), ("gemm", m, out_c, kk)
        out32 = np.zeros(m * out_c, np.int32)
        k.gemm_s32(a, w, bias, out32, m, out_c, kk, a_off, b_off)
        assert np.array_equal(out32, ref.gemm_s32(a, w, bias, m, out_c, kk, a_off, b_off).reshape(-1))
    for m, n, kk in ((1, 5, 2047), (1, 3, 2048), (1, 4, 2049), (2, 2, 2049), (1, 6, 5000)):   # rows beyond the buffers
        a, w = rng.integers(-128, 128, m * kk, dtype=np.int8), rng.integers(-128, 128, n * kk, dtype=np.int8)
        mult, shift = _req(rng, n, False)
        for a_off, b_off in ((128, 0), (-255, 255)):
            out8 = np.zeros(m * n, np.int8)
            k.gemm_s8(a, w, None, mult, shift, out8, m, n, kk, a_off, b_off, 3, -128, 127)
            assert np.array_equal(out8, ref.gemm_s8(a, w, None, mult, shift, m, n, kk, a_off, b_off, 3, -128,
                                                    127).reshape(-1)), ("long rows", m, n, kk)
    return cases


@pytest.mark.parametrize("extra", [[], ["-DUL_FORCE_PORTABLE"]], ids=["host-simd", "host-portable"])
def test_wide_layers_under_asan_and_ubsan(extra):
    # host-simd: SSE2 on x86-64; host-portable: the plain C that AArch64 hosts compile (no intrinsics)
    assert _under_sanitizers("layers_random_check", 150, 21, extra) == 150


def test_small_random_cases_on_the_host_portable_path_under_sanitizers():
    # ulearn_host.native.check's cases on the plain host C (no SSE2), as on an AArch64 host
    lib = native.build(sanitize=True, extra=["-DUL_FORCE_PORTABLE"])
    code = ("import numpy as np; from ulearn_host.native import Kernel, check; k = Kernel(%r); "
            "rng = np.random.default_rng(9); [check.KINDS[i %% len(check.KINDS)](k, rng) for i in range(1500)]; "
            "print('OK portable')" % str(lib))
    proc = subprocess.run([sys.executable, "-c", code], env=native.sanitizer_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "OK portable" in proc.stdout, proc.stdout + proc.stderr[-3000:]


# ---- int8 softmax (ul_softmax_s8): bit for bit the Python runtime's (lib/ulearn/nn/_softmax.py) ----

def _softmax_lib(path):
    import ctypes
    lib = ctypes.CDLL(str(path))
    lib.ul_softmax_s8.argtypes = [native._P8, native._P8] + [native._I] * 4
    return lib


def _softmax_params(rng: np.random.Generator) -> tuple[int, int, int]:
    """(mult, left_shift, diff_min): TFLite's from a random beta and input scale (every shift 0..30 the
    host produces), or any values the runtime's loader accepts (mult >= 0, shift 0..30, diff_min -256..0)."""
    from ulearn_host.nn.reference import softmax_params
    kind = rng.integers(0, 4)
    if kind <= 1:
        while True:
            scale = float(2.0 ** rng.uniform(-27.0, 4.5))
            try:
                return softmax_params(float(rng.uniform(0.1, 2.0)) if kind else 1.0, scale)
            except ValueError:   # scale too small for TFLite's int8 softmax
                continue
    mult = int(rng.choice([0, 1, (1 << 30), (1 << 31) - 1, int(rng.integers(0, 1 << 31))]))
    return mult, int(rng.integers(0, 31)), int(rng.choice([0, -1, -256, int(rng.integers(-256, 1))]))


def _softmax_row(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.integers(0, 6)
    if kind == 0:
        return np.full(n, rng.integers(-128, 128), np.int8)                 # all equal
    if kind == 1:
        return rng.choice(np.array([-128, 127], np.int8), n)                # extremes only
    if kind == 2:
        x = np.full(n, -128, np.int8)
        x[rng.integers(0, n)] = 127                                         # one at the top, far away
        return x
    if kind == 3:
        top = int(rng.integers(-128, 128))                                  # close to the top
        return np.clip(top - rng.integers(0, 4, n), -128, 127).astype(np.int8)
    return rng.integers(-128, 128, n).astype(np.int8)


def softmax_random_check(lib_path: str, cases: int, seed: int) -> int:
    """ul_softmax_s8 against lib/ulearn's softmax on `cases` random rows (lengths 1..64), also in place;
    returns the number of rows checked."""
    from ulearn.nn._softmax import softmax
    lib = _softmax_lib(lib_path)
    rng = np.random.default_rng(seed)
    checked = 0
    for case in range(cases):
        n = 1 + case % 64 if case < 128 else int(rng.integers(1, 65))
        mult, ls, dmin = _softmax_params(rng)
        x = _softmax_row(rng, n)
        want = array("b", [55] * (n + 2))
        softmax(array("b", x.tobytes()), want, array("i", [7, mult]), array("i", [0, 2, n, 1, ls, dmin]), 0)
        got = np.full(n + 4, 55, np.int8)    # sentinels either side
        assert lib.ul_softmax_s8(x.ctypes.data_as(native._P8), got[2:].ctypes.data_as(native._P8),
                                 n, mult, ls, dmin) == 0
        assert got[2:2 + n].tolist() == list(want[2:]) and got[:2].tolist() == [55, 55] and \
            got[2 + n:].tolist() == [55, 55], (x.tolist(), mult, ls, dmin)
        inplace = x.copy()
        assert lib.ul_softmax_s8(inplace.ctypes.data_as(native._P8), inplace.ctypes.data_as(native._P8),
                                 n, mult, ls, dmin) == 0
        assert inplace.tolist() == list(want[2:]), ("in place", x.tolist(), mult, ls, dmin)
        checked += 1
    return checked


def test_softmax_random_rows_equal_python_runtime_under_asan_and_ubsan():
    assert _under_sanitizers("softmax_random_check", 3000, 21) == 3000


def test_softmax_every_shift_and_the_longest_row():
    # every left shift TFLite produces with its own diff_min, on rows of every top distance 0..255, and
    # rows of UL_SOFTMAX_MAX (4095) values: the largest sum of exps that cannot wrap
    from ulearn.nn._softmax import softmax
    from ulearn_host.nn.reference import softmax_params
    lib = _softmax_lib(native.build())
    rows = [np.arange(-128, 128, dtype=np.int8), np.full(4095, 127, np.int8),
            np.random.default_rng(4).integers(-128, 128, 4095).astype(np.int8)]
    seen = set()
    for e in np.linspace(-27.0, 4.5, 400):
        mult, ls, dmin = softmax_params(1.0, float(2.0 ** e))
        seen.add(ls)
        for x in rows:
            n = len(x)
            want = array("b", bytes(n))
            softmax(array("b", x.tobytes()), want, array("i", [mult]), array("i", [0, 0, n, 0, ls, dmin]), 0)
            got = np.zeros(n, np.int8)
            assert lib.ul_softmax_s8(x.ctypes.data_as(native._P8), got.ctypes.data_as(native._P8), n, mult, ls,
                                     dmin) == 0
            assert got.tolist() == list(want), (n, mult, ls, dmin)
    assert seen == set(range(31))


def test_softmax_bad_arguments_return_a_status_and_write_nothing():
    lib = _softmax_lib(native.build())
    x = np.array([3, -7, 100, 100], np.int8)
    out = np.full(4, 9, np.int8)
    px, po = x.ctypes.data_as(native._P8), out.ctypes.data_as(native._P8)
    for args, status in (((-1, 1 << 30, 5, -200), -1), ((4096, 1 << 30, 5, -200), -1),
                         ((4, -1, 5, -200), -7), ((4, 1 << 30, -1, -200), -6), ((4, 1 << 30, 31, -200), -6),
                         ((4, 1 << 30, 5, 1), -13)):
        assert lib.ul_softmax_s8(px, po, *args) == status, args
        assert out.tolist() == [9] * 4
    assert lib.ul_softmax_s8(None, po, 4, 1 << 30, 5, -200) == -10
    assert lib.ul_softmax_s8(None, None, 0, 1 << 30, 5, -200) == 0        # n = 0: nothing to do
    assert lib.ul_softmax_s8(px, po, 4, 1 << 30, 26, -31) == 0   # input scale 1/2: d 97, 107 below diff_min
    assert out.tolist() == [-128, -128, 0, 0]
