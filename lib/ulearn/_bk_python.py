"""The `python` backend: the pure-Python reference every other backend must equal, integer for integer.

Loaded by ulearn.backend on first use (or by select("python")); see ulearn.backend for the API.
"""

from ulearn import backend as _b
from ulearn.fixedpoint import rdbpot, sat32, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SMALL_MAX = const(1073741823)  # 2^30 - 1 and -2^30: the small-int range of 32-bit MicroPython
_SMALL_MIN = const(-1073741824)

def _py_gemm(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max, out0):
    # out[out0 + i*n + j]; mult None -> int32 output without requantization
    for i in range(m):
        ai = i * k
        oi = out0 + i * n
        for j in range(n):
            bj = j * k
            acc = 0
            for t in range(k):
                acc += (a[ai + t] + a_off) * (b[bj + t] + b_off)
            if bias is not None:
                acc += bias[j]
            if acc > _SMALL_MAX or acc < _SMALL_MIN:  # wrap32 only when it can matter (it boxes on 32-bit)
                acc = wrap32(acc)
            if mult is None:
                out[oi + j] = acc
                continue
            s = shift[j]
            if s > 0:
                v = srdhm(sat32(acc << s), mult[j])
            else:
                v = rdbpot(srdhm(acc, mult[j]), -s)
            v += out_off
            out[oi + j] = act_min if v < act_min else (act_max if v > act_max else v)


def _py_gemm_s8(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max):
    """int8 GEMM with fused per-channel requantization: out = clamp(requantize(a.(b)^T) + out_off).

    a 'b' m x k, b 'b' n x k (one row per output channel), bias 'i' n or None, mult 'i' n (Q31),
    shift 'b' n (in [-31, 30]), out 'b' m x n. acc = sum_k (a+a_off)(b+b_off) + bias (int32 wrap);
    out = clamp(requantize(acc, mult[j], shift[j]) + out_off, act_min, act_max).
    """
    _b.check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _b.check_requant(bias, mult, shift, n, out_off, act_min, act_max)
    _py_gemm(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max, 0)


def _py_gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    """int8 GEMM to int32: out 'i' m x n = sum_k (a+a_off)(b+b_off) + bias (wrapped to int32)."""
    _b.check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _py_gemm(a, b, bias, None, None, out, m, n, k, a_off, b_off, 0, 0, 0, 0)


def im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, row0, rows, pad_value):
    """im2col of output pixels row0 .. row0+rows-1 (raster order) into col[0 ..] (no checks)."""
    p = 0
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
                    src = (iy * in_w + ix) * in_c
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
    im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, 0, out_h * out_w, pad_value)


def make_conv(gemm_at, im2col, check_requant=None):
    """A conv_s8 built from a GEMM with output offset and an im2col of row blocks (Python-level backends).

    `check_requant` replaces ulearn.backend.check_requant (same arguments and errors), e.g. one that
    reads the Q31 multipliers without making Python integers of them (viper on 32-bit ports)."""
    if check_requant is None:
        check_requant = _b.check_requant

    def conv_s8(x, w, bias, mult, shift, out, col, in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w,
                dil_h, dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off, act_min, act_max):
        """Whole conv layer: x 'b' HxWxC, w 'b' OHWI, bias 'i' or None, out 'b' out_h x out_w x out_c."""
        row = k_h * k_w * in_c
        _b.check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w,
                     1 if out_h * out_w else 0)
        if not -127 <= in_off <= 128:
            raise ValueError("in_off = %d outside [-127, 128] (it is -input zero point)" % in_off)
        _b._nonneg(out_c, "out_c")
        _b._need(w, out_c * row, "w")
        _b._need(out, out_h * out_w * out_c, "out")
        check_requant(bias, mult, shift, out_c, out_off, act_min, act_max)
        rows = out_h * out_w
        block = len(col) // row if row else rows
        r0 = 0
        while r0 < rows:
            nb = rows - r0
            if nb > block:
                nb = block
            im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                   pad_top, pad_left, out_w, r0, nb, -in_off)
            gemm_at(col, w, bias, mult, shift, out, nb, out_c, row, in_off, 0, out_off, act_min, act_max,
                    r0 * out_c)
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


_py_conv_s8 = make_conv(_py_gemm, im2col_rows)


def functions():
    """The six backend functions (pure Python)."""
    return (_py_gemm_s8, _py_gemm_s32, _py_im2col_s8, _py_conv_s8, _py_dot_q15, _py_matvec_q15)


