"""IR model <-> CNN blob (KIND_CNN). The section layout is defined in the device module
``ulearn.nn.format``; this writes it through ``ulearn_host.blob`` and reads it back for host tools.

    blob = to_blob(model)               # bytes
    save(model, "fan.mpy")              # .mpy (mpy-cross), .py, or raw (.ulb)
    model = from_blob(blob)             # IR again (weight_scales are not stored: None)
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from ulearn import blob as fmt
from ulearn.nn import format as nnfmt

from .. import blob as writer
from ..errors import UlearnError
from .ir import Layer, Model
from .plan import Plan, plan_arena
from .reference import softmax_params

_OP_CODES = {
    "conv1d": nnfmt.OP_CONV, "conv2d": nnfmt.OP_CONV, "depthwise_conv2d": nnfmt.OP_DEPTHWISE,
    "dense": nnfmt.OP_DENSE, "max_pool1d": nnfmt.OP_MAX_POOL, "max_pool2d": nnfmt.OP_MAX_POOL,
    "avg_pool1d": nnfmt.OP_AVG_POOL, "avg_pool2d": nnfmt.OP_AVG_POOL, "reshape": nnfmt.OP_RESHAPE,
    "softmax": nnfmt.OP_SOFTMAX,
}


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _f32(x: float) -> float:
    """Shortest decimal that reads back as the same float32 (keeps META small)."""
    return float(str(np.float32(x)))


def _layer_meta(layer: Layer) -> list:
    """[op, output shape, output scale] (+ padding, beta when not the defaults) for META."""
    entry: list = [layer.op, [int(v) for v in layer.output_shape], _f32(layer.output_scale)]
    if layer.padding != "valid" or layer.beta != 1.0:
        entry += [layer.padding, float(layer.beta)]
    return entry


def _u16(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise UlearnError(f"{what} = {value} does not fit the CNN blob (0..65535)")
    return value


def sections(model: Model) -> tuple[dict, dict[bytes, bytes], Plan]:
    """(META dict, other sections, arena plan) of `model`, after validating it."""
    try:
        model.validate()
    except ValueError as e:
        raise UlearnError(f"cannot export the model: {e}") from None
    plan = plan_arena(model)
    records, weights = bytearray(), bytearray()
    bias, mult, shift = [], [], []
    for i, layer in enumerate(model.layers):
        ih, iw, ic = layer.hwc_in()
        oh, ow, oc = layer.hwc_out()
        pt, pl = layer.pads() if layer.op in _SPATIAL else (0, 0)
        flags, extra, w_off, w_len, q_off = 0, 0, 0, 0, len(mult)
        if layer.weights is not None and layer.op in ("conv1d", "conv2d", "depthwise_conv2d", "dense"):
            w = np.ascontiguousarray(layer.weights, dtype=np.int8).tobytes()
            w_off, w_len = len(weights), len(w)
            weights += w + bytes(_align4(len(w)) - len(w))
            flags |= nnfmt.FLAG_BIAS if layer.bias is not None else 0
            bias += [int(v) for v in (layer.bias if layer.bias is not None else np.zeros(oc))]
            mult += [int(v) for v in layer.multiplier]
            shift += [int(v) for v in layer.shift]
        elif layer.op == "softmax":
            m, s, extra = softmax_params(layer.beta, layer.input_scale)
            bias.append(0)
            mult.append(m)
            shift.append(s)
        kh, kw = layer.kernel if layer.op in _SPATIAL else (1, 1)
        sh, sw = layer.stride if layer.op in _SPATIAL else (1, 1)
        dh, dw = layer.dilation if layer.op in _SPATIAL else (1, 1)
        dims = [_u16(v, f"layer {i} dimension") for v in (ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw,
                                                           pt, pl, layer.depth_multiplier)]
        records += struct.pack(nnfmt.LAYER_FORMAT, _OP_CODES[layer.op], flags, layer.act_min, layer.act_max,
                               *dims, layer.input_zero_point, layer.output_zero_point, 0,
                               w_off, w_len, q_off, extra)
    layr = struct.pack(nnfmt.LAYR_HEADER, nnfmt.NN_VERSION, len(model.layers), nnfmt.LAYER_SIZE, 0) + records
    plan_bytes = struct.pack(nnfmt.PLAN_HEADER, plan.arena_bytes, plan.scratch_offset, len(plan.tensors), 0)
    plan_bytes += b"".join(struct.pack(nnfmt.PLAN_ENTRY, o, n) for o, n in plan.tensors)
    meta = {
        "name": model.name,
        "classes": list(model.classes),
        "input_shape": [int(v) for v in model.input_shape],
        "input_scale": _f32(model.input_scale),
        "input_zero_point": int(model.input_zero_point),
        "output_shape": [int(v) for v in model.output_shape],
        "output_scale": _f32(model.output_scale),
        "output_zero_point": int(model.output_zero_point),
        "params": model.params(),
        "macs": model.macs(),
        "layers": [_layer_meta(layer) for layer in model.layers],
    }
    if model.input_mean is not None:
        meta["input_mean"] = [_f32(v) for v in model.input_mean]
    if model.input_std is not None:
        meta["input_std"] = [_f32(v) for v in model.input_std]
    if model.input_unit:
        meta["input_unit"] = model.input_unit
    secs = {
        nnfmt.TAG_LAYERS: layr,
        nnfmt.TAG_WEIGHTS: bytes(weights),
        nnfmt.TAG_BIAS: np.array(bias, dtype="<i4").tobytes(),
        nnfmt.TAG_MULT: np.array(mult, dtype="<i4").tobytes(),
        nnfmt.TAG_SHIFT: np.array(shift, dtype=np.int8).tobytes(),
        nnfmt.TAG_PLAN: plan_bytes,
    }
    if model.feature_spec is not None:
        import json
        secs[fmt.TAG_FEATURES] = json.dumps(model.feature_spec, separators=(",", ":"), sort_keys=True).encode()
    return meta, secs, plan


_SPATIAL = ("conv1d", "conv2d", "depthwise_conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")


def to_blob(model: Model) -> bytes:
    """The CNN blob of `model` (validated first; UlearnError says what is wrong)."""
    meta, secs, _ = sections(model)
    return writer.write_blob(fmt.KIND_CNN, meta, secs)


def save(model: Model, out: str | os.PathLike, arch: str | None = None) -> Path:
    """Write `model` as `out`: `.mpy` (mpy-cross, plus `.ulb` beside it), `.py`, or a raw blob."""
    return writer.save_model(to_blob(model), out, arch)


def from_blob(blob: bytes) -> Model:
    """Read a CNN blob back into the IR (host side; for eval and round-trip tests).

    Weight scales are not stored in the blob, so `weight_scales` is None in the result.
    """
    b = fmt.Blob(blob)
    if b.kind != fmt.KIND_CNN:
        raise UlearnError(f"this blob holds a {b.kind_name} model, not a CNN")
    meta = b.meta()
    layr = bytes(b.section(nnfmt.TAG_LAYERS))
    version, count, size, _ = struct.unpack_from(nnfmt.LAYR_HEADER, layr, 0)
    if version > nnfmt.NN_VERSION or size != nnfmt.LAYER_SIZE:
        raise UlearnError(f"CNN layer table version {version} (record {size} bytes) is newer than this "
                          "ulearn reads: update ulearn")
    weights = np.frombuffer(bytes(b.section(nnfmt.TAG_WEIGHTS)), dtype=np.int8)
    bias = np.frombuffer(bytes(b.section(nnfmt.TAG_BIAS)), dtype="<i4").astype(np.int32)
    mult = np.frombuffer(bytes(b.section(nnfmt.TAG_MULT)), dtype="<i4").astype(np.int32)
    shift = np.frombuffer(bytes(b.section(nnfmt.TAG_SHIFT)), dtype=np.int8).astype(np.int32)
    layers = []
    shape = tuple(meta["input_shape"])
    scale = float(np.float32(meta["input_scale"]))
    for i in range(count):
        rec = struct.unpack_from(nnfmt.LAYER_FORMAT, layr, nnfmt.LAYR_HEADER_SIZE + i * size)
        _, flags, amin, amax, ih, iw, ic, _, _, oc, kh, kw, sh, sw, dh, dw, _, _, dm, izp, ozp, _, \
            w_off, w_len, q_off, _ = rec
        op, out_shape, out_scale, *rest = meta["layers"][i]
        padding, beta = rest if rest else ("valid", 1.0)
        out_scale = float(np.float32(out_scale))
        layer = Layer(op=op, input_shape=shape, output_shape=tuple(out_shape), input_scale=scale,
                      input_zero_point=izp, output_scale=out_scale, output_zero_point=ozp,
                      act_min=amin, act_max=amax, padding=padding, beta=beta, depth_multiplier=dm,
                      kernel=(kh, kw), stride=(sh, sw), dilation=(dh, dw))
        if op in ("conv1d", "conv2d", "depthwise_conv2d", "dense"):
            w = weights[w_off:w_off + w_len].copy()
            wshape = {"conv1d": (oc, kw, ic), "conv2d": (oc, kh, kw, ic), "depthwise_conv2d": (1, kh, kw, oc),
                      "dense": (oc, ih * iw * ic)}[op]
            layer.weights = w.reshape(wshape)
            layer.bias = bias[q_off:q_off + oc].copy() if flags & nnfmt.FLAG_BIAS else None
            layer.multiplier = mult[q_off:q_off + oc].copy()
            layer.shift = shift[q_off:q_off + oc].copy()
        layers.append(layer)
        shape, scale = tuple(out_shape), out_scale
    feature_spec = b.json(fmt.TAG_FEATURES) if b.has(fmt.TAG_FEATURES) else None
    return Model(input_shape=tuple(meta["input_shape"]), input_scale=float(np.float32(meta["input_scale"])),
                 input_zero_point=meta["input_zero_point"], layers=layers, classes=list(meta["classes"]),
                 feature_spec=feature_spec, name=meta["name"], input_mean=meta.get("input_mean"),
                 input_std=meta.get("input_std"), input_unit=meta.get("input_unit", ""))
