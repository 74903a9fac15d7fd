"""Random cases comparing one backend with the pure-Python reference (used by device and host tests).

    import backend_cases; backend_cases.check("viper")   # raises AssertionError on a difference

Shapes include K=1, odd K, M or N = 1, -128/127 extremes, zero points at their limits, every shift.
"""

from array import array

from ulearn import backend


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
        want, got = array("b", [0] * (m * n)), array("b", [0] * (m * n))
        args = (a, b, bias, mult, shift)
        tail = (m, n, k, a_off, b_off, out_off, lo, hi)
        _run("python", "gemm_s8", *args, want, *tail)
        _run(name, "gemm_s8", *args, got, *tail)
        assert got == want, "%s gemm_s8 case %d (m=%d n=%d k=%d a_off=%d b_off=%d): %r != %r" % (
            name, case, m, n, k, a_off, b_off, got, want)
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
        col = array("b", [0] * (row * rng.int(1, out_h * out_w)))
        geom = (in_h, in_w, in_c, out_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w, in_off,
                rng.int(-128, 127), -128, 127)
        want, got = array("b", [0] * (out_h * out_w * out_c)), array("b", [0] * (out_h * out_w * out_c))
        _run("python", "conv_s8", x, w, bias, mult, shift, want, col, *geom)
        _run(name, "conv_s8", x, w, bias, mult, shift, got, col, *geom)
        assert got == want, "%s conv_s8 case %d geom %r" % (name, case, geom)
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
        want, got = array("b", [0] * n), array("b", [0] * n)
        args = (zero, zero, bias, mult, shift)
        _run("python", "gemm_s8", *args, want, 1, n, 1, 0, 0, 0, -128, 127)
        _run(name, "gemm_s8", *args, got, 1, n, 1, 0, 0, 0, -128, 127)
        assert got == want, "%s requantization: %r != %r" % (name, got, want)
    backend.select("python")


def check(name):
    """All comparisons for backend `name`."""
    check_requant(name)
    check_gemm(name)
    check_conv(name)
    check_q15(name)
