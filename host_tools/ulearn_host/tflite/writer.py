"""Write a quantized ulearn model (the IR in `ulearn_host.nn.ir`) as an int8 `.tflite` flatbuffer.

The file is the *reference* form of the same model: TFLite Micro runs it and ulearn's outputs must
equal TFLite Micro's, byte for byte. Built with the object API of the schema shipped in `tflite-micro`.

Tensor layout: the batch dimension (1) is prepended; 1-D tensors ``(W, C)`` become ``[1, 1, W, C]``
(conv1d is CONV_2D with H = 1), ``(H, W, C)`` becomes ``[1, H, W, C]`` and ``(n,)`` becomes ``[1, n]``.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from ..errors import UlearnError
from ..nn import ir
from .schema import FILE_IDENTIFIER, SCHEMA_VERSION, fb

_PADDING = {"same": fb.Padding.SAME, "valid": fb.Padding.VALID}


def tflite_shape(shape: tuple[int, ...]) -> list[int]:
    """The TFLite tensor shape (batch 1 first) of an IR activation shape."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return [1, 1, *shape]
    return [1, *shape]


def fused_activation(layer: ir.Layer) -> int:
    """The TFLite fused activation whose int8 range equals the layer's (act_min, act_max)."""
    rng = (layer.act_min, layer.act_max)
    for name, code in (("none", fb.ActivationFunctionType.NONE), ("relu", fb.ActivationFunctionType.RELU),
                       ("relu6", fb.ActivationFunctionType.RELU6)):
        if ir.activation_range(name, layer.output_scale, layer.output_zero_point) == rng:
            return code
    raise UlearnError(f"layer {layer.name or layer.op}: activation range {rng} is none of TFLite's fused "
                      "activations (none, relu, relu6) for its output quantization; it cannot be written "
                      "as .tflite")


class _Builder:
    """Collects tensors, buffers and operators of one subgraph."""

    def __init__(self) -> None:
        self.buffers: list = [fb.BufferT()]  # buffer 0 is the empty buffer by convention
        self.tensors: list = []
        self.operators: list = []
        self.opcodes: dict[int, int] = {}
        self.codes: list = []

    def quant(self, scale, zero_point, dim: int = 0):
        q = fb.QuantizationParametersT()
        q.scale = [float(np.float32(s)) for s in np.atleast_1d(scale)]
        q.zeroPoint = [int(z) for z in np.atleast_1d(zero_point)]
        q.quantizedDimension = dim
        return q

    def tensor(self, name: str, shape, ttype: int, quant=None, data: np.ndarray | None = None) -> int:
        t = fb.TensorT()
        t.name = name
        t.shape = [int(s) for s in shape]
        t.type = ttype
        t.quantization = quant
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int, options) -> None:
        if code not in self.opcodes:
            oc = fb.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            self.opcodes[code] = len(self.codes)
            self.codes.append(oc)
        o = fb.OperatorT()
        o.opcodeIndex = self.opcodes[code]
        o.inputs = inputs
        o.outputs = outputs
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.operators.append(o)


def _weighted(b: _Builder, layer: ir.Layer, i: int, x: int, y: int) -> None:
    oc = layer.out_channels
    w = np.asarray(layer.weights, dtype=np.int8)
    scales = np.asarray(layer.weight_scales if layer.weight_scales is not None else np.ones(oc), np.float32)
    s_in = np.float32(layer.input_scale)
    bias = np.zeros(oc, np.int32) if layer.bias is None else np.asarray(layer.bias, np.int32)
    if layer.op == "conv1d":
        w = w.reshape(oc, 1, w.shape[1], w.shape[2])
    qdim = 3 if layer.op == "depthwise_conv2d" else 0
    wt = b.tensor(f"{layer.name or layer.op}_{i}/weights", w.shape, fb.TensorType.INT8,
                  b.quant(scales, np.zeros(oc, np.int64), qdim), w)
    bt = b.tensor(f"{layer.name or layer.op}_{i}/bias", [oc], fb.TensorType.INT32,
                  b.quant(s_in * scales, np.zeros(oc, np.int64), 0), bias)
    act = fused_activation(layer)
    if layer.op == "dense":
        opt = fb.FullyConnectedOptionsT()
        opt.fusedActivationFunction = act
        b.op(fb.BuiltinOperator.FULLY_CONNECTED, [x, wt, bt], [y], fb.BuiltinOptions.FullyConnectedOptions, opt)
        return
    if layer.op == "depthwise_conv2d":
        opt = fb.DepthwiseConv2DOptionsT()
        opt.depthMultiplier = layer.depth_multiplier
        code, otype = fb.BuiltinOperator.DEPTHWISE_CONV_2D, fb.BuiltinOptions.DepthwiseConv2DOptions
    else:
        opt = fb.Conv2DOptionsT()
        code, otype = fb.BuiltinOperator.CONV_2D, fb.BuiltinOptions.Conv2DOptions
    opt.padding = _PADDING[layer.padding]
    opt.strideH, opt.strideW = (int(s) for s in layer.stride)
    opt.dilationHFactor, opt.dilationWFactor = (int(d) for d in layer.dilation)
    opt.fusedActivationFunction = act
    b.op(code, [x, wt, bt], [y], otype, opt)


def to_tflite(model: ir.Model, description: str = "ulearn int8 model") -> bytes:
    """Serialise `model` as a `.tflite` flatbuffer (int8 input and output tensors, batch 1)."""
    model.validate()
    b = _Builder()
    x = b.tensor("input", tflite_shape(model.input_shape), fb.TensorType.INT8,
                 b.quant(model.input_scale, model.input_zero_point))
    first = x
    for i, layer in enumerate(model.layers):
        y = b.tensor(f"{layer.name or layer.op}_{i}", tflite_shape(layer.output_shape), fb.TensorType.INT8,
                     b.quant(layer.output_scale, layer.output_zero_point))
        if layer.op in ir.WEIGHTED_OPS:
            _weighted(b, layer, i, x, y)
        elif layer.op in ir.POOL_OPS:
            opt = fb.Pool2DOptionsT()
            opt.padding = _PADDING[layer.padding]
            opt.strideH, opt.strideW = (int(s) for s in layer.stride)
            opt.filterHeight, opt.filterWidth = (int(k) for k in layer.kernel)
            opt.fusedActivationFunction = fused_activation(layer)
            code = fb.BuiltinOperator.MAX_POOL_2D if layer.op.startswith("max") else \
                fb.BuiltinOperator.AVERAGE_POOL_2D
            b.op(code, [x], [y], fb.BuiltinOptions.Pool2DOptions, opt)
        elif layer.op == "reshape":
            shape = np.array(tflite_shape(layer.output_shape), dtype=np.int32)
            st = b.tensor(f"reshape_{i}/shape", [len(shape)], fb.TensorType.INT32, None, shape)
            opt = fb.ReshapeOptionsT()
            opt.newShape = [int(s) for s in shape]
            b.op(fb.BuiltinOperator.RESHAPE, [x, st], [y], fb.BuiltinOptions.ReshapeOptions, opt)
        elif layer.op == "softmax":
            opt = fb.SoftmaxOptionsT()
            opt.beta = float(layer.beta)
            b.op(fb.BuiltinOperator.SOFTMAX, [x], [y], fb.BuiltinOptions.SoftmaxOptions, opt)
        else:  # pragma: no cover - validate() refuses unknown ops
            raise UlearnError(f"cannot write op {layer.op!r} as .tflite")
        x = y
    sg = fb.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs = b.tensors, b.operators, [first], [x]
    sg.name = "main"
    m = fb.ModelT()
    m.version = SCHEMA_VERSION
    m.description = description
    m.operatorCodes, m.subgraphs, m.buffers = b.codes, [sg], b.buffers
    builder = flatbuffers.Builder(4096)
    builder.Finish(m.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
