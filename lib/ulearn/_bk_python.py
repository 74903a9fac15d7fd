"""The `python` backend: the pure-Python reference every other backend must equal, integer for integer.

Loaded by ulearn.backend on first use (or by select("python")); see ulearn.backend for the API.
"""

from ulearn import backend as _b
from ulearn._bk_common import check_gemm_prog, check_requant, make_conv
from ulearn.fixedpoint import LIMBS, rdbpot, sat32, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1 and -2^30: the small-int range of 32-bit MicroPython
_SMALL_MIN = const(-1073741824)
# LIMBS (ulearn.fixedpoint): ports whose small integers are 31-bit (32-bit MicroPython / CircuitPython).
# There a Q31 multiplier is a heap object, so the multipliers come as 16-bit halves after the layer's
# program words (2 per channel: ulearn._limbs.halves; conv_s8: words 26.., gemm_s8: words 14..) and
# the requantization runs on limbs (ulearn._limbs.requantize_limbs, imported when this backend is chosen):
# nothing allocated.
requantize_limbs = None

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


_py_conv_s8 = make_conv(_py_gemm, im2col_rows, limbs=LIMBS)


def functions():
    """The six backend functions (pure Python)."""
    global requantize_limbs
    if LIMBS and requantize_limbs is None:
        from ulearn._limbs import requantize_limbs
    return (_py_gemm_s8, _py_gemm_s32, _py_im2col_s8, _py_conv_s8, _py_dot_q15, _py_matvec_q15)


