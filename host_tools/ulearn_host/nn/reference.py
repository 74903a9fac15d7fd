"""numpy reference of every int8 op of the IR, following the TFLite int8 reference kernels exactly.

Integer arithmetic only (int64 numpy with explicit int32 wrap/saturation where TFLite has them);
``requantize`` is the rule of ``ulearn.fixedpoint`` (documented in docs/architecture.md):
``SRDHM(sat32(acc << left), mult)`` then ``RoundingDivideByPOT(., right)``.

* conv / depthwise / dense: ``acc = sum (x - in_zp) * w + bias`` (int32), requantize per output
  channel, ``+ out_zp``, clamp to ``[act_min, act_max]``. Padding taps contribute nothing (TFLite
  skips them), which equals padding with the input zero point.
* max pool: max over the valid taps (padding ignored), clamp. avg pool: sum of the raw int8 values
  over the valid taps, ``(acc ± count/2) / count`` truncated toward zero, clamp.
* softmax: TFLite's gemmlowp-based int8 softmax (``kScaledDiffIntegerBits = 5``,
  ``kAccumulationIntegerBits = 12``, output scale 1/256, zero point -128), see ``softmax``.

``run(model, x)`` runs a whole IR model on one int8 input; ``run(..., trace=True)`` also returns the
output of every layer.
"""

from __future__ import annotations

import math

import numpy as np

from .ir import Layer, Model

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


# ---------------------------------------------------------------- fixed point (vectorised, int64)

def sat32(x: np.ndarray) -> np.ndarray:
    """Saturate int64 values to the int32 range."""
    return np.clip(x, INT32_MIN, INT32_MAX)


def wrap32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 like two's-complement hardware."""
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values (given as int64 arrays)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b  # |a*b| <= 2^62 fits int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # truncate toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbpot(x: np.ndarray, e: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier, per element (broadcasting mult/shift over channels)."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rdbpot(srdhm(sat32(acc << left), mult), right)


def _finish(acc: np.ndarray, layer: Layer) -> np.ndarray:
    v = requantize(wrap32(acc), layer.multiplier, layer.shift) + layer.output_zero_point
    return np.clip(v, layer.act_min, layer.act_max).astype(np.int8)


# ---------------------------------------------------------------- layers

def _patches(x: np.ndarray, layer: Layer, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """(patches (OH, OW, KH, KW, C) int64, valid mask (OH, OW, KH, KW)); invalid taps hold `fill`."""
    ih, iw, ic = layer.hwc_in()
    oh, ow, _ = layer.hwc_out()
    kh, kw = layer.kernel
    sh, sw = layer.stride
    dh, dw = layer.dilation
    pt, pl = layer.pads()
    x = np.asarray(x, dtype=np.int64).reshape(ih, iw, ic)
    iy = (np.arange(oh) * sh - pt)[:, None] + np.arange(kh)[None, :] * dh  # (OH, KH)
    ix = (np.arange(ow) * sw - pl)[:, None] + np.arange(kw)[None, :] * dw  # (OW, KW)
    vy = (iy >= 0) & (iy < ih)
    vx = (ix >= 0) & (ix < iw)
    p = x[np.clip(iy, 0, ih - 1)[:, None, :, None], np.clip(ix, 0, iw - 1)[None, :, None, :]]
    valid = vy[:, None, :, None] & vx[None, :, None, :]  # (OH, OW, KH, KW)
    p = np.where(valid[..., None], p, fill)
    return p, valid


def conv(x: np.ndarray, layer: Layer) -> np.ndarray:
    """conv1d / conv2d: int8 input (shape layer.input_shape) -> int8 output (layer.output_shape)."""
    patches, _ = _patches(x, layer, layer.input_zero_point)
    oh, ow, oc = layer.hwc_out()
    cols = (patches - layer.input_zero_point).reshape(oh * ow, -1)
    w = np.asarray(layer.weights, dtype=np.int64).reshape(oc, -1)
    acc = cols @ w.T
    if layer.bias is not None:
        acc = acc + np.asarray(layer.bias, dtype=np.int64)
    return _finish(acc, layer).reshape(layer.output_shape)


def depthwise_conv2d(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Depthwise conv2d (TFLite DEPTHWISE_CONV_2D): output channel c*M+m reads input channel c."""
    patches, _ = _patches(x, layer, layer.input_zero_point)  # (OH, OW, KH, KW, C)
    m = layer.depth_multiplier
    p = np.repeat(patches - layer.input_zero_point, m, axis=-1)  # channel c*M+m <- c
    w = np.asarray(layer.weights, dtype=np.int64)[0]  # (KH, KW, OC)
    acc = np.einsum("abhwc,hwc->abc", p, w)
    if layer.bias is not None:
        acc = acc + np.asarray(layer.bias, dtype=np.int64)
    return _finish(acc, layer).reshape(layer.output_shape)


def dense(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Fully connected: input flattened row-major, weights (O, I)."""
    v = np.asarray(x, dtype=np.int64).reshape(-1) - layer.input_zero_point
    acc = np.asarray(layer.weights, dtype=np.int64) @ v
    if layer.bias is not None:
        acc = acc + np.asarray(layer.bias, dtype=np.int64)
    return _finish(acc, layer).reshape(layer.output_shape)


def max_pool(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Max pooling over valid taps (TFLite MAX_POOL_2D; 1-D as H=1), clamped to the activation range."""
    patches, _ = _patches(x, layer, -(1 << 20))
    out = patches.max(axis=(2, 3))
    return np.clip(out, layer.act_min, layer.act_max).astype(np.int8).reshape(layer.output_shape)


def avg_pool(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Average pooling (TFLite AVERAGE_POOL_2D int8): rounded mean of the valid taps, clamped."""
    patches, valid = _patches(x, layer, 0)
    acc = patches.sum(axis=(2, 3))
    count = valid.sum(axis=(2, 3))[..., None].astype(np.int64)
    half = count // 2
    num = np.where(acc > 0, acc + half, acc - half)
    q = np.where(num >= 0, num // count, -((-num) // count))  # C division: truncate toward zero
    return np.clip(q, layer.act_min, layer.act_max).astype(np.int8).reshape(layer.output_shape)


def reshape(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Reshape / flatten: same bytes, new shape."""
    return np.asarray(x, dtype=np.int8).reshape(layer.output_shape)


# ---------------------------------------------------------------- softmax (TFLite int8, gemmlowp)

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLite's PreprocessSoftmaxScaling and
    CalculateInputRadius compute them (float32 beta and scale, float64 arithmetic)."""
    from .ir import quantize_multiplier
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) *
               (1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError("softmax input scale too small for TFLite's int8 softmax")
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) *
                        (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift))
    return mult, shift, -radius


def _s(a: int, b: int) -> int:
    return int(srdhm(np.int64(a), np.int64(b)))


def _rdbpot(x: int, e: int) -> int:
    return int(rdbpot(np.int64(x), e))


def _sat_shl(x: int, e: int) -> int:
    thr = (1 << (31 - e)) - 1
    if x > thr:
        return INT32_MAX
    if x < -thr:
        return INT32_MIN
    return x << e


def _exp_quarter(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out (gemmlowp)."""
    const_term = 1895147668
    one_third = 715827883
    x = a + (1 << 28)
    x2 = _s(x, x)
    x3 = _s(x2, x)
    x4 = _s(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_s(x4_over_4 + x3, one_third) + x2, 1)
    return const_term + _s(const_term, x + poly)


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))


def exp_on_negative_values(a: int) -> int:
    """gemmlowp exp_on_negative_values for Q5.26 input a <= 0; Q0.31 output."""
    frac = 31 - SCALED_DIFF_INTEGER_BITS
    quarter = 1 << (frac - 2)
    a_mod = (a & (quarter - 1)) - quarter
    result = _exp_quarter(_sat_shl(a_mod, SCALED_DIFF_INTEGER_BITS))
    remainder = a_mod - a
    for exponent, mult in _BARREL:
        if SCALED_DIFF_INTEGER_BITS > exponent and remainder & (1 << (frac + exponent)):
            result = _s(result, mult)
    return INT32_MAX if a == 0 else result


def one_over_one_plus_x(a: int) -> int:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in [0, 1) -> Q0.31 1/(1+a)."""
    s = a + INT32_MAX
    half_den = (s + (1 if s >= 0 else -1))
    half_den = half_den // 2 if half_den >= 0 else -((-half_den) // 2)
    x = 1515870810 + _s(half_den, -1010580540)  # Q2.29: 48/17 - 32/17 * d
    one_q2 = 1 << 29
    for _ in range(3):
        hdx = _s(half_den, x)
        x = x + _sat_shl(_s(x, one_q2 - hdx), 2)
    return _sat_shl(x, 1)


def softmax_row(q: np.ndarray, mult: int, shift: int, diff_min: int) -> np.ndarray:
    """TFLite int8 softmax of one row (int8 values in) -> int8 (scale 1/256, zero point -128)."""
    vals = [int(v) for v in np.asarray(q).reshape(-1)]
    top = max(vals)
    total = 0
    exps = []
    for v in vals:
        d = v - top
        if d >= diff_min:
            e = exp_on_negative_values(_s(d << shift, mult))
            total += _rdbpot(e, ACCUMULATION_INTEGER_BITS)  # Rescale<12>: Q0.31 -> Q12.19
            exps.append(e)
        else:
            exps.append(None)
    total = int(wrap32(np.int64(total)))
    clz = 32 - total.bit_length()
    bits_over_unit = ACCUMULATION_INTEGER_BITS - clz
    shifted = int(wrap32(np.int64(((total << clz) & 0xFFFFFFFF) - (1 << 31))))
    scale = one_over_one_plus_x(shifted)
    out = np.empty(len(vals), dtype=np.int8)
    for i, e in enumerate(exps):
        if e is None:
            out[i] = -128
            continue
        u = _rdbpot(_s(scale, e), bits_over_unit + 31 - 8) - 128
        out[i] = min(max(u, -128), 127)
    return out


def softmax(x: np.ndarray, layer: Layer) -> np.ndarray:
    """int8 softmax over the last axis (TFLite SOFTMAX, int8 in and out)."""
    mult, shift, diff_min = softmax_params(layer.beta, layer.input_scale)
    x = np.asarray(x, dtype=np.int8)
    rows = x.reshape(-1, x.shape[-1])
    return np.stack([softmax_row(r, mult, shift, diff_min) for r in rows]).reshape(layer.output_shape)


# ---------------------------------------------------------------- whole models

OP_FUNCTIONS = {
    "conv1d": conv, "conv2d": conv, "depthwise_conv2d": depthwise_conv2d, "dense": dense,
    "max_pool1d": max_pool, "max_pool2d": max_pool, "avg_pool1d": avg_pool, "avg_pool2d": avg_pool,
    "reshape": reshape, "softmax": softmax,
}


def run_layer(x: np.ndarray, layer: Layer) -> np.ndarray:
    """One layer on an int8 input of layer.input_shape; returns int8 of layer.output_shape."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise ValueError(f"{layer.op}: int8 input expected, got {x.dtype}")
    if x.size != int(np.prod(layer.input_shape)):
        raise ValueError(f"{layer.op}: input of {x.size} values, expected shape {tuple(layer.input_shape)}")
    return OP_FUNCTIONS[layer.op](x.reshape(layer.input_shape), layer)


def run(model: Model, x: np.ndarray, trace: bool = False):
    """Run `model` on one int8 input (shape model.input_shape; float inputs are quantized first).

    Returns the int8 output, or (output, [per-layer outputs]) with `trace`.
    """
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = model.quantize_input(x)
    x = x.reshape(model.input_shape)
    outs = []
    for layer in model.layers:
        x = run_layer(x, layer)
        outs.append(x)
    return (x, outs) if trace else x


def run_batch(model: Model, xs: np.ndarray) -> np.ndarray:
    """Run `model` on every input of a batch (n, *input_shape); returns int8 (n, *output_shape)."""
    return np.stack([run(model, x) for x in xs])
