"""numpy reference of the backend arithmetic (docs/architecture.md), written from the spec's formulas.

Independent of the C kernel and of lib/ulearn/backend.py: SRDHM with the nudge and truncation toward
zero as the TFLite spec writes it, RoundingDivideByPOT with mask/threshold, int64 sums.
"""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(x: np.ndarray) -> np.ndarray:
    """int64 array wrapped to int32 like two's-complement hardware."""
    return ((x.astype(np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier, elementwise (int64 in/out; left shift saturating)."""
    acc = acc.astype(np.int64)
    mult = np.broadcast_to(mult.astype(np.int64), acc.shape)
    shift = np.broadcast_to(shift.astype(np.int64), acc.shape)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.clip(acc * (np.int64(1) << left), INT32_MIN, INT32_MAX)
    ab = x * mult
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    h = np.where(num >= 0, num // (1 << 31), -((-num) // (1 << 31)))   # truncation toward zero
    h = np.where((x == INT32_MIN) & (mult == INT32_MIN), INT32_MAX, h)
    mask = (np.int64(1) << right) - 1
    rem = h & mask
    thr = (mask >> 1) + (h < 0)
    return (h >> right) + (rem > thr)


def gemm_s32(a, b, bias, m, n, k, a_off, b_off) -> np.ndarray:
    """int32 M x N: sum_k (a + a_off)(b + b_off) + bias, wrapped to int32."""
    A = a[: m * k].astype(np.int64).reshape(m, k) + a_off
    B = b[: n * k].astype(np.int64).reshape(n, k) + b_off
    acc = A @ B.T
    if bias is not None:
        acc = acc + bias[:n].astype(np.int64)
    return wrap32(acc)


def gemm_s8(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, act_min, act_max) -> np.ndarray:
    """int8 M x N with per-channel requantization and clamp."""
    acc = gemm_s32(a, b, bias, m, n, k, a_off, b_off)
    v = requantize(acc, mult[:n][None, :], shift[:n][None, :]) + out_off
    return np.clip(v, act_min, act_max).astype(np.int8)


def im2col(x, in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, pad) -> np.ndarray:
    """(out_h*out_w) x (k_h*k_w*in_c) int8, taps outside the input = pad."""
    X = x[: in_h * in_w * in_c].reshape(in_h, in_w, in_c)
    P = np.full((in_h + 2 * (k_h * dh + out_h * sh), in_w + 2 * (k_w * dw + out_w * sw), in_c), pad, np.int8)
    oy, ox = k_h * dh + out_h * sh, k_w * dw + out_w * sw
    P[oy:oy + in_h, ox:ox + in_w] = X
    rows = np.empty((out_h, out_w, k_h, k_w, in_c), np.int8)
    for ky in range(k_h):
        for kx in range(k_w):
            ys = oy - pt + ky * dh + sh * np.arange(out_h)
            xs = ox - pl + kx * dw + sw * np.arange(out_w)
            rows[:, :, ky, kx, :] = P[ys][:, xs]
    return rows.reshape(out_h * out_w, k_h * k_w * in_c)


def conv_s8(x, w, bias, mult, shift, in_h, in_w, in_c, out_c, k_h, k_w, sh, sw, dh, dw, pt, pl,
            out_h, out_w, in_off, out_off, act_min, act_max) -> np.ndarray:
    """out_h*out_w*out_c int8 of a conv layer (NHWC, OHWI weights)."""
    col = im2col(x, in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, -in_off).reshape(-1)
    k = k_h * k_w * in_c
    return gemm_s8(col, w, bias, mult, shift, out_h * out_w, out_c, k, in_off, 0, out_off, act_min,
                   act_max).reshape(-1)


def matvec_q15(w, x, bias, rows, cols, shift) -> np.ndarray:
    """int32: sat32((sum w*x + bias + round) >> shift), exact."""
    W = w[: rows * cols].astype(np.int64).reshape(rows, cols)
    s = W @ x[:cols].astype(np.int64)
    if bias is not None:
        s = s + bias[:rows].astype(np.int64)
    if shift > 0:
        s = s + (1 << (shift - 1))
    return np.clip(s >> shift, INT32_MIN, INT32_MAX)
