"""Read a third-party int8 `.tflite` model into the ulearn IR (for `ulearn import`).

Supported: one subgraph, a chain of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D,
AVERAGE_POOL_2D, RESHAPE (and SQUEEZE / EXPAND_DIMS as reshapes), SOFTMAX, with int8 activations,
int8 symmetric weights (per channel or per tensor), int32 bias, fused NONE / RELU / RELU6; a
QUANTIZE (float -> int8) first and a DEQUANTIZE last are dropped (the model then takes and gives
int8). Anything else is refused, naming every unsupported operator.

Models whose spatial tensors all have height 1 (and 1-row kernels, no depthwise) become 1-D models
(conv1d / pool1d on ``(W, C)``); others are 2-D ``(H, W, C)``.
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import UlearnError
from ..nn import ir
from .schema import FILE_IDENTIFIER, TYPE_NAMES, fb, op_name

OP = fb.BuiltinOperator
SUPPORTED = {OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.FULLY_CONNECTED, OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D,
             OP.RESHAPE, OP.SQUEEZE, OP.EXPAND_DIMS, OP.SOFTMAX, OP.QUANTIZE, OP.DEQUANTIZE}
_RESHAPES = {OP.RESHAPE, OP.SQUEEZE, OP.EXPAND_DIMS}
_ACT = {fb.ActivationFunctionType.NONE: None, fb.ActivationFunctionType.RELU: "relu",
        fb.ActivationFunctionType.RELU6: "relu6"}
_PAD = {fb.Padding.SAME: "same", fb.Padding.VALID: "valid"}


def _opcode(model, op) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
            raise UlearnError(f"{source} is not a .tflite flatbuffer (no {FILE_IDENTIFIER.decode()} "
                              "identifier); give a TensorFlow Lite model file")
        try:
            self.model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
        except (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as e:
            raise UlearnError(f"{source}: cannot parse the .tflite flatbuffer ({e})") from None
        self.data = data
        subgraphs = self.model.subgraphs or []
        if len(subgraphs) != 1:
            raise UlearnError(f"{source} has {len(subgraphs)} subgraphs; ulearn imports single-subgraph "
                              "models only")
        self.sg = subgraphs[0]
        self.tensors = self.sg.tensors or []

    # -- tensors -------------------------------------------------------------------------------
    def buffer(self, index: int) -> np.ndarray | None:
        t = self.tensors[index]
        buf = (self.model.buffers or [])[t.buffer] if t.buffer < len(self.model.buffers or []) else None
        if buf is None:
            return None
        if buf.data is not None and len(buf.data):
            raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
        elif buf.offset > 1 and buf.size:
            raw = self.data[buf.offset:buf.offset + buf.size]
        else:
            return None
        dtype = {fb.TensorType.INT8: np.int8, fb.TensorType.INT32: np.int32,
                 fb.TensorType.FLOAT32: np.float32, fb.TensorType.INT64: np.int64}.get(t.type)
        if dtype is None:
            raise UlearnError(f"{self.source}: constant tensor {self.name(index)!r} has type "
                              f"{TYPE_NAMES.get(t.type, t.type)}, which ulearn does not read")
        return np.frombuffer(raw, dtype=dtype).reshape([int(s) for s in t.shape])

    def name(self, index: int) -> str:
        n = self.tensors[index].name
        return n.decode() if isinstance(n, bytes) else str(n or index)

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(s) for s in (self.tensors[index].shape if self.tensors[index].shape is not None else []))

    def quant(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensors[index].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise UlearnError(f"{self.source}: tensor {self.name(index)!r} has no quantization parameters; "
                              "only fully int8-quantized models can be imported")
        zp = np.zeros(len(q.scale), np.int64) if q.zeroPoint is None else np.asarray(q.zeroPoint, np.int64)
        return np.asarray(q.scale, np.float32), zp

    def act_quant(self, index: int) -> tuple[float, int]:
        t = self.tensors[index]
        if t.type != fb.TensorType.INT8:
            raise UlearnError(f"{self.source}: activation tensor {self.name(index)!r} is "
                              f"{TYPE_NAMES.get(t.type, t.type)}; ulearn runs int8 activations only "
                              "(convert with full-integer int8 quantization)")
        s, z = self.quant(index)
        if len(s) != 1:
            raise UlearnError(f"{self.source}: activation {self.name(index)!r} is quantized per channel; "
                              "ulearn needs per-tensor activations")
        return float(s[0]), int(z[0])


def from_tflite(data: bytes, source: str = "model.tflite", classes: list[str] | None = None) -> ir.Model:
    """Convert an int8 `.tflite` model into the IR; raises UlearnError for anything unsupported."""
    r = _Reader(bytes(data), source)
    ops = list(r.sg.operators or [])
    codes = [_opcode(r.model, op) for op in ops]
    bad = sorted({op_name(c) for c in codes if c not in SUPPORTED})
    if bad:
        raise UlearnError(f"{source} uses operators ulearn cannot run: {', '.join(bad)}. Supported: "
                          f"{', '.join(sorted(op_name(c) for c in SUPPORTED))}; retrain or convert "
                          "the model without them")
    if not ops:
        raise UlearnError(f"{source} has no operators")
    # drop a float->int8 QUANTIZE at the start and an int8->float DEQUANTIZE at the end
    if codes[0] == OP.QUANTIZE:
        ops, codes = ops[1:], codes[1:]
    if codes and codes[-1] == OP.DEQUANTIZE:
        ops, codes = ops[:-1], codes[:-1]
    if any(c in (OP.QUANTIZE, OP.DEQUANTIZE) for c in codes):
        raise UlearnError(f"{source}: QUANTIZE/DEQUANTIZE inside the model (not at its edges) is not "
                          "supported; ulearn runs int8 end to end")
    if not ops:
        raise UlearnError(f"{source} has no operators besides QUANTIZE/DEQUANTIZE")

    def first_input(op) -> int:
        return int(op.inputs[0])

    spatial = []
    for op, code in zip(ops, codes, strict=True):
        if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D):
            spatial.append((op, code))
    one_d = bool(spatial) and all(
        code != OP.DEPTHWISE_CONV_2D and len(r.shape(first_input(op))) == 4 and r.shape(first_input(op))[1] == 1
        and _kernel_h(r, op, code) == 1 for op, code in spatial)

    def ir_shape(index: int) -> tuple[int, ...]:
        shape = r.shape(index)
        if not shape or shape[0] != 1:
            raise UlearnError(f"{source}: tensor {r.name(index)!r} has shape {list(shape)}; ulearn needs "
                              "batch size 1")
        rest = shape[1:]
        if len(rest) == 3 and one_d:
            if rest[0] != 1:
                raise UlearnError(f"{source}: tensor {r.name(index)!r} {list(shape)} mixes 1-D and 2-D data")
            return rest[1:]
        return tuple(rest)

    x = first_input(ops[0])
    in_scale, in_zp = r.act_quant(x)
    input_shape = ir_shape(x)
    layers: list[ir.Layer] = []
    for i, (op, code) in enumerate(zip(ops, codes, strict=True)):
        if first_input(op) != x:
            raise UlearnError(f"{source}: operator {i} ({op_name(code)}) does not consume the previous "
                              "output; ulearn imports plain sequential models only")
        y = int(op.outputs[0])
        s_in, z_in = r.act_quant(x)
        s_out, z_out = r.act_quant(y)
        shape_in, shape_out = ir_shape(x), ir_shape(y)
        name = r.name(y)
        common = {"input_shape": shape_in, "output_shape": shape_out, "input_scale": s_in,
                  "input_zero_point": z_in, "output_scale": s_out, "output_zero_point": z_out, "name": name}
        opts = op.builtinOptions
        if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.FULLY_CONNECTED):
            layers.append(_weighted(r, op, code, opts, common, one_d, source))
        elif code in (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D):
            kind = "max" if code == OP.MAX_POOL_2D else "avg"
            act_min, act_max = ir.activation_range(_activation(opts.fusedActivationFunction, source),
                                                   s_out, z_out)
            layers.append(ir.Layer(op=f"{kind}_pool{'1d' if one_d else '2d'}", **common,
                                   kernel=(int(opts.filterHeight), int(opts.filterWidth)),
                                   stride=(int(opts.strideH), int(opts.strideW)),
                                   padding=_PAD[opts.padding], act_min=act_min, act_max=act_max))
        elif code in _RESHAPES:
            if (s_in, z_in) != (s_out, z_out):
                raise UlearnError(f"{source}: {op_name(code)} {name!r} changes the quantization")
            if shape_in != shape_out:
                layers.append(ir.Layer(op="reshape", **common))
        elif code == OP.SOFTMAX:
            layers.append(ir.Layer(op="softmax", **common, beta=float(opts.beta) if opts else 1.0))
        x = y
    model = ir.Model(input_shape=input_shape, input_scale=in_scale, input_zero_point=in_zp, layers=layers,
                     classes=list(classes or []), name=source.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    try:
        model.validate()
    except ValueError as e:
        raise UlearnError(f"{source}: cannot be expressed in ulearn's int8 IR: {e}") from None
    return model


def _kernel_h(r: _Reader, op, code: int) -> int:
    if code in (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D):
        return int(op.builtinOptions.filterHeight)
    return r.shape(int(op.inputs[1]))[1]


def _activation(code: int, source: str) -> str | None:
    if code not in _ACT:
        from .schema import ACTIVATION_NAMES
        raise UlearnError(f"{source}: fused activation {ACTIVATION_NAMES.get(code, code)} is not supported "
                          "(NONE, RELU, RELU6)")
    return _ACT[code]


def _weighted(r: _Reader, op, code: int, opts, common: dict, one_d: bool, source: str) -> ir.Layer:
    wi = int(op.inputs[1])
    bi = int(op.inputs[2]) if len(op.inputs) > 2 else -1
    w = r.buffer(wi)
    if w is None or r.tensors[wi].type != fb.TensorType.INT8:
        raise UlearnError(f"{source}: weights {r.name(wi)!r} must be constant int8 (hybrid or float weights "
                          "are not supported)")
    scales, zps = r.quant(wi)
    if np.any(zps != 0):
        raise UlearnError(f"{source}: weights {r.name(wi)!r} are not symmetric (zero point != 0)")
    oc = int(common["output_shape"][-1])
    if len(scales) == 1:
        scales = np.full(oc, scales[0], np.float32)
    if len(scales) != oc:
        raise UlearnError(f"{source}: weights {r.name(wi)!r} have {len(scales)} scales for {oc} channels")
    bias = None
    if bi >= 0:
        b = r.buffer(bi)
        if b is None or b.dtype != np.int32:
            raise UlearnError(f"{source}: bias {r.name(bi)!r} must be constant int32")
        bias = np.ascontiguousarray(b.reshape(-1))
    act_min, act_max = ir.activation_range(_activation(opts.fusedActivationFunction, source),
                                           common["output_scale"], common["output_zero_point"])
    mult, shift = ir.conv_multipliers(common["input_scale"], scales, common["output_scale"])
    q = {"weight_scales": scales, "multiplier": mult, "shift": shift, "bias": bias,
         "act_min": act_min, "act_max": act_max}
    if code == OP.FULLY_CONNECTED:
        if common["output_shape"] != (oc,):
            common = {**common, "output_shape": (oc,)}
        return ir.Layer(op="dense", **common, weights=np.ascontiguousarray(w), **q)
    geom = {"stride": (int(opts.strideH), int(opts.strideW)),
            "dilation": (int(opts.dilationHFactor or 1), int(opts.dilationWFactor or 1)),
            "padding": _PAD[opts.padding], "kernel": (int(w.shape[1]), int(w.shape[2]))}
    if code == OP.DEPTHWISE_CONV_2D:
        ic = int(common["input_shape"][-1])
        return ir.Layer(op="depthwise_conv2d", **common, weights=np.ascontiguousarray(w),
                        depth_multiplier=oc // max(ic, 1), **geom, **q)
    if one_d:
        return ir.Layer(op="conv1d", **common, weights=np.ascontiguousarray(w[:, 0]), **geom, **q)
    return ir.Layer(op="conv2d", **common, weights=np.ascontiguousarray(w), **geom, **q)
