"""Random cases comparing one backend with the pure-Python reference (used by device and host tests).

    import backend_cases; backend_cases.check("viper")   # raises AssertionError on a difference

Shapes include K=1, odd K, M or N = 1, -128/127 extremes, zero points at their limits, every shift.
"""

from array import array

from ulearn import backend
from ulearn.fixedpoint import LIMBS


class Rng:
    """Deterministic LCG (same cases under CPython and MicroPython)."""

    def __init__(self, seed):
        self.s = seed & 0x7FFFFFFF

    def next(self):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return self.s >> 8

    def int(self, lo, hi):
        return lo + ((self.next() << 8) ^ self.next()) % (hi - lo + 1)

    def pick(self, seq):
        return seq[self.next() % len(seq)]


def _s8(rng, n, mode):
    if mode == 1:
        return array("b", [rng.pick((-128, 127)) for _ in range(n)])
    if mode == 2:
        return array("b", [-128] * n)
    return array("b", [rng.int(-128, 127) for _ in range(n)])


def _run(name, fn_name, *args):
    backend.select(name)
    return getattr(backend, fn_name)(*args)


def _cat(tc, *parts):
    # array(tc) of the parts (arrays, or an int n: n filler elements of value 3) without temporary lists
    out = array(tc)
    for part in parts:
        if isinstance(part, int):
            for _ in range(part):
                out.append(3)
        elif part is not None:
            for v in part:  # not extend(): MicroPython copies the bytes of an array of another typecode
                out.append(v)
    return out


def _halves(mult):
    # the multipliers' halves that follow a program on ports with 31-bit small ints (ulearn.fixedpoint.LIMBS)
    out = array("i")
    if LIMBS:
        from ulearn._limbs import halves
        for v in mult:
            hi, lo = halves(v)
            out.append(hi)
            out.append(lo)
    return out


def gemm_args(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, lo, hi, pad=0, wide=True):
    """(x, act, w, q, g, p) for backend.gemm_s8 from plain buffers: every region after `pad` filler
    elements (so the offsets are exercised), the program in an int32 (`wide`) or int16 array (followed
    by the multipliers' halves where ulearn.fixedpoint.LIMBS). The output is act[pad:pad + m*n]."""
    nb = 0 if bias is None else n
    words = [pad, pad, pad, -1 if bias is None else pad, pad + nb, 2 * pad + n * k, m, n, k, a_off, b_off, out_off,
             lo, hi]
    return (_cat("b", pad, a), array("b", bytes(pad + m * n)), _cat("b", pad, b, pad, shift),
            _cat("i", pad, bias, mult), _cat("i" if wide else "h", pad, words, _halves(mult)), pad)


def conv_args(x, w, bias, mult, shift, col_len, geom, pad=0, wide=True):
    """(x, act, w, q, g, p) for backend.conv_s8 from plain buffers and geom = (in_h, in_w, in_c, out_c, k_h,
    k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off, act_min, act_max);
    scratch of col_len bytes. The output is act[pad:pad + out_h*out_w*out_c]."""
    n_out = geom[12] * geom[13] * geom[3]
    nb = 0 if bias is None else geom[3]
    words = [pad, pad, pad + n_out + pad, col_len, pad, -1 if bias is None else pad, pad + nb, 2 * pad + len(w)]
    return (_cat("b", pad, x), array("b", bytes(pad + n_out + pad + col_len)), _cat("b", pad, w, pad, shift),
            _cat("i", pad, bias, mult), _cat("i" if wide else "h", pad, words, geom, _halves(mult)), pad)


def check_gemm(name, cases=40, seed=11):
    """gemm_s8 and gemm_s32 of backend `name` == reference on `cases` random shapes."""
    rng = Rng(seed)
    shifts = (-31, -20, -9, -1, 0, 1, 5, 30)
    for case in range(cases):
        m = rng.pick((1, 1, 2, 3, 5, 8))
        n = rng.pick((1, 1, 2, 4, 5, 7))
        k = rng.pick((1, 2, 3, 4, 5, 7, 9, 16, 33, 120))
        mode = case % 3
        a, b = _s8(rng, m * k, mode), _s8(rng, n * k, (mode + 1) % 3)
        a_off = rng.pick((-255, -127, 0, 128, 255, rng.int(-255, 255)))
        b_off = rng.pick((0, 0, -255, 255, rng.int(-255, 255)))
        bias = None if case % 4 == 0 else array("i", [rng.pick((-2147483648, 2147483647, rng.int(-70000, 70000)))
                                                      for _ in range(n)])
        mult = array("i", [rng.pick((0, 1073741824, 2147483647, rng.int(1073741824, 2147483647)))
                           for _ in range(n)])
        shift = array("b", [rng.pick(shifts) for _ in range(n)])
        out_off = rng.pick((-128, 127, 0, rng.int(-128, 127)))
        lo = rng.pick((-128, -128, rng.int(-128, 0)))
        hi = rng.pick((127, 127, rng.int(lo, 127)))
        pad = case % 4
        want = gemm_args(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, lo, hi, pad, case % 2 == 0)
        got = gemm_args(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, lo, hi, pad, case % 3 == 0)
        _run("python", "gemm_s8", *want)
        _run(name, "gemm_s8", *got)
        assert got[1] == want[1], "%s gemm_s8 case %d (m=%d n=%d k=%d a_off=%d b_off=%d): %r != %r" % (
            name, case, m, n, k, a_off, b_off, got[1], want[1])
        want32, got32 = array("i", [0] * (m * n)), array("i", [0] * (m * n))
        _run("python", "gemm_s32", a, b, bias, want32, m, n, k, a_off, b_off)
        _run(name, "gemm_s32", a, b, bias, got32, m, n, k, a_off, b_off)
        assert got32 == want32, "%s gemm_s32 case %d: %r != %r" % (name, case, got32, want32)
    backend.select("python")


def check_conv(name, cases=12, seed=12):
    """conv_s8 and im2col_s8 of backend `name` == reference (random geometry, padding, scratch size)."""
    rng = Rng(seed)
    for case in range(cases):
        in_h, in_w = rng.pick((1, 2, 5)), rng.pick((1, 3, 8))
        in_c, out_c = rng.pick((1, 2, 3)), rng.pick((1, 2, 5))
        k_h, k_w = rng.int(1, 3), rng.int(1, 3)
        s, d = rng.int(1, 2), rng.int(1, 2)
        pt, pl = rng.int(0, k_h - 1), rng.int(0, k_w - 1)
        out_h = (in_h + 2 * pt - d * (k_h - 1) - 1) // s + 1
        out_w = (in_w + 2 * pl - d * (k_w - 1) - 1) // s + 1
        if out_h < 1 or out_w < 1:
            continue
        x = _s8(rng, in_h * in_w * in_c, case % 3)
        w = _s8(rng, out_c * k_h * k_w * in_c, 0)
        bias = array("i", [rng.int(-30000, 30000) for _ in range(out_c)])
        mult = array("i", [rng.int(1073741824, 2147483647) for _ in range(out_c)])
        shift = array("b", [rng.int(-12, 1) for _ in range(out_c)])
        in_off = rng.pick((-127, 128, rng.int(-127, 128)))
        row = k_h * k_w * in_c
        col_len = row * rng.int(1, out_h * out_w)
        geom = (in_h, in_w, in_c, out_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w, in_off,
                rng.int(-128, 127), -128, 127)
        pad = case % 3
        n_out = out_h * out_w * out_c
        want = conv_args(x, w, None if case % 5 == 4 else bias, mult, shift, col_len, geom, pad, case % 2 == 0)
        got = conv_args(x, w, None if case % 5 == 4 else bias, mult, shift, col_len, geom, pad, case % 2 == 1)
        _run("python", "conv_s8", *want)
        _run(name, "conv_s8", *got)
        assert got[1][:pad + n_out] == want[1][:pad + n_out], "%s conv_s8 case %d geom %r" % (name, case, geom)
        full_w, full_g = array("b", [0] * (row * out_h * out_w)), array("b", [0] * (row * out_h * out_w))
        g = (in_h, in_w, in_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w, -in_off)
        _run("python", "im2col_s8", x, full_w, *g)
        _run(name, "im2col_s8", x, full_g, *g)
        assert full_g == full_w, "%s im2col_s8 case %d" % (name, case)
    backend.select("python")


def check_q15(name, cases=20, seed=13):
    """dot_q15 and matvec_q15 of backend `name` == reference (extremes included)."""
    rng = Rng(seed)
    for case in range(cases):
        rows, cols = rng.int(1, 5), rng.pick((1, 2, 3, 17, 64))
        if case % 3 == 0:
            w = array("h", [rng.pick((-32768, 32767)) for _ in range(rows * cols)])
            x = array("h", [-32768] * cols)
        else:
            w = array("h", [rng.int(-32768, 32767) for _ in range(rows * cols)])
            x = array("h", [rng.int(-32768, 32767) for _ in range(cols)])
        bias = None if case % 4 == 0 else array("i", [rng.pick((-2147483648, 2147483647, rng.int(-9, 9)))
                                                      for _ in range(rows)])
        shift = rng.pick((0, 1, 15, 31))
        assert _run(name, "dot_q15", w, x, cols) == _run("python", "dot_q15", w, x, cols)
        want, got = array("i", [0] * rows), array("i", [0] * rows)
        _run("python", "matvec_q15", w, x, bias, want, rows, cols, shift)
        _run(name, "matvec_q15", w, x, bias, got, rows, cols, shift)
        assert got == want, "%s matvec_q15 case %d: %r != %r" % (name, case, got, want)
    backend.select("python")


def check_requant(name, rounds=6, seed=14):
    """Requantization of accumulators chosen so the results land inside int8 (ties included).

    One GEMM with k=1 and a = b = 0 makes acc = bias[j]; each channel j gets its own (acc, mult, shift).
    """
    rng = Rng(seed)
    n = 48
    zero = array("b", [0] * n)
    for _ in range(rounds):
        bias, mult, shift = array("i", [0] * n), array("i", [0] * n), array("b", [0] * n)
        for j in range(n):
            if j % 3 == 0:      # scale 1/2, 1/4, 1/8: exact ties at both rounding steps
                mult[j], shift[j] = 1073741824, -rng.int(0, 2)
                bias[j] = rng.int(-1000, 1000)
            else:               # a random scale; acc aimed at a target output, +- a little
                mult[j] = rng.int(1073741824, 2147483647)
                shift[j] = rng.pick((-31, -24, -16, -8, -3, 0, 1, 3))
                target = rng.int(-130, 130)
                acc = (target << 31) // mult[j]
                acc = acc << -shift[j] if shift[j] <= 0 else acc >> shift[j]
                acc += rng.int(-3, 3)
                bias[j] = -2147483648 if acc < -2147483648 else (2147483647 if acc > 2147483647 else acc)
        want = gemm_args(zero, zero, bias, mult, shift, 1, n, 1, 0, 0, 0, -128, 127)
        got = gemm_args(zero, zero, bias, mult, shift, 1, n, 1, 0, 0, 0, -128, 127, 1, False)
        _run("python", "gemm_s8", *want)
        _run(name, "gemm_s8", *got)
        assert got[1][1:] == want[1], "%s requantization: %r != %r" % (name, got[1], want[1])
    backend.select("python")


def check(name):
    """All comparisons for backend `name`."""
    check_requant(name)
    check_gemm(name)
    check_conv(name)
    check_q15(name)
