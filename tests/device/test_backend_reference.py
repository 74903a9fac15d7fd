"""The pure-Python reference backend and ulearn.fixedpoint against independent, straightforward definitions.

Runs under CPython and inside MicroPython (source and .mpy).
"""

from array import array

from backend_cases import conv_args, gemm_args
from devtest import raises
from ulearn import fixedpoint as fp


class Rng:
    """Small deterministic LCG so CPython and MicroPython see the same cases."""

    def __init__(self, seed):
        self.s = seed & 0x7FFFFFFF

    def bits(self, n):
        out = 0
        got = 0
        while got < n:
            self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
            out = (out << 16) | (self.s >> 15)
            got += 16
        return out >> (got - n)

    def int(self, lo, hi):
        """Uniform-ish integer in [lo, hi]."""
        return lo + self.bits(40) % (hi - lo + 1)


def round_half_away(num, den):
    """num/den (den > 0) rounded to nearest, ties away from zero: the spec's rounding, written plainly."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def round_srdhm(num, den):
    """num/den to nearest; ties go up for num >= 0 and toward zero for num < 0 (gemmlowp's nudge)."""
    q, r = divmod(abs(num), den)
    if num >= 0:
        return q + (1 if 2 * r >= den else 0)
    return -(q + (1 if 2 * r > den else 0))


def test_srdhm_is_rounded_doubling_high_mul():
    rng = Rng(1)
    edges = (fp.INT32_MIN, fp.INT32_MIN + 1, -1, 0, 1, fp.INT32_MAX, 1 << 30, -(1 << 30))
    cases = [(a, b) for a in edges for b in edges]
    cases += [(rng.int(fp.INT32_MIN, fp.INT32_MAX), rng.int(fp.INT32_MIN, fp.INT32_MAX)) for _ in range(300)]
    for a, b in cases:
        want = fp.INT32_MAX if a == b == fp.INT32_MIN else round_srdhm(a * b, 1 << 31)
        assert fp.srdhm(a, b) == want, (a, b)


def test_rounding_divide_by_pot():
    rng = Rng(2)
    for e in range(32):
        for x in (fp.INT32_MIN, fp.INT32_MAX, 0, 1, -1, 3, -3, 1 << e, -(1 << e)):
            assert fp.rdbpot(x, e) == round_half_away(x, 1 << e), (x, e)
        for _ in range(20):
            x = rng.int(fp.INT32_MIN, fp.INT32_MAX)
            assert fp.rdbpot(x, e) == round_half_away(x, 1 << e), (x, e)
    assert fp.rdbpot(5, 1) == 3 and fp.rdbpot(-5, 1) == -3 and fp.rdbpot(-6, 2) == -2


def test_requantize_matches_tflite_definition():
    rng = Rng(3)
    for _ in range(400):
        acc = rng.int(-(1 << 24), 1 << 24)
        mult = rng.int(1 << 30, (1 << 31) - 1)
        shift = rng.int(-31, 30)
        if shift > 0:
            x = fp.sat32(acc * (1 << shift))
            want = round_srdhm(x * mult, 1 << 31)
        else:
            want = round_half_away(round_srdhm(acc * mult, 1 << 31), 1 << -shift)
        assert fp.requantize(acc, mult, shift) == want, (acc, mult, shift)
    # scale 0.5 (mult 2^30, shift 0): halves; the doubling high-mul sends -1.5 to -1
    assert [fp.requantize(v, 1 << 30, 0) for v in (3, -3, 4, -5)] == [2, -1, 2, -2]
    # scale 0.25 (mult 2^30, shift -1): -0.75 -> srdhm -1 (ties toward zero) -> /2 -> -1 (away)
    assert fp.requantize(-3, 1 << 30, -1) == -1 and fp.requantize(-2, 1 << 30, -1) == -1
    assert fp.requantize(5, fp.INT32_MAX, 30) == fp.INT32_MAX - 1  # 5 << 30 saturates


def test_quantize_multiplier():
    for scale in (0.5, 0.25, 0.0078125, 1.5, 0.000123, 0.999999):
        mult, shift = fp.quantize_multiplier(scale)
        assert (1 << 30) <= mult < (1 << 31)
        assert abs(mult * 2.0 ** (shift - 31) - scale) <= scale * 1e-6
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(0) == (0, 0)


def _gemm_plain(a, b, bias, m, n, k, a_off, b_off):
    # expanded form: sum ab + b_off*sum a + a_off*sum b + k*a_off*b_off (a different way to the same sum)
    out = []
    for i in range(m):
        for j in range(n):
            sab = sa = sb = 0
            for t in range(k):
                x, w = a[i * k + t], b[j * k + t]
                sab += x * w
                sa += x
                sb += w
            acc = sab + b_off * sa + a_off * sb + k * a_off * b_off + (bias[j] if bias else 0)
            out.append(fp.wrap32(acc))
    return out


def _rand_s8(rng, n, extreme=False):
    if extreme:
        return array("b", [(-128, 127)[rng.bits(1)] for _ in range(n)])
    return array("b", [rng.int(-128, 127) for _ in range(n)])


def test_gemm_s32_and_s8_against_expanded_sum():
    from ulearn import backend
    backend.select("python")
    rng = Rng(4)
    shapes = [(1, 1, 1), (3, 5, 1), (1, 7, 9), (4, 1, 13), (5, 3, 8), (2, 4, 17)]
    for case, (m, n, k) in enumerate(shapes):
        extreme = case % 2 == 1
        a, b = _rand_s8(rng, m * k, extreme), _rand_s8(rng, n * k, extreme)
        a_off = (128, -127, 0, 255, -255, 7)[case]
        b_off = (0, 0, -128, 127, 3, -255)[case]
        bias = None if case == 2 else array("i", [rng.int(-(1 << 20), 1 << 20) for _ in range(n)])
        want = _gemm_plain(a, b, bias, m, n, k, a_off, b_off)
        out32 = array("i", [0] * (m * n))
        backend.gemm_s32(a, b, bias, out32, m, n, k, a_off, b_off)
        assert list(out32) == want, (m, n, k)
        mult = array("i", [rng.int(1 << 30, (1 << 31) - 1) for _ in range(n)])
        shift = array("b", [(-31, 30, -10, 0, 5, -1, 1)[(j + case) % 7] for j in range(n)])
        out_off, lo, hi = (-128, 127, 0, 5, -3, 10)[case], -128, 127
        if case == 3:
            lo, hi = 0, 6   # relu6-style clamp
        args = gemm_args(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, lo, hi, case, case % 2 == 0)
        backend.gemm_s8(*args)
        out8 = args[1][case:]
        for i in range(m * n):
            j = i % n
            v = fp.requantize(want[i], mult[j], shift[j]) + out_off
            assert out8[i] == min(hi, max(lo, v)), (m, n, k, i)


def test_accumulator_wraps_to_int32():
    from ulearn import backend
    backend.select("python")
    k = 4
    a = array("b", [127] * k)
    b = array("b", [127] * k)
    out = array("i", [0])
    backend.gemm_s32(a, b, array("i", [fp.INT32_MAX]), out, 1, 1, k, 128, 128)
    assert out[0] == fp.wrap32(fp.INT32_MAX + k * 255 * 255) < 0


def _conv_direct(x, w, bias, mult, shift, in_h, in_w, in_c, out_c, k_h, k_w, sh, sw, dh, dw, pt, pl,
                 out_h, out_w, in_off, out_off, lo, hi):
    out = []
    for oy in range(out_h):
        for ox in range(out_w):
            for o in range(out_c):
                acc = bias[o] if bias else 0
                for ky in range(k_h):
                    for kx in range(k_w):
                        iy, ix = oy * sh - pt + ky * dh, ox * sw - pl + kx * dw
                        for c in range(in_c):
                            xv = x[(iy * in_w + ix) * in_c + c] + in_off if 0 <= iy < in_h and 0 <= ix < in_w else 0
                            acc += xv * w[((o * k_h + ky) * k_w + kx) * in_c + c]
                v = fp.requantize(fp.wrap32(acc), mult[o], shift[o]) + out_off
                out.append(min(hi, max(lo, v)))
    return out


def test_conv_s8_and_im2col_against_direct_convolution():
    from ulearn import backend
    backend.select("python")
    rng = Rng(5)
    # (in_h, in_w, in_c, out_c, k_h, k_w, stride, dil, pad_top, pad_left, col_rows)
    layers = [(5, 6, 3, 4, 3, 3, 1, 1, 1, 1, 16), (1, 17, 2, 3, 1, 4, 2, 1, 0, 1, 3),
              (4, 4, 1, 2, 2, 2, 1, 2, 1, 0, 1), (3, 3, 2, 1, 3, 3, 2, 1, 1, 1, 100)]
    for in_h, in_w, in_c, out_c, k_h, k_w, s, d, pt, pl, col_rows in layers:
        out_h = (in_h + 2 * pt - d * (k_h - 1) - 1) // s + 1
        out_w = (in_w + 2 * pl - d * (k_w - 1) - 1) // s + 1
        x = _rand_s8(rng, in_h * in_w * in_c)
        w = _rand_s8(rng, out_c * k_h * k_w * in_c)
        bias = array("i", [rng.int(-5000, 5000) for _ in range(out_c)])
        mult = array("i", [rng.int(1 << 30, (1 << 31) - 1) for _ in range(out_c)])
        shift = array("b", [rng.int(-9, -5) for _ in range(out_c)])
        zp = rng.int(-128, 127)
        args = (in_h, in_w, in_c, out_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w, -zp, 3, -128, 127)
        want = _conv_direct(x, w, bias, mult, shift, *args)
        row = k_h * k_w * in_c
        assert backend.conv_col_size(in_c, k_h, k_w, out_h, out_w) >= row
        for pad, wide in ((0, True), (3, False)):
            cargs = conv_args(x, w, bias, mult, shift, row * min(col_rows, out_h * out_w), args, pad, wide)
            backend.conv_s8(*cargs)
            assert list(cargs[1][pad:pad + len(want)]) == want
        full = array("b", [0] * (row * out_h * out_w))
        backend.im2col_s8(x, full, in_h, in_w, in_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w, zp)
        # row r, tap (ky, kx, c): the input pixel or the zero point
        r = out_h * out_w - 1
        oy, ox = r // out_w, r % out_w
        for ky in range(k_h):
            for kx in range(k_w):
                iy, ix = oy * s - pt + ky * d, ox * s - pl + kx * d
                for c in range(in_c):
                    inside = 0 <= iy < in_h and 0 <= ix < in_w
                    assert full[r * row + (ky * k_w + kx) * in_c + c] == (
                        x[(iy * in_w + ix) * in_c + c] if inside else zp)


def test_q15_dot_and_matvec():
    from ulearn import backend
    backend.select("python")
    rng = Rng(6)
    a = array("h", [rng.int(-32768, 32767) for _ in range(33)] + [-32768, -32768])
    b = array("h", [rng.int(-32768, 32767) for _ in range(33)] + [-32768, -32768])
    assert backend.dot_q15(a, b, len(a)) == sum(a[i] * b[i] for i in range(len(a)))
    assert backend.dot_q15(a, b, 0) == 0
    rows, cols = 3, 35
    w = array("h", list(a) * rows)
    bias = array("i", [fp.INT32_MAX, -7, 0])
    for shift in (0, 1, 15, 31):
        out = array("i", [0] * rows)
        backend.matvec_q15(w, b, bias, out, rows, cols, shift)
        for r in range(rows):
            s = sum(w[r * cols + c] * b[c] for c in range(cols)) + bias[r]
            want = round_half_away(s, 1 << shift) if s >= 0 or shift == 0 else -((-s + (1 << shift) // 2 - 1) >> shift)
            assert out[r] == fp.sat32(want), (shift, r)


def test_bad_arguments_name_the_argument():
    from ulearn import backend
    backend.select("python")
    a, b = array("b", [1] * 6), array("b", [1] * 6)
    mult, shift = array("i", [1 << 30] * 2), array("b", [0, 0])

    def gemm(m, n, k, shifts=shift, lo=-128, hi=127, x0=0, out=None, g=None):
        x, act, w, q, prog, p = gemm_args(a, b, None, mult, shifts, m, n, k, 0, 0, 0, lo, hi)
        prog[0] = x0
        backend.gemm_s8(x, act if out is None else out, w, q, prog if g is None else g, p)

    with raises(ValueError, "x (a)"):
        gemm(3, 2, 3)
    with raises(ValueError, "offset -1 is negative"):
        gemm(2, 2, 3, x0=-1)
    with raises(ValueError, "shift[1]"):
        gemm(2, 2, 3, shifts=array("b", [0, 31]))
    with raises(ValueError, "act (out)"):
        gemm(2, 2, 3, out=array("b", [0]))
    with raises(ValueError, "program"):
        gemm(2, 2, 3, g=array("h", [0] * 13))
    with raises(ValueError, "a_off"):
        backend.gemm_s32(a, b, None, array("i", [0] * 4), 2, 2, 3, 256, 0)
    with raises(ValueError, "act_min"):
        gemm(2, 2, 3, lo=5, hi=4)
    with raises(ValueError, "shift"):
        backend.matvec_q15(array("h", [1]), array("h", [1]), None, array("i", [0]), 1, 1, 32)
    with raises(ValueError, "unknown backend"):
        backend.select("gpu")
