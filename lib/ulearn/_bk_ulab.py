"""The `ulab` backend: GEMM sums by ulab's float `dot`, exact by construction.

ulab's dot is float-only (float32 on most boards). Each product (a+a_off)(b+b_off) is an integer of
magnitude <= 383*383, so K is cut into blocks (backend.exact_block) short enough that every partial
sum stays <= 2^24: float32 represents all of those integers exactly, whatever the summation order. The
blocks' results are added as Python integers, wrapped to int32 and requantized by the reference
(ulearn.fixedpoint). im2col and the Q15 functions come from the viper backend when it is available.
Allocates temporaries per call (ulab arrays of at most 16 rows of A and all of B as floats): prefer
`native` where it can be built.
"""

from ulab import numpy as np

from ulearn import _bk_common as _common
from ulearn import _bk_python as _pyref
from ulearn import backend as _ref
from ulearn.fixedpoint import rdbpot, sat32, srdhm, wrap32

try:
    from ulearn import _bk_viper as _helpers
except ImportError:
    _helpers = None


_ROWS = 16   # rows of A converted to float at a time (bounds the temporaries)


def _matrix(buf, start, rows, cols, off):
    x = np.frombuffer(buf, dtype=np.int8, count=rows * cols, offset=start)
    return np.array(x, dtype=np.float).reshape((rows, cols)) + off


def _gemm_at(a, a0, b, b0, q, bias0, mult0, sb, shift0, out, out0, m, n, k, a_off, b_off, out_off, act_min,
             act_max):
    # the signature of ulearn._bk_python._py_gemm (mult0 -1: int32 output)
    if m == 0 or n == 0:
        return
    step = _ref.exact_block(a_off, b_off)
    B = _matrix(b, b0, n, k, b_off) if k else None
    sums = [0] * (_ROWS * n)
    r0 = 0
    while r0 < m:
        rows = m - r0 if m - r0 < _ROWS else _ROWS
        for idx in range(rows * n):
            sums[idx] = 0
        if k:
            A = _matrix(a, a0 + r0 * k, rows, k, a_off)
            k0 = 0
            while k0 < k:
                k1 = k0 + step if k0 + step < k else k
                C = np.dot(A[:, k0:k1], B[:, k0:k1].transpose())
                idx = 0
                for v in C.flatten():
                    sums[idx] += int(v)
                    idx += 1
                k0 = k1
        for i in range(rows):
            o = out0 + (r0 + i) * n
            for j in range(n):
                acc = wrap32(sums[i * n + j] + (q[bias0 + j] if bias0 >= 0 else 0))
                if mult0 < 0:
                    out[o + j] = acc
                    continue
                s = sb[shift0 + j]
                if s > 127:  # weights and shifts used in place: unsigned bytes
                    s -= 256
                mu = q[mult0 + j]
                v = srdhm(sat32(acc << s), mu) if s > 0 else rdbpot(srdhm(acc, mu), -s)
                v += out_off
                out[o + j] = act_min if v < act_min else (act_max if v > act_max else v)
        r0 += rows


def gemm_s8(x, act, w, q, g, p):
    """See ulearn.backend: int8 GEMM with per-channel requantization from the program at g[p:] (ulab dot)."""
    _common.check_gemm_prog(x, act, w, q, g, p)
    n = g[p + 7]
    _common.check_requant(q, g[p + 4], w, g[p + 5], n, g[p + 11], g[p + 12], g[p + 13])
    _gemm_at(x, g[p], w, g[p + 2], q, g[p + 3], g[p + 4], w, g[p + 5], act, g[p + 1], g[p + 6], n, g[p + 8],
             g[p + 9], g[p + 10], g[p + 11], g[p + 12], g[p + 13])


def gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    """See ulearn.backend: int8 GEMM to int32 (ulab dot)."""
    _ref.check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _gemm_at(a, 0, b, 0, bias, -1 if bias is None else 0, -1, None, 0, out, 0, m, n, k, a_off, b_off, 0, 0, 0)


def functions():
    """The six backend functions (ulab sums; im2col/Q15 from viper or the reference)."""
    if _helpers is not None:
        im2col, im2col_rows = _helpers.im2col_s8, _helpers._im2col
        dot, matvec = _helpers.dot_q15, _helpers.matvec_q15
    else:
        im2col, im2col_rows = _pyref._py_im2col_s8, _pyref.im2col_rows
        dot, matvec = _pyref._py_dot_q15, _pyref._py_matvec_q15
    return (gemm_s8, gemm_s32, im2col, _common.make_conv(_gemm_at, im2col_rows), dot, matvec)
