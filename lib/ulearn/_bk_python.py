"""The `python` backend: the pure-Python reference every other backend must equal, integer for integer.

Loaded by ulearn.backend on first use (or by select("python")); see ulearn.backend for the API.
"""

from ulearn import backend as _b
from ulearn.fixedpoint import LIMBS, rdbpot, sat32, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1 and -2^30: the small-int range of 32-bit MicroPython
_SMALL_MIN = const(-1073741824)
_SHIFT_MIN = const(-31)
_SHIFT_MAX = const(30)
# LIMBS (ulearn.fixedpoint): ports whose small integers are 31-bit (32-bit MicroPython / CircuitPython).
# There a Q31 multiplier is a heap object, so the multipliers come as 16-bit halves after the layer's
# program words (2 per channel: ulearn.fixedpoint.halves; conv_s8: words 26.., gemm_s8: words 14..) and
# the requantization runs on limbs (ulearn._limbs.requantize_limbs, imported when this backend is chosen):
# nothing allocated.
requantize_limbs = None

# ---- argument checks of the layer kernels (shared by the Python-level backends; no allocation) ----

def check_requant(q, mult0, w, shift0, n, out_off, act_min, act_max, g=None, h=-1):
    """Check per-channel requantization arguments (multipliers q[mult0:mult0+n], shifts
    w[shift0:shift0+n]; with `h` >= 0 the multipliers' halves g[h:h+2n] instead of q, see LIMBS) for `n`
    channels; raise ValueError naming the bad one."""
    if h >= 0:
        _region(g, h, 2 * n, "program (multiplier halves)")
    for j in range(n):
        s = w[shift0 + j]
        if s < _SHIFT_MIN or s > _SHIFT_MAX:
            raise ValueError("shift[%d] = %d outside [-31, 30]" % (j, s))
        if h >= 0:
            if not 0 <= g[h + 2 * j] <= 32767 or not -32768 <= g[h + 2 * j + 1] <= 32767:
                raise ValueError("mult[%d]: halves outside int16 (see ulearn.fixedpoint.halves)" % j)
        elif q[mult0 + j] < 0:
            raise ValueError("mult[%d] = %d is negative (Q31 multipliers are in [0, 2^31))" % (j, q[mult0 + j]))
    check_out(out_off, act_min, act_max)


def check_out(out_off, act_min, act_max):
    """Check the output zero point and activation range; ValueError naming the bad one."""
    if not -128 <= out_off <= 127:
        raise ValueError("out_off = %d outside [-128, 127] (it is the output zero point)" % out_off)
    if not -128 <= act_min <= act_max <= 127:
        raise ValueError("act_min/act_max = %d/%d: need -128 <= act_min <= act_max <= 127" % (act_min, act_max))


def _region(buf, off, count, name):
    # buf[off:off+count] must exist (off >= 0)
    if off < 0:
        raise ValueError("%s: offset %d is negative" % (name, off))
    _b._need(buf, off + count, name)


def check_channels(w, q, bias0, mult0, shift0, n):
    """Check that bias (q[bias0:], bias0 = -1: none), multipliers (q[mult0:]) and shifts (w[shift0:])
    of `n` channels lie inside their buffers."""
    if bias0 != -1:
        _region(q, bias0, n, "q (bias)")
    _region(q, mult0, n, "q (mult)")
    _region(w, shift0, n, "w (shifts)")


def check_gemm_prog(x, act, w, q, g, p):
    """Check the gemm_s8 program at g[p:] against the buffers (without the per-channel values);
    returns nothing, raises ValueError naming the bad word or buffer."""
    _region(g, p, 14, "program")
    m = g[p + 6]
    n = g[p + 7]
    k = g[p + 8]
    _b._nonneg(m, "m")
    _b._nonneg(n, "n")
    _b._nonneg(k, "k")
    _region(x, g[p], m * k, "x (a)")
    _region(act, g[p + 1], m * n, "act (out)")
    _region(w, g[p + 2], n * k, "w (b)")
    check_channels(w, q, g[p + 3], g[p + 4], g[p + 5], n)
    _b.check_offsets(g[p + 9], g[p + 10])


def check_conv_prog(x, act, w, q, g, p):
    """Check the conv_s8 program at g[p:] against the buffers (without the per-channel values);
    raise ValueError naming the bad word or buffer."""
    _region(g, p, 26, "program")
    for i in range(8, 22):
        if g[p + i] < (1 if 12 <= i < 18 else 0):
            raise ValueError("conv program word %d = %d: sizes must be >= 0, kernel/stride/dilation >= 1" %
                             (i, g[p + i]))
    in_c = g[p + 10]
    out_c = g[p + 11]
    row = g[p + 12] * g[p + 13] * in_c
    rows = g[p + 20] * g[p + 21]
    _region(x, g[p], g[p + 8] * g[p + 9] * in_c, "x")
    _region(act, g[p + 1], rows * out_c, "act (out)")
    _region(act, g[p + 2], g[p + 3], "act (col)")
    if rows and g[p + 3] < row:
        raise ValueError("col: %d bytes of scratch, one im2col row needs %d (see conv_col_size)" % (g[p + 3], row))
    _region(w, g[p + 4], out_c * row, "w")
    check_channels(w, q, g[p + 5], g[p + 6], g[p + 7], out_c)
    if not -127 <= g[p + 22] <= 128:
        raise ValueError("in_off = %d outside [-127, 128] (it is -input zero point)" % g[p + 22])


def _py_gemm(a, a0, b, b0, q, bias0, mult0, sb, shift0, out, out0, m, n, k, a_off, b_off, out_off, act_min,
             act_max, g=None, h=-1):
    # a (m x k) at a[a0], b (n x k) at b[b0], bias q[bias0] (-1: none), multipliers q[mult0] (-1: int32
    # output without requantization) or, with h >= 0, their halves g[h + 2j], g[h + 2j + 1] (LIMBS),
    # shifts sb[shift0]; out[out0 + i*n + j]
    for i in range(m):
        ai = a0 + i * k
        oi = out0 + i * n
        for j in range(n):
            bj = b0 + j * k
            acc = 0
            for t in range(k):
                acc += (a[ai + t] + a_off) * (b[bj + t] + b_off)
            if bias0 >= 0:
                acc += q[bias0 + j]
            if acc > _SMALL_MAX or acc < _SMALL_MIN:  # wrap32 only when it can matter (it boxes on 32-bit)
                acc = wrap32(acc)
            if mult0 < 0:
                out[oi + j] = acc
                continue
            s = sb[shift0 + j]
            if h >= 0:
                v = requantize_limbs(acc, g[h + 2 * j], g[h + 2 * j + 1], s)
            elif s > 0:
                v = srdhm(sat32(acc << s), q[mult0 + j])
            else:
                v = rdbpot(srdhm(acc, q[mult0 + j]), -s)
            v += out_off
            out[oi + j] = act_min if v < act_min else (act_max if v > act_max else v)


def _py_gemm_s8(x, act, w, q, g, p):
    """int8 GEMM with fused per-channel requantization, from the program words g[p:] (ulearn.backend,
    gemm_s8): act[OUT0..] (m x n, 'b') = clamp(requantize(a.(b)^T + bias) + out_off, act_min, act_max),
    a = x[A0..] ('b' m x k), b = w[B0..] ('b' n x k, one row per output channel), bias q[BIAS0..]
    ('i' n, BIAS0 -1: none), multipliers q[MULT0..] ('i' Q31), shifts w[SHIFT0..] ('b' in [-31, 30]).
    acc = sum_k (a+a_off)(b+b_off) + bias, wrapped to int32.
    """
    check_gemm_prog(x, act, w, q, g, p)
    n = g[p + 7]
    h = p + 14 if LIMBS else -1
    check_requant(q, g[p + 4], w, g[p + 5], n, g[p + 11], g[p + 12], g[p + 13], g, h)
    _py_gemm(x, g[p], w, g[p + 2], q, g[p + 3], g[p + 4], w, g[p + 5], act, g[p + 1], g[p + 6], n, g[p + 8],
             g[p + 9], g[p + 10], g[p + 11], g[p + 12], g[p + 13], g, h)


def _py_gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    """int8 GEMM to int32: out 'i' m x n = sum_k (a+a_off)(b+b_off) + bias (wrapped to int32)."""
    _b.check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _py_gemm(a, 0, b, 0, bias, -1 if bias is None else 0, -1, None, 0, out, 0, m, n, k, a_off, b_off, 0, 0, 0)


def im2col_rows(x, x0, col, col0, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, row0, rows, pad_value):
    """im2col of output pixels row0 .. row0+rows-1 (raster order) of the input at x[x0] into
    col[col0 ..] (no checks)."""
    p = col0
    for r in range(row0, row0 + rows):
        oy = r // out_w
        ox = r - oy * out_w
        iy0 = oy * stride_h - pad_top
        ix0 = ox * stride_w - pad_left
        for ky in range(k_h):
            iy = iy0 + ky * dil_h
            for kx in range(k_w):
                ix = ix0 + kx * dil_w
                if 0 <= iy < in_h and 0 <= ix < in_w:
                    src = x0 + (iy * in_w + ix) * in_c
                    for c in range(in_c):
                        col[p + c] = x[src + c]
                else:
                    for c in range(in_c):
                        col[p + c] = pad_value
                p += in_c


def _py_im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                  pad_top, pad_left, out_h, out_w, pad_value):
    """im2col of x 'b' HxWxC into col 'b' (out_h*out_w) x (k_h*k_w*in_c), rows in (ky, kx, c) order.

    Taps outside the input take pad_value (the input zero point). conv1d: in_h = k_h = 1.
    """
    _b.check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                 out_h, out_w, out_h * out_w)
    if not -128 <= pad_value <= 127:
        raise ValueError("pad_value = %d outside [-128, 127]" % pad_value)
    im2col_rows(x, 0, col, 0, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, 0, out_h * out_w, pad_value)


def make_conv(gemm_at, im2col, check_requant=None, limbs=False):
    """A conv_s8 built from a GEMM with offsets (signature of _py_gemm) and an im2col of row blocks
    (signature of im2col_rows), for the Python-level backends. `limbs`: the GEMM takes the multipliers'
    halves after the program words (LIMBS).

    `check_requant` replaces check_requant here (same arguments and errors), e.g. one that
    reads the Q31 multipliers without making Python integers of them (viper on 32-bit ports)."""
    if check_requant is None:
        check_requant = globals()["check_requant"]

    def conv_s8(x, act, w, q, g, p):
        """Whole conv layer from the program words g[p:] (ulearn.backend, conv_s8): x 'b' HxWxC at X0,
        weights 'b' OHWI at w[W0], output 'b' out_h x out_w x out_c at act[OUT0], scratch act[COL0..]."""
        check_conv_prog(x, act, w, q, g, p)
        out_c = g[p + 11]
        out_off = g[p + 23]
        act_min = g[p + 24]
        act_max = g[p + 25]
        h = p + 26 if limbs else -1
        if limbs:
            check_requant(q, g[p + 6], w, g[p + 7], out_c, out_off, act_min, act_max, g, h)
        else:
            check_requant(q, g[p + 6], w, g[p + 7], out_c, out_off, act_min, act_max)
        in_c = g[p + 10]
        row = g[p + 12] * g[p + 13] * in_c
        rows = g[p + 20] * g[p + 21]
        block = g[p + 3] // row if row else rows
        in_off = g[p + 22]
        col0 = g[p + 2]
        r0 = 0
        while r0 < rows:
            nb = rows - r0
            if nb > block:
                nb = block
            im2col(x, g[p], act, col0, g[p + 8], g[p + 9], in_c, g[p + 12], g[p + 13], g[p + 14], g[p + 15],
                   g[p + 16], g[p + 17], g[p + 18], g[p + 19], g[p + 21], r0, nb, -in_off)
            if limbs:
                gemm_at(act, col0, w, g[p + 4], q, g[p + 5], g[p + 6], w, g[p + 7], act, g[p + 1] + r0 * out_c, nb,
                        out_c, row, in_off, 0, out_off, act_min, act_max, g, h)
            else:
                gemm_at(act, col0, w, g[p + 4], q, g[p + 5], g[p + 6], w, g[p + 7], act, g[p + 1] + r0 * out_c, nb,
                        out_c, row, in_off, 0, out_off, act_min, act_max)
            r0 += nb
    return conv_s8


def _py_dot_q15(a, b, n):
    """Exact sum of a[i]*b[i] for i < n over 'h' arrays, as an int."""
    _b._need(a, n, "a")
    _b._need(b, n, "b")
    acc = 0
    for i in range(n):
        acc += a[i] * b[i]
    return acc


def _py_matvec_q15(w, x, bias, out, rows, cols, shift):
    """out 'i'[r] = sat32((sum_c w[r,c]*x[c] + bias[r] + round) >> shift); w 'h' rows x cols, x 'h'.

    bias 'i' rows or None; shift in [0, 31]; round = 1 << (shift-1) when shift > 0; exact sums.
    """
    _b.check_matvec(w, x, bias, out, rows, cols, shift)
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    for r in range(rows):
        acc = 0
        base = r * cols
        for c in range(cols):
            acc += w[base + c] * x[c]
        if bias is not None:
            acc += bias[r]
        out[r] = sat32((acc + rnd) >> shift)


_py_conv_s8 = make_conv(_py_gemm, im2col_rows, None, LIMBS)


def functions():
    """The six backend functions (pure Python)."""
    global requantize_limbs
    if LIMBS and requantize_limbs is None:
        from ulearn._limbs import requantize_limbs
    return (_py_gemm_s8, _py_gemm_s32, _py_im2col_s8, _py_conv_s8, _py_dot_q15, _py_matvec_q15)


