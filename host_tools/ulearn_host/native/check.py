"""Random cases: the C kernel (ctypes) against the numpy reference. `python -m ulearn_host.native.check`.

Run in a process started with `sanitizer_env()` when the library was built with sanitizers. Prints
one summary line; exit status 1 on the first mismatch (with the case).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import Kernel, KernelError, build
from . import reference as ref

I32 = (-(1 << 31), (1 << 31) - 1)


def _s8(rng: np.random.Generator, n: int, extreme: bool) -> np.ndarray:
    if extreme:
        return rng.choice(np.array([-128, 127, -127, 0], np.int8), n)
    return rng.integers(-128, 128, n, dtype=np.int8)


def _requant_params(rng, n):
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64).astype(np.int32)
    mult[rng.random(n) < 0.05] = 0
    shift = rng.integers(-31, 31, n).astype(np.int8)
    mid = rng.random(n) < 0.6   # mostly realistic scales, some extremes
    shift[mid] = rng.integers(-12, 2, int(mid.sum()))
    return mult, shift


def gemm_case(k: Kernel, rng: np.random.Generator) -> None:
    """One random gemm_s8 + gemm_s32 case (shapes include 1, odd K, K beyond the DSP limit)."""
    m, n = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 16])), int(rng.choice([1, 2, 3, 4, 5, 6, 9, 16, 67]))
    kk = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 31, 72, 120, 257]))
    extreme = rng.random() < 0.2
    a, b = _s8(rng, m * kk, extreme), _s8(rng, n * kk, extreme)
    a_off = int(rng.choice([-255, -127, 0, 128, 255, int(rng.integers(-255, 256))]))
    b_off = int(rng.choice([0, 0, -255, 255, int(rng.integers(-255, 256))]))
    bias = None if rng.random() < 0.2 else rng.integers(*I32, n, dtype=np.int64, endpoint=True).astype(np.int32)
    if bias is not None and rng.random() < 0.5:
        bias = (bias // 4096).astype(np.int32)
    mult, shift = _requant_params(rng, n)
    out_off = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    lo = int(rng.integers(-128, 128))
    hi = int(rng.integers(lo, 128))
    if rng.random() < 0.5:
        lo, hi = -128, 127
    out8 = np.zeros(m * n, np.int8)
    k.gemm_s8(a, b, bias, mult, shift, out8, m, n, kk, a_off, b_off, out_off, lo, hi)
    want8 = ref.gemm_s8(a, b, bias, mult, shift, m, n, kk, a_off, b_off, out_off, lo, hi).reshape(-1)
    prep = k.gemm_prepare(b, bias, n, kk, b_off)   # prepared weights: the same integers
    out8p = np.full(m * n, 0x55, np.int8)
    k.gemm_s8_prep(a, prep, mult, shift, out8p, m, n, kk, a_off, out_off, lo, hi)
    if not np.array_equal(out8p, want8):
        raise AssertionError(f"gemm_s8_prep mismatch m={m} n={n} k={kk} a_off={a_off} b_off={b_off} "
                             f"out_off={out_off} act=({lo},{hi})\n got {out8p[:8]} want {want8[:8]}")
    out32 = np.zeros(m * n, np.int32)
    k.gemm_s32(a, b, bias, out32, m, n, kk, a_off, b_off)
    want32 = ref.gemm_s32(a, b, bias, m, n, kk, a_off, b_off).reshape(-1)
    if not (np.array_equal(out8, want8) and np.array_equal(out32, want32)):
        raise AssertionError(f"gemm mismatch m={m} n={n} k={kk} a_off={a_off} b_off={b_off} out_off={out_off} "
                             f"act=({lo},{hi})\n got {out8[:8]} want {want8[:8]}\n got32 {out32[:4]} want {want32[:4]}")


def conv_case(k: Kernel, rng: np.random.Generator) -> None:
    """One random conv_s8 (and im2col) case, with a random scratch size."""
    in_h, in_w = int(rng.integers(1, 7)), int(rng.integers(1, 9))
    in_c, out_c = int(rng.integers(1, 6)), int(rng.integers(1, 7))
    k_h, k_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw, dh, dw = (int(v) for v in rng.integers(1, 3, 4))
    pt, pl = int(rng.integers(0, k_h)), int(rng.integers(0, k_w))
    out_h = (in_h + 2 * pt - dh * (k_h - 1) - 1) // sh + 1
    out_w = (in_w + 2 * pl - dw * (k_w - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        return
    x = _s8(rng, in_h * in_w * in_c, rng.random() < 0.2)
    w = _s8(rng, out_c * k_h * k_w * in_c, rng.random() < 0.2)
    bias = rng.integers(-(1 << 16), 1 << 16, out_c).astype(np.int32)
    mult, shift = _requant_params(rng, out_c)
    in_off = int(rng.integers(-127, 129))
    out_off = int(rng.integers(-128, 128))
    row = k_h * k_w * in_c
    rows = int(rng.integers(1, out_h * out_w + 1))
    col = np.zeros(row * rows, np.int8)
    out = np.zeros(out_h * out_w * out_c, np.int8)
    geom = (in_h, in_w, in_c, out_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, in_off, out_off, -128, 127)
    k.conv_s8(x, w, bias, mult, shift, out, col, *geom)
    want = ref.conv_s8(x, w, bias, mult, shift, *geom)
    if not np.array_equal(out, want):
        raise AssertionError(f"conv mismatch geom={geom}")
    full = np.zeros(row * out_h * out_w, np.int8)
    k.im2col_s8(x, full, in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, 0, out_h * out_w, -in_off)
    if not np.array_equal(full, ref.im2col(x, in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w,
                                           -in_off).reshape(-1)):
        raise AssertionError(f"im2col mismatch geom={geom}")


def q15_case(k: Kernel, rng: np.random.Generator) -> None:
    """One random dot_q15 / matvec_q15 case (extremes included)."""
    rows, cols = int(rng.integers(1, 9)), int(rng.choice([1, 2, 3, 5, 8, 33, 64]))
    if rng.random() < 0.2:
        w = rng.choice(np.array([-32768, 32767], np.int16), rows * cols)
        x = rng.choice(np.array([-32768, 32767], np.int16), cols)
    else:
        w = rng.integers(-32768, 32768, rows * cols, dtype=np.int16)
        x = rng.integers(-32768, 32768, cols, dtype=np.int16)
    bias = None if rng.random() < 0.3 else rng.integers(*I32, rows, dtype=np.int64, endpoint=True).astype(np.int32)
    shift = int(rng.integers(0, 32))
    out = np.zeros(rows, np.int32)
    k.matvec_q15(w, x, bias, out, rows, cols, shift)
    if not np.array_equal(out, ref.matvec_q15(w, x, bias, rows, cols, shift)):
        raise AssertionError(f"matvec mismatch rows={rows} cols={cols} shift={shift}")
    want = int(np.dot(w[:cols].astype(np.int64), x.astype(np.int64)))
    if k.dot_q15(w, x, cols) != want:
        raise AssertionError(f"dot_q15 mismatch n={cols}")


def requant_case(k: Kernel, rng: np.random.Generator) -> None:
    """1000 requantizations in one GEMM (k=1, a=b=0, so acc = bias), aimed inside int8, ties included."""
    n = 1000
    mult, shift = _requant_params(rng, n)
    half = rng.random(n) < 0.3
    mult[half], shift[half] = 1 << 30, -rng.integers(0, 3, int(half.sum()))
    target = rng.integers(-130, 131, n).astype(np.int64)
    m64 = np.maximum(mult.astype(np.int64), 1)
    acc = (target << 31) // m64
    sh = shift.astype(np.int64)
    acc = np.where(sh <= 0, acc << np.maximum(-sh, 0), acc >> np.maximum(sh, 0)) + rng.integers(-3, 4, n)
    acc[half] = rng.integers(-1000, 1001, int(half.sum()))
    bias = np.clip(acc, *I32).astype(np.int32)
    zero = np.zeros(n, np.int8)
    out = np.zeros(n, np.int8)
    k.gemm_s8(zero, zero, bias, mult, shift, out, 1, n, 1, 0, 0, 0, -128, 127)
    want = ref.gemm_s8(zero, zero, bias, mult, shift, 1, n, 1, 0, 0, 0, -128, 127).reshape(-1)
    if not np.array_equal(out, want):
        bad = int(np.flatnonzero(out != want)[0])
        raise AssertionError(f"requantize(acc={bias[bad]}, mult={mult[bad]}, shift={shift[bad]}): "
                             f"{out[bad]} != {want[bad]}")


def bad_case(k: Kernel, rng: np.random.Generator) -> None:
    """Invalid arguments return a status (never crash)."""
    a = np.zeros(4, np.int8)
    mult, shift = np.full(2, 1 << 30, np.int32), np.zeros(2, np.int8)
    out = np.zeros(4, np.int8)
    cases = [
        (lambda: k.gemm_s8(a, a, None, mult, np.array([0, 31], np.int8), out, 2, 2, 2, 0, 0, 0, -128, 127), -6),
        (lambda: k.gemm_s8(a, a, None, np.array([1, -1], np.int32), shift, out, 2, 2, 2, 0, 0, 0, -128, 127), -7),
        (lambda: k.gemm_s8(a, a, None, mult, shift, out, -1, 2, 2, 0, 0, 0, -128, 127), -1),
        (lambda: k.gemm_s8(a, a, None, mult, shift, out, 2, 2, 2, 256, 0, 0, -128, 127), -2),
        (lambda: k.gemm_s8(a, a, None, mult, shift, out, 2, 2, 2, 0, 0, 0, 3, 2), -5),
        (lambda: k.gemm_s32(None, a, None, np.zeros(4, np.int32), 2, 2, 2, 0, 0), -10),
        (lambda: k.gemm_prepare(a, None, 2, 2, 0, np.zeros(3, np.int32)), -11),   # buffer too small
        (lambda: k.gemm_prepare(a, None, 2, 2, 256), -3),
        (lambda: k.gemm_s8_prep(a, k.gemm_prepare(a, None, 2, 2, 0), mult, shift, out, 2, 2, 1, 0, 0, -128, 127),
         -11),   # prepared for k=2, called with k=1
        (lambda: k.gemm_s8_prep(a, np.zeros(16, np.int32), mult, shift, out, 2, 2, 2, 0, 0, -128, 127), -11),
        (lambda: k.gemm_s8_prep(a, None, mult, shift, out, 2, 2, 2, 0, 0, -128, 127), -10),
        (lambda: k.matvec_q15(np.zeros(1, np.int16), np.zeros(1, np.int16), None, np.zeros(1, np.int32), 1, 1, 32), -6),
        (lambda: k.conv_s8(a, a, None, mult, shift, out, np.zeros(1, np.int8), 2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0,
                           1, 1, 0, 0, -128, 127), -8),
    ]
    fn, status = cases[int(rng.integers(len(cases)))]
    try:
        fn()
    except KernelError as e:
        if e.status != status:
            raise AssertionError(f"expected status {status}, got {e.status}") from None
        return
    raise AssertionError(f"bad arguments accepted (expected status {status})")


KINDS = (gemm_case, gemm_case, conv_case, q15_case, bad_case, requant_case)


def run(cases: int, seed: int, sanitize: bool, scalar: bool = False) -> int:
    """Run `cases` random cases; returns how many ran (raises AssertionError on a mismatch).

    `scalar` builds the microcontroller C path (UL_FORCE_SCALAR) instead of the host's SIMD one."""
    k = Kernel(build(sanitize=sanitize, extra=["-DUL_FORCE_SCALAR"] if scalar else None))
    rng = np.random.default_rng(seed)
    for i in range(cases):
        KINDS[i % len(KINDS)](k, rng)
    for acc, mult, shift in ((I32[1], I32[1], 30), (I32[0], I32[1], 30), (I32[0], I32[1], -31), (-3, 1 << 30, 0)):
        want = int(ref.requantize(np.array([acc]), np.array([mult]), np.array([shift]))[0])
        if k.requantize(acc, mult, shift) != want:
            raise AssertionError(f"requantize({acc}, {mult}, {shift})")
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sanitize", action="store_true", help="use the -fsanitize=address,undefined build")
    p.add_argument("--scalar", action="store_true", help="the microcontroller C path (UL_FORCE_SCALAR)")
    args = p.parse_args(argv)
    try:
        n = run(args.cases, args.seed, args.sanitize, args.scalar)
    except AssertionError as e:
        print(f"MISMATCH (seed {args.seed}): {e}")
        return 1
    print(f"OK {n} random cases (seed {args.seed}, sanitizers {'on' if args.sanitize else 'off'}, "
          f"{'scalar' if args.scalar else 'host'} C path): C kernel == numpy reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
