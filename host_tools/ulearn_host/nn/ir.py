"""The one description of a quantized int8 model (the IR) shared by training, quantization, `.tflite`
import/export, the numpy reference (`nn/reference.py`) and the CNN blob writer (`nn/export.py`).

Conventions (all follow the TFLite int8 quantization specification):

* Batch is never part of a shape. Activation shapes are channel-last:
  1-D ops (``conv1d``, ``max_pool1d``, ``avg_pool1d``) use ``(W, C)`` (time steps, channels);
  2-D ops use ``(H, W, C)``; ``dense`` outputs ``(units,)`` and flattens any input shape in
  row-major (C) order, like TFLite FULLY_CONNECTED.
* Activations are int8, asymmetric, per tensor: ``real = scale * (q - zero_point)``.
* Weights are int8, symmetric (zero point 0), per output channel:
  ``conv2d`` OHWI ``(O, KH, KW, I)``; ``conv1d`` OWI ``(O, K, I)`` (OHWI with KH=1 dropped);
  ``depthwise_conv2d`` ``(1, KH, KW, C*M)`` as in TFLite (output channel ``c*M + m`` reads
  input channel ``c``); ``dense`` ``(O, I)``.
* Bias is int32 with scale ``input_scale * weight_scale[o]`` (zero point 0); ``None`` means zeros.
* Requantization per output channel: ``multiplier`` int32 in [2^30, 2^31) (or 0) and ``shift``
  int32 in [-31, 30], TFLite sign convention (positive = left shift); see ``quantize_multiplier``.
  ``out = clamp(requantize(acc, multiplier[o], shift[o]) + output_zero_point, act_min, act_max)``.
* Fused activations are expressed only through ``act_min``/``act_max`` (int8 values):
  none = (-128, 127), relu = (max(-128, zp), 127), relu6 = (.., min(127, zp + round(6/scale))).
  ``activation_range()`` computes them like TFLite.
* Padding is ``"valid"`` or ``"same"`` with TFLite's arithmetic (``same``: output = ceil(in/stride),
  total padding = max((out-1)*stride + (k-1)*dilation + 1 - in, 0), before = total // 2).
* Pools keep the input quantization (output scale/zero point equal the input's, as TFLite requires).
* ``softmax``: int8 input, int8 output with scale 1/256 and zero point -128 (TFLite), ``beta``.
* ``reshape`` (``flatten`` is a reshape to ``(n,)``) changes the shape only; quantization unchanged.

Ops: ``conv1d, conv2d, depthwise_conv2d, dense, max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,
reshape, softmax`` (``OPS``). Add fields only with defaults, so older producers keep working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPS = ("conv1d", "conv2d", "depthwise_conv2d", "dense", "max_pool1d", "max_pool2d", "avg_pool1d",
       "avg_pool2d", "reshape", "softmax")
CONV_OPS = ("conv1d", "conv2d", "depthwise_conv2d")
POOL_OPS = ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")
WEIGHTED_OPS = (*CONV_OPS, "dense")
ONE_D_OPS = ("conv1d", "max_pool1d", "avg_pool1d")
PADDINGS = ("valid", "same")
SOFTMAX_SCALE = 1.0 / 256.0
SOFTMAX_ZERO_POINT = -128


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) for a real factor, exactly like TFLite's QuantizeMultiplier (frexp based).

    multiplier is int32 in [2^30, 2^31) or 0, shift in [-31, 30] (positive = left shift), so that
    real ~= multiplier * 2^(shift - 31).
    """
    if real == 0.0:
        return 0, 0
    if real < 0:
        raise ValueError(f"requantization factor must be positive, got {real}")
    q, shift = math.frexp(real)
    q_fixed = math.floor(q * (1 << 31) + 0.5)  # std::round for positive values
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return q_fixed, shift


def conv_multipliers(input_scale: float, weight_scales: np.ndarray,
                     output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) int32 arrays for conv/dense layers, as TFLite (Micro) computes them:
    float32 scales, effective scale in float64 = input_scale * weight_scale / output_scale."""
    s_in = float(np.float32(input_scale))
    s_out = float(np.float32(output_scale))
    pairs = [quantize_multiplier(s_in * float(np.float32(ws)) / s_out) for ws in np.asarray(weight_scales)]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def activation_range(activation: str | None, scale: float, zero_point: int) -> tuple[int, int]:
    """(act_min, act_max) int8 bounds for a fused activation ('relu', 'relu6' or None), as TFLite."""
    lo, hi = -128, 127
    if activation in (None, "none", "linear"):
        return lo, hi
    if activation == "relu":
        return max(lo, zero_point), hi
    if activation == "relu6":
        q6 = zero_point + math.floor(float(np.float32(6.0) / np.float32(scale)) + 0.5)  # std::round, float32
        return max(lo, zero_point), min(hi, q6)
    raise ValueError(f"unknown fused activation {activation!r} (relu, relu6 or none)")


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length of one spatial axis (TFLite arithmetic)."""
    eff = (kernel - 1) * dilation + 1
    if padding == "same":
        return (size + stride - 1) // stride
    if padding == "valid":
        return (size - eff + stride) // stride
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def pad_before(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Padding before the first element of one spatial axis (TFLite: total // 2 for 'same')."""
    if padding == "valid":
        return 0
    out = conv_out_size(size, kernel, stride, dilation, padding)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2


@dataclass
class Layer:
    """One int8 layer. Which fields matter depends on ``op`` (see the module docstring)."""

    op: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    weights: np.ndarray | None = None        # int8, layout by op (OHWI / OWI / 1HW(C*M) / (O, I))
    bias: np.ndarray | None = None           # int32 (O,), None = no bias
    weight_scales: np.ndarray | None = None  # float32 (O,), per output channel (for .tflite export)
    multiplier: np.ndarray | None = None     # int32 (O,)
    shift: np.ndarray | None = None          # int32 (O,), positive = left
    kernel: tuple[int, int] = (1, 1)         # (KH, KW) for convs and pools; 1-D ops use (1, K)
    stride: tuple[int, int] = (1, 1)         # (SH, SW); 1-D ops use (1, S)
    dilation: tuple[int, int] = (1, 1)       # (DH, DW); 1-D ops use (1, D)
    padding: str = "valid"                   # 'valid' or 'same'
    depth_multiplier: int = 1                # depthwise_conv2d only
    act_min: int = -128
    act_max: int = 127
    beta: float = 1.0                        # softmax only
    name: str = ""

    @property
    def out_channels(self) -> int:
        """Number of output channels (units for dense)."""
        return int(self.output_shape[-1])

    def hwc_in(self) -> tuple[int, int, int]:
        """Input as (H, W, C): 1-D ops get H=1; dense/reshape/softmax give (1, 1, n)."""
        return _hwc(self.op, self.input_shape)

    def hwc_out(self) -> tuple[int, int, int]:
        """Output as (H, W, C), like hwc_in."""
        return _hwc(self.op, self.output_shape)

    def pads(self) -> tuple[int, int]:
        """(pad_top, pad_left) in elements, TFLite arithmetic."""
        ih, iw, _ = self.hwc_in()
        return (pad_before(ih, self.kernel[0], self.stride[0], self.dilation[0], self.padding),
                pad_before(iw, self.kernel[1], self.stride[1], self.dilation[1], self.padding))

    def params(self) -> int:
        """Number of parameters (weights + bias entries)."""
        n = 0 if self.weights is None else int(np.asarray(self.weights).size)
        return n + (0 if self.bias is None else int(np.asarray(self.bias).size))

    def macs(self) -> int:
        """Multiply-accumulates for one inference (0 for layers without weights)."""
        if self.op in ("conv1d", "conv2d"):
            oh, ow, oc = self.hwc_out()
            return oh * ow * oc * self.kernel[0] * self.kernel[1] * self.hwc_in()[2]
        if self.op == "depthwise_conv2d":
            oh, ow, oc = self.hwc_out()
            return oh * ow * oc * self.kernel[0] * self.kernel[1]
        if self.op == "dense":
            return int(np.prod(self.input_shape)) * self.out_channels
        return 0

    def validate(self) -> None:
        """Raise ValueError naming what is inconsistent (shapes, dtypes, ranges)."""
        _validate_layer(self)


@dataclass
class Model:
    """A quantized int8 model: input quantization, an ordered list of layers, class names."""

    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    layers: list[Layer]
    classes: list[str] = field(default_factory=list)
    feature_spec: dict[str, Any] | None = None   # optional: how raw windows become the input
    name: str = "model"
    input_float_shape: tuple[int, ...] | None = None  # informative: e.g. (T, C) of raw windows
    # optional float edge before quantize_input: per input channel (last axis), x -> (x - mean) / std
    input_mean: list[float] | None = None
    input_std: list[float] | None = None
    input_unit: str = ""  # physical unit of the float input (e.g. "m/s^2"), "" when unknown

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the last layer's output."""
        return tuple(self.layers[-1].output_shape) if self.layers else tuple(self.input_shape)

    @property
    def output_scale(self) -> float:
        return self.layers[-1].output_scale if self.layers else self.input_scale

    @property
    def output_zero_point(self) -> int:
        return self.layers[-1].output_zero_point if self.layers else self.input_zero_point

    def params(self) -> int:
        """Total parameters."""
        return sum(layer.params() for layer in self.layers)

    def macs(self) -> int:
        """Total multiply-accumulates for one inference."""
        return sum(layer.macs() for layer in self.layers)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input -> int8 with the model's input scale/zero point (round half away from zero,
        as TFLite's QUANTIZE reference kernel). With input_mean/input_std, each channel (last axis)
        is first standardized: (x - mean) / std, in float32."""
        x = np.asarray(x, dtype=np.float32)
        if self.input_mean is not None:
            x = x - np.asarray(self.input_mean, dtype=np.float32)
        if self.input_std is not None:
            x = x / np.asarray(self.input_std, dtype=np.float32)
        q = x / np.float32(self.input_scale)
        q = np.where(q >= 0, np.floor(q + 0.5), np.ceil(q - 0.5)) + self.input_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """int8 output -> float32."""
        return (np.asarray(q, dtype=np.float32) - self.output_zero_point) * np.float32(self.output_scale)

    def validate(self) -> None:
        """Check every layer and that consecutive layers agree on shape and quantization."""
        if not self.layers:
            raise ValueError("model has no layers")
        shape, scale, zp = tuple(self.input_shape), self.input_scale, self.input_zero_point
        for i, layer in enumerate(self.layers):
            where = f"layer {i} ({layer.op}{' ' + layer.name if layer.name else ''})"
            try:
                layer.validate()
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            if tuple(layer.input_shape) != shape:
                raise ValueError(f"{where}: input shape {tuple(layer.input_shape)} but the previous "
                                 f"output is {shape}")
            if layer.input_zero_point != zp or not math.isclose(layer.input_scale, scale, rel_tol=1e-6):
                raise ValueError(f"{where}: input quantization ({layer.input_scale}, "
                                 f"{layer.input_zero_point}) differs from the previous output ({scale}, {zp})")
            shape, scale, zp = tuple(layer.output_shape), layer.output_scale, layer.output_zero_point
        if self.classes and len(self.classes) != int(np.prod(shape)):
            raise ValueError(f"{len(self.classes)} class names for {int(np.prod(shape))} outputs")


def _hwc(op: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if op in ONE_D_OPS:
        if len(shape) != 2:
            raise ValueError(f"{op} works on (W, C) tensors, got shape {shape}")
        return 1, shape[0], shape[1]
    if op in ("conv2d", "depthwise_conv2d", "max_pool2d", "avg_pool2d"):
        if len(shape) != 3:
            raise ValueError(f"{op} works on (H, W, C) tensors, got shape {shape}")
        return shape  # type: ignore[return-value]
    return 1, 1, int(np.prod(shape))


def _validate_layer(layer: Layer) -> None:
    op = layer.op
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; supported: {', '.join(OPS)}")
    if not (-128 <= layer.act_min <= layer.act_max <= 127):
        raise ValueError(f"activation range [{layer.act_min}, {layer.act_max}] is not within int8")
    for zp in (layer.input_zero_point, layer.output_zero_point):
        if not -128 <= zp <= 127:
            raise ValueError(f"zero point {zp} is not int8")
    ih, iw, ic = layer.hwc_in()
    oh, ow, oc = layer.hwc_out()
    if op in (*CONV_OPS, *POOL_OPS):
        if layer.padding not in PADDINGS:
            raise ValueError(f"padding {layer.padding!r} (valid or same)")
        if op in ONE_D_OPS and (layer.kernel[0] != 1 or layer.stride[0] != 1 or layer.dilation[0] != 1):
            raise ValueError("1-D ops need kernel/stride/dilation of the form (1, n)")
        want = (conv_out_size(ih, layer.kernel[0], layer.stride[0], layer.dilation[0], layer.padding),
                conv_out_size(iw, layer.kernel[1], layer.stride[1], layer.dilation[1], layer.padding))
        if (oh, ow) != want:
            raise ValueError(f"output spatial size {(oh, ow)} but kernel/stride/padding give {want}")
    if op in WEIGHTED_OPS:
        w = layer.weights
        if w is None or np.asarray(w).dtype != np.int8:
            raise ValueError("weights must be an int8 array")
        kh, kw = layer.kernel
        expect = {"conv1d": (oc, kw, ic), "conv2d": (oc, kh, kw, ic),
                  "depthwise_conv2d": (1, kh, kw, oc), "dense": (oc, ih * iw * ic)}[op]
        if tuple(w.shape) != expect:
            raise ValueError(f"weights shape {tuple(w.shape)}, expected {expect}")
        if op == "depthwise_conv2d" and oc != ic * layer.depth_multiplier:
            raise ValueError(f"depthwise output channels {oc} != input channels {ic} x "
                             f"depth multiplier {layer.depth_multiplier}")
        if layer.bias is not None and (np.asarray(layer.bias).dtype != np.int32 or layer.bias.shape != (oc,)):
            raise ValueError(f"bias must be int32 of shape ({oc},)")
        for name in ("multiplier", "shift"):
            v = getattr(layer, name)
            if v is None or np.asarray(v).shape != (oc,):
                raise ValueError(f"{name} must have one entry per output channel ({oc})")
        if np.any(layer.shift < -31) or np.any(layer.shift > 30):
            raise ValueError("shift must be within [-31, 30]")
        m = np.asarray(layer.multiplier, dtype=np.int64)
        if np.any((m != 0) & ((m < (1 << 30)) | (m >= (1 << 31)))):
            raise ValueError("multiplier must be 0 or within [2^30, 2^31)")
    elif op in POOL_OPS:
        if oc != ic:
            raise ValueError("pooling keeps the number of channels")
        if layer.output_zero_point != layer.input_zero_point or \
                not math.isclose(layer.output_scale, layer.input_scale, rel_tol=1e-6):
            raise ValueError("pooling keeps the input quantization (scale and zero point)")
    elif op == "reshape":
        if int(np.prod(layer.input_shape)) != int(np.prod(layer.output_shape)):
            raise ValueError(f"reshape {tuple(layer.input_shape)} -> {tuple(layer.output_shape)} "
                             "changes the number of elements")
        if layer.output_zero_point != layer.input_zero_point:
            raise ValueError("reshape keeps the input quantization")
    elif op == "softmax":
        if tuple(layer.input_shape) != tuple(layer.output_shape) or len(layer.input_shape) != 1:
            raise ValueError("softmax works on a (n,) vector and keeps its shape")
        if layer.output_zero_point != SOFTMAX_ZERO_POINT or \
                not math.isclose(layer.output_scale, SOFTMAX_SCALE, rel_tol=1e-9):
            raise ValueError("softmax output quantization must be scale 1/256, zero point -128 (TFLite)")
