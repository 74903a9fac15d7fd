"""Random int8 models of a given architecture (random weights, calibrated quantization), for the
bit-exactness tests and the speed benchmark. Nothing here is trained: outputs are meaningless,
the arithmetic is real.

An architecture is a list of dicts, e.g. the fan-shaped network ``FAN_ARCH`` (conv1d on 128x3
windows, ~10.5 K parameters, ~52 K MACs)::

    {"op": "conv1d", "filters": 8, "kernel": 4, "stride": 1, "padding": "valid", "act": "relu"}
    {"op": "max_pool1d", "pool": 2}            # stride defaults to the pool size
    {"op": "flatten"}                          # or {"op": "reshape", "shape": [...]}
    {"op": "dense", "units": 21, "act": "relu"}
    {"op": "softmax"}
"""

from __future__ import annotations

import numpy as np

from . import reference
from .ir import (
    SOFTMAX_SCALE,
    SOFTMAX_ZERO_POINT,
    Layer,
    Model,
    activation_range,
    conv_multipliers,
    conv_out_size,
)

FAN_ARCH: list[dict] = [
    {"op": "conv1d", "filters": 8, "kernel": 4, "act": "relu"},
    {"op": "max_pool1d", "pool": 2},
    {"op": "conv1d", "filters": 16, "kernel": 4, "act": "relu"},
    {"op": "max_pool1d", "pool": 2},
    {"op": "flatten"},
    {"op": "dense", "units": 21, "act": "relu"},
    {"op": "dense", "units": 4},
    {"op": "softmax"},
]
FAN_INPUT = (128, 3)
FAN_CLASSES = ["off", "on", "clogged", "friction"]


def _pair(v, one_d: bool) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return (1, int(v)) if one_d else (int(v), int(v))


def _calibrate(acc_real: np.ndarray, act: str | None) -> tuple[float, int]:
    lo, hi = float(np.min(acc_real)), float(np.max(acc_real))
    if act in ("relu", "relu6"):
        lo = min(lo, 0.0)
    lo, hi = min(lo, 0.0), max(hi, 1e-3)
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def random_model(arch: list[dict], input_shape: tuple[int, ...], seed: int = 0, samples: int = 8,
                 classes: list[str] | None = None, name: str = "random") -> Model:
    """A model of `arch` with random int8 weights; scales calibrated on `samples` random inputs."""
    rng = np.random.default_rng(seed)
    in_scale, in_zp = 0.02, int(rng.integers(-20, 20))
    xs = [rng.integers(-128, 128, size=input_shape, dtype=np.int64).astype(np.int8) for _ in range(samples)]
    layers: list[Layer] = []
    shape, scale, zp = tuple(input_shape), in_scale, in_zp
    for spec in arch:
        op = spec["op"]
        if op == "flatten":
            op, spec = "reshape", {**spec, "shape": [int(np.prod(shape))]}
        one_d = op.endswith("1d")
        base = {"input_shape": shape, "input_scale": scale, "input_zero_point": zp, "name": spec.get("name", "")}
        if op in ("conv1d", "conv2d", "depthwise_conv2d", "dense"):
            kernel = _pair(spec.get("kernel", 1), one_d)
            stride = _pair(spec.get("stride", 1), one_d)
            dil = _pair(spec.get("dilation", 1), one_d)
            padding = spec.get("padding", "valid")
            ic = shape[-1]
            if op == "dense":
                oc = spec["units"]
                wshape, out_shape = (oc, int(np.prod(shape))), (oc,)
            else:
                hw = (1, shape[0]) if one_d else shape[:2]
                oh = conv_out_size(hw[0], kernel[0], stride[0], dil[0], padding)
                ow = conv_out_size(hw[1], kernel[1], stride[1], dil[1], padding)
                if op == "depthwise_conv2d":
                    dm = spec.get("multiplier", 1)
                    oc = ic * dm
                    wshape = (1, *kernel, oc)
                else:
                    oc = spec["filters"]
                    wshape = (oc, kernel[1], ic) if one_d else (oc, *kernel, ic)
                out_shape = (ow, oc) if one_d else (oh, ow, oc)
            w = rng.integers(-127, 128, size=wshape, dtype=np.int64).astype(np.int8)
            wscales = (rng.uniform(0.5, 1.5, size=oc) / (127 * np.sqrt(np.prod(wshape) / oc))).astype(np.float32)
            bias = rng.integers(-2000, 2000, size=oc, dtype=np.int64).astype(np.int32)
            if spec.get("bias", True) is False:
                bias = None
            layer = Layer(op=op, output_shape=out_shape, output_scale=1.0, output_zero_point=0, weights=w,
                          bias=bias, weight_scales=wscales, multiplier=np.zeros(oc, np.int32),
                          shift=np.zeros(oc, np.int32), kernel=kernel, stride=stride, dilation=dil,
                          padding=padding, depth_multiplier=spec.get("multiplier", 1), **base)
            # real-valued accumulators on the calibration inputs -> output range
            probe = Layer(**{**layer.__dict__, "multiplier": np.full(oc, 1 << 30, np.int32),
                             "shift": np.full(oc, 1, np.int32)})
            acc = []
            for x in xs:
                a = _accumulate(x, probe)
                acc.append(a * scale * wscales)
            out_scale, out_zp = _calibrate(np.concatenate([a.reshape(-1, oc) for a in acc]), spec.get("act"))
            layer.output_scale, layer.output_zero_point = out_scale, out_zp
            layer.multiplier, layer.shift = conv_multipliers(scale, wscales, out_scale)
            layer.act_min, layer.act_max = activation_range(spec.get("act"), out_scale, out_zp)
        elif op in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"):
            kernel = _pair(spec.get("pool", 2), one_d)
            stride = _pair(spec.get("stride", spec.get("pool", 2)), one_d)
            padding = spec.get("padding", "valid")
            hw = (1, shape[0]) if one_d else shape[:2]
            oh = conv_out_size(hw[0], kernel[0], stride[0], 1, padding)
            ow = conv_out_size(hw[1], kernel[1], stride[1], 1, padding)
            out_shape = (ow, shape[-1]) if one_d else (oh, ow, shape[-1])
            amin, amax = activation_range(spec.get("act"), scale, zp)
            layer = Layer(op=op, output_shape=out_shape, output_scale=scale, output_zero_point=zp,
                          kernel=kernel, stride=stride, padding=padding, act_min=amin, act_max=amax, **base)
        elif op == "reshape":
            layer = Layer(op=op, output_shape=tuple(spec["shape"]), output_scale=scale, output_zero_point=zp,
                          **base)
        elif op == "softmax":
            layer = Layer(op=op, output_shape=shape, output_scale=SOFTMAX_SCALE,
                          output_zero_point=SOFTMAX_ZERO_POINT, beta=spec.get("beta", 1.0), **base)
        else:
            raise ValueError(f"unknown op {op!r} in architecture")
        layer.validate()
        layers.append(layer)
        xs = [reference.run_layer(x, layer) for x in xs]
        shape, scale, zp = tuple(layer.output_shape), layer.output_scale, layer.output_zero_point
    model = Model(input_shape=tuple(input_shape), input_scale=in_scale, input_zero_point=in_zp, layers=layers,
                  classes=list(classes or []), name=name)
    model.validate()
    return model


def _accumulate(x: np.ndarray, layer: Layer) -> np.ndarray:
    """int32 accumulators (before requantization) of a weighted layer, as float64."""
    oc = layer.out_channels
    if layer.op == "dense":
        v = x.astype(np.int64).reshape(-1) - layer.input_zero_point
        acc = layer.weights.astype(np.int64) @ v
    else:
        patches, _ = reference._patches(x, layer, layer.input_zero_point)
        p = patches - layer.input_zero_point
        if layer.op == "depthwise_conv2d":
            p = np.repeat(p, layer.depth_multiplier, axis=-1)
            acc = np.einsum("abhwc,hwc->abc", p, layer.weights.astype(np.int64)[0])
        else:
            oh, ow, _ = layer.hwc_out()
            acc = p.reshape(oh * ow, -1) @ layer.weights.astype(np.int64).reshape(oc, -1).T
    if layer.bias is not None:
        acc = acc + layer.bias
    return np.asarray(acc, dtype=np.float64).reshape(-1, oc)


def fan_model(seed: int = 0) -> Model:
    """The fan-shaped network with random weights (simulated: not trained)."""
    return random_model(FAN_ARCH, FAN_INPUT, seed=seed, classes=FAN_CLASSES, name="fan-random")
