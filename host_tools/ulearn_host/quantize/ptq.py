"""Post-training quantization of a float CNN to the TFLite int8 specification (the ulearn IR).

* Weights: int8, symmetric, per output channel: ``scale[o] = max|w[o]| / 127``, values in [-127, 127].
* Activations: int8, asymmetric, per tensor, from the range seen on calibration data (the 0.01st to
  99.99th percentile by default, so rare outliers do not stretch the scale; the range always contains
  0, so zero is exact): ``scale = (max - min) / 255``, ``zero_point = -128 - min/scale``.
* Bias: int32 with scale ``input_scale * weight_scale[o]``.
* Requantization: multiplier + shift via frexp (``ir.conv_multipliers``), computed from the float32
  scales exactly as TFLite (Micro) does, so the `.tflite` export of the same model is bit-exact.
* BatchNorm after a convolution or dense layer is folded into its weights and bias first.
* Pools and reshapes keep their input's quantization; softmax outputs scale 1/256, zero point -128.

The float network is described by `QuantSpec` blocks (see `ulearn_host.train.cnn.FloatNet.blocks`):
each says which IR op it becomes, its float weights (already in IR layout) and where its
calibration activations come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UlearnError
from ..nn import ir

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MIN_RANGE = 1e-6  # smallest activation range (real units) a tensor is given
CALIB_PERCENTILE = 99.99  # activation ranges: 0.01 % of calibration values may saturate at each end


@dataclass
class FloatLayer:
    """One float layer in IR terms: op, geometry, float weights in IR layout, and its output samples.

    ``weights`` use the IR layout of `op` (OHWI, OWI, 1HW(C*M) or (O, I)); ``output`` holds the
    layer's float outputs (after the fused activation) on the calibration inputs, or None for ops
    that keep their input's quantization (pools, reshape) and for softmax.
    """

    op: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    activation: str | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "valid"
    depth_multiplier: int = 1
    output: np.ndarray | None = None
    name: str = ""
    extra: dict = field(default_factory=dict)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C `round`, TFLite's rounding)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))


def activation_qparams(values: np.ndarray, percentile: float = 100.0,
                       min_scale: float = 0.0) -> tuple[float, int]:
    """Per-tensor asymmetric int8 (scale, zero_point) covering the values' range and zero.

    With `percentile` < 100 the range runs from the (100 - p)-th to the p-th percentile, so a few
    outliers do not stretch the scale (values beyond it saturate); the scale is at least `min_scale`.
    The scale is returned as a float32-representable number (as stored in `.tflite`)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise UlearnError("calibration produced no (or non-finite) activations; check the training data")
    if percentile < 100.0:
        lo, hi = np.percentile(v, [100.0 - percentile, percentile])
    else:
        lo, hi = v.min(), v.max()
    lo, hi = min(0.0, float(lo)), max(0.0, float(hi))
    if hi - lo < MIN_RANGE:  # a dead (all-zero) tensor: keep the requantization factors sane
        hi = lo + MIN_RANGE
    scale = float(np.float32(max((hi - lo) / 255.0, min_scale)))
    zp = int(np.clip(round_half_away(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX))
    return scale, zp


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights; axis 0 is the output channel, except that the
    caller passes depthwise weights (1, KH, KW, C*M) transposed so channels come first.

    Returns (int8 weights, float32 scales)."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0 / 127.0).astype(np.float32)
    q = round_half_away(flat / scales.astype(np.float64)[:, None])
    return np.clip(q, -127, 127).astype(np.int8).reshape(w.shape), scales


def quantize_bias(b: np.ndarray | None, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias with scale input_scale * weight_scale[o] (float32 scales, as stored)."""
    oc = len(weight_scales)
    if b is None:
        return np.zeros(oc, dtype=np.int32)
    bscale = np.float64(np.float32(input_scale)) * weight_scales.astype(np.float64)
    q = round_half_away(np.asarray(b, np.float64) / bscale)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def fold_batchnorm(w: np.ndarray, b: np.ndarray | None, gamma: np.ndarray, beta: np.ndarray,
                   mean: np.ndarray, var: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold y = gamma (x - mean) / sqrt(var + eps) + beta into weights whose axis 0 is the output
    channel; returns (weights, bias)."""
    k = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    w2 = np.asarray(w, np.float64) * k.reshape((-1,) + (1,) * (np.ndim(w) - 1))
    b0 = np.zeros_like(k) if b is None else np.asarray(b, np.float64)
    return w2, (b0 - np.asarray(mean, np.float64)) * k + np.asarray(beta, np.float64)


def _min_output_scale(op: str, wq: np.ndarray, bq: np.ndarray, s_in: float, wscales: np.ndarray) -> float:
    """Smallest output scale for which requantization cannot overflow: with a multiplier that needs a
    left shift, TFLite computes ``acc * 2^shift`` in 32 bits, so ``|acc| * 2^shift`` must stay below
    2^31 for every accumulator the layer can produce (bounded by sum |w| * 255 + |bias|). Only
    degenerate (e.g. dead, all-zero) calibration ranges come near this bound."""
    oc = len(wscales)
    w = np.abs(wq.astype(np.int64))
    per_out = np.moveaxis(w, 3, 0).reshape(oc, -1) if op == "depthwise_conv2d" else w.reshape(oc, -1)
    bound = per_out.sum(axis=1) * 255 + np.abs(bq.astype(np.int64)) + 1
    # effective = s_in * s_w / s_out < 2^30 / bound keeps 2^shift * |acc| < 2^31
    need = float(np.float32(s_in)) * wscales.astype(np.float64) * bound / float(1 << 30)
    return float(need.max()) * 2.0


def quantize_layers(input_shape: tuple[int, ...], calib_input: np.ndarray, layers: list[FloatLayer],
                    classes: list[str] | None = None, name: str = "model",
                    percentile: float = CALIB_PERCENTILE) -> ir.Model:
    """Build the int8 IR model from float layers and their calibration outputs (activation ranges
    from the `percentile` of each tensor's calibration values, see activation_qparams)."""
    in_scale, in_zp = activation_qparams(calib_input, percentile)
    scale, zp = in_scale, in_zp
    out: list[ir.Layer] = []
    for i, fl in enumerate(layers):
        common = {"op": fl.op, "input_shape": tuple(fl.input_shape), "output_shape": tuple(fl.output_shape),
                      "input_scale": scale, "input_zero_point": zp, "name": fl.name or f"{fl.op}_{i}"}
        if fl.op in ir.WEIGHTED_OPS:
            if fl.output is None:
                raise UlearnError(f"layer {i} ({fl.op}) has no calibration outputs")
            w = np.asarray(fl.weights, np.float64)
            if fl.op == "depthwise_conv2d":  # (1, KH, KW, C*M): channels last
                wq_t, wscales = quantize_weights(np.moveaxis(w, 3, 0))
                wq = np.moveaxis(wq_t, 0, 3)
            else:
                wq, wscales = quantize_weights(w)
            bq = quantize_bias(fl.bias, scale, wscales)
            o_scale, o_zp = activation_qparams(fl.output, percentile,
                                               min_scale=_min_output_scale(fl.op, wq, bq, scale, wscales))
            mult, shift = ir.conv_multipliers(scale, wscales, o_scale)
            act_min, act_max = ir.activation_range(fl.activation, o_scale, o_zp)
            layer = ir.Layer(**common, output_scale=o_scale, output_zero_point=o_zp,
                             weights=np.ascontiguousarray(wq), bias=bq,
                             weight_scales=wscales, multiplier=mult, shift=shift, kernel=tuple(fl.kernel),
                             stride=tuple(fl.stride), dilation=tuple(fl.dilation), padding=fl.padding,
                             depth_multiplier=fl.depth_multiplier, act_min=act_min, act_max=act_max)
        elif fl.op in ir.POOL_OPS:
            o_scale, o_zp = scale, zp
            layer = ir.Layer(**common, output_scale=scale, output_zero_point=zp, kernel=tuple(fl.kernel),
                             stride=tuple(fl.stride), padding=fl.padding)
        elif fl.op == "reshape":
            o_scale, o_zp = scale, zp
            layer = ir.Layer(**common, output_scale=scale, output_zero_point=zp)
        elif fl.op == "softmax":
            o_scale, o_zp = ir.SOFTMAX_SCALE, ir.SOFTMAX_ZERO_POINT
            layer = ir.Layer(**common, output_scale=o_scale, output_zero_point=o_zp,
                             beta=float(fl.extra.get("beta", 1.0)))
        else:
            raise UlearnError(f"cannot quantize layer {i}: op {fl.op!r} is not one of {', '.join(ir.OPS)}")
        out.append(layer)
        scale, zp = o_scale, o_zp
    model = ir.Model(input_shape=tuple(input_shape), input_scale=in_scale, input_zero_point=in_zp,
                     layers=out, classes=list(classes or []), name=name)
    try:
        model.validate()
    except ValueError as e:
        raise UlearnError(f"quantized model is inconsistent: {e}") from None
    return model
