"""`ulearn import`: .tflite -> IR -> blob; unsupported operators are refused by name."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

pytest.importorskip("tflite_micro", reason="needs the tflite-micro package: run `make setup`")

from ulearn_host import cli
from ulearn_host.errors import UlearnError
from ulearn_host.nn import export, reference, synth
from ulearn_host.tflite.micro import MicroReference
from ulearn_host.tflite.reader import from_tflite
from ulearn_host.tflite.schema import FILE_IDENTIFIER, fb
from ulearn_host.tflite.writer import to_tflite

ARCHS = [
    (synth.FAN_ARCH, synth.FAN_INPUT),
    ([{"op": "conv2d", "filters": 4, "kernel": [3, 3], "padding": "same", "act": "relu6"},
      {"op": "depthwise_conv2d", "kernel": [3, 3], "multiplier": 2, "act": "relu"},
      {"op": "avg_pool2d", "pool": [2, 2]}, {"op": "max_pool2d", "pool": [1, 1]}, {"op": "flatten"},
      {"op": "dense", "units": 3}, {"op": "softmax"}], (8, 8, 1)),
]

FIELDS = ("op", "input_shape", "output_shape", "input_zero_point", "output_zero_point", "kernel", "stride",
          "dilation", "padding", "depth_multiplier", "act_min", "act_max")


@pytest.mark.parametrize("arch,shape", ARCHS, ids=["fan-1d", "image-2d"])
def test_round_trip_through_tflite(arch, shape):
    model = synth.random_model(arch, shape, seed=7)
    again = from_tflite(to_tflite(model))
    assert len(again.layers) == len(model.layers)
    for a, b in zip(model.layers, again.layers, strict=True):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), (a.op, f)
        assert np.float32(a.output_scale) == np.float32(b.output_scale)
        for f in ("weights", "bias", "multiplier", "shift"):
            x, y = getattr(a, f), getattr(b, f)
            assert (x is None and y is None) or np.array_equal(x, y), (a.op, f)
    xs = np.random.default_rng(0).integers(-128, 128, size=(6, *shape)).astype(np.int8)
    assert np.array_equal(reference.run_batch(again, xs), reference.run_batch(model, xs))
    assert export.to_blob(again)  # exportable


def _model_with(ops: list[int]) -> bytes:
    """A tiny float .tflite whose subgraph uses the given builtin operators (enough for the reader)."""
    tensors = []
    for i in range(len(ops) + 1):
        t = fb.TensorT()
        t.shape, t.type, t.name, t.buffer = [1, 4], fb.TensorType.FLOAT32, f"t{i}", 0
        tensors.append(t)
    codes, operators = [], []
    for i, code in enumerate(ops):
        oc = fb.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        codes.append(oc)
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = i, [i], [i + 1]
        operators.append(op)
    sg = fb.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs = tensors, operators, [0], [len(ops)]
    m = fb.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], [fb.BufferT()]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def test_refuses_unsupported_operators_listing_their_names():
    data = _model_with([fb.BuiltinOperator.TANH, fb.BuiltinOperator.FULLY_CONNECTED, fb.BuiltinOperator.ADD])
    with pytest.raises(UlearnError) as e:
        from_tflite(data, "third.tflite")
    msg = str(e.value)
    assert "ADD, TANH" in msg and "third.tflite" in msg
    assert "FULLY_CONNECTED" not in msg.split("Supported")[0]


def test_refuses_float_models_and_garbage(tmp_path):
    with pytest.raises(UlearnError, match="int8"):
        from_tflite(_model_with([fb.BuiltinOperator.SOFTMAX]), "float.tflite")
    with pytest.raises(UlearnError, match="not a .tflite"):
        from_tflite(b"\x00" * 64, "junk.tflite")


def test_cli_import_bit_exact_and_refusal(tmp_path, capsys):
    model = synth.random_model(synth.FAN_ARCH, synth.FAN_INPUT, seed=2)
    src = tmp_path / "fan.tflite"
    src.write_bytes(to_tflite(model))
    out = tmp_path / "fan.mpy"
    assert cli.main(["import", str(src), "--out", str(out), "--classes", "off,on,clogged,friction"]) == 0
    assert "bit-exact with TFLite Micro" in capsys.readouterr().out
    imported = export.from_blob((tmp_path / "fan.ulb").read_bytes())
    assert imported.classes == ["off", "on", "clogged", "friction"]
    xs = np.random.default_rng(4).integers(-128, 128, size=(5, *synth.FAN_INPUT)).astype(np.int8)
    want = MicroReference(src.read_bytes()).run_batch(xs)
    assert np.array_equal(reference.run_batch(imported, xs).reshape(5, -1), want)
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(_model_with([fb.BuiltinOperator.LSTM, fb.BuiltinOperator.CONCATENATION]))
    assert cli.main(["import", str(bad), "--out", str(tmp_path / "bad.mpy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ulearn: ") and "CONCATENATION, LSTM" in err
    assert not (tmp_path / "bad.mpy").exists()


def _wrap_float_edges(data: bytes) -> bytes:
    """The same model with a float32 input -> QUANTIZE in front and DEQUANTIZE -> float32 output after,
    as the TFLite converter writes models with float interfaces."""
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    sg = m.subgraphs[0]
    first, last = sg.inputs[0], sg.outputs[0]
    codes = {}
    for code in (fb.BuiltinOperator.QUANTIZE, fb.BuiltinOperator.DEQUANTIZE):
        oc = fb.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, code, 1
        m.operatorCodes.append(oc)
        codes[code] = len(m.operatorCodes) - 1
    fin, fout = fb.TensorT(), fb.TensorT()
    fin.shape, fin.type, fin.name, fin.buffer = list(sg.tensors[first].shape), fb.TensorType.FLOAT32, "fin", 0
    fout.shape, fout.type, fout.name, fout.buffer = list(sg.tensors[last].shape), fb.TensorType.FLOAT32, "fout", 0
    sg.tensors += [fin, fout]
    i_in, i_out = len(sg.tensors) - 2, len(sg.tensors) - 1
    q, dq = fb.OperatorT(), fb.OperatorT()
    q.opcodeIndex, q.inputs, q.outputs = codes[fb.BuiltinOperator.QUANTIZE], [i_in], [first]
    dq.opcodeIndex, dq.inputs, dq.outputs = codes[fb.BuiltinOperator.DEQUANTIZE], [last], [i_out]
    sg.operators = [q, *sg.operators, dq]
    sg.inputs, sg.outputs = [i_in], [i_out]
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def test_float_interface_edges_are_dropped():
    model = synth.random_model(synth.FAN_ARCH, synth.FAN_INPUT, seed=9)
    wrapped = _wrap_float_edges(to_tflite(model))
    again = from_tflite(wrapped, "float-io.tflite")
    assert [layer.op for layer in again.layers] == [layer.op for layer in model.layers]
    assert (again.input_scale, again.input_zero_point) == (np.float32(model.input_scale), model.input_zero_point)
    # TFLite Micro on float inputs == ulearn on the same inputs quantized at the edge, then dequantized
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(wrapped, arena_size=512 * 1024)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = rng.normal(scale=1.0, size=synth.FAN_INPUT).astype(np.float32)
        interp.set_input(x.reshape(1, 1, *synth.FAN_INPUT), 0)
        interp.invoke()
        got = np.array(interp.get_output(0)).reshape(-1)
        q = reference.run(again, again.quantize_input(x)).reshape(-1)
        assert np.array_equal(got, again.dequantize_output(q))


def test_keras_style_conv1d_squeeze_and_expand_dims():
    """Keras Conv1D converts to EXPAND_DIMS -> CONV_2D -> SQUEEZE: read as a 1-D model."""
    model = synth.random_model([{"op": "conv1d", "filters": 4, "kernel": 3, "act": "relu"}, {"op": "flatten"},
                                {"op": "dense", "units": 3}], (12, 2), seed=4)
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAs(to_tflite(model), 0))
    sg = m.subgraphs[0]
    conv, reshape, dense = sg.operators
    x4, y4 = conv.inputs[0], conv.outputs[0]
    for code in (fb.BuiltinOperator.EXPAND_DIMS, fb.BuiltinOperator.SQUEEZE):
        oc = fb.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, code, 1
        m.operatorCodes.append(oc)

    def tensor(like: int, shape: list[int], name: str) -> int:
        t = fb.TensorT()
        t.shape, t.type, t.name, t.buffer = shape, fb.TensorType.INT8, name, 0
        t.quantization = sg.tensors[like].quantization
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    x3 = tensor(x4, [1, 12, 2], "x3")
    y3 = tensor(y4, [1, 10, 4], "y3")
    axis = fb.TensorT()
    axis.shape, axis.type, axis.name = [1], fb.TensorType.INT32, "axis"
    buf = fb.BufferT()
    buf.data = np.frombuffer(np.array([1], np.int32).tobytes(), np.uint8)
    m.buffers.append(buf)
    axis.buffer = len(m.buffers) - 1
    sg.tensors.append(axis)
    expand = fb.OperatorT()
    expand.opcodeIndex, expand.inputs, expand.outputs = len(m.operatorCodes) - 2, [x3, len(sg.tensors) - 1], [x4]
    squeeze = fb.OperatorT()
    squeeze.opcodeIndex, squeeze.inputs, squeeze.outputs = len(m.operatorCodes) - 1, [y4], [y3]
    squeeze.builtinOptionsType = fb.BuiltinOptions.SqueezeOptions
    squeeze.builtinOptions = fb.SqueezeOptionsT()
    squeeze.builtinOptions.squeezeDims = [1]
    reshape.inputs = [y3, *list(reshape.inputs)[1:]]
    sg.operators = [expand, conv, squeeze, reshape, dense]
    sg.inputs = [x3]
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=FILE_IDENTIFIER)
    data = bytes(b.Output())
    again = from_tflite(data, "keras.tflite")
    assert [layer.op for layer in again.layers] == ["conv1d", "reshape", "dense"]
    xs = np.random.default_rng(2).integers(-128, 128, size=(6, 12, 2)).astype(np.int8)
    assert np.array_equal(reference.run_batch(again, xs).reshape(6, -1), MicroReference(data).run_batch(xs))


def test_refuses_the_float_model_shipped_with_tflite_micro():
    """A real third-party file: the float `sine_float.tflite` example from the tflite-micro package."""
    from pathlib import Path

    import tflite_micro
    path = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    if not path.exists():
        pytest.skip("tflite-micro no longer ships python/tflite_micro/sine_float.tflite")
    with pytest.raises(UlearnError, match="FLOAT32; ulearn runs int8 activations only"):
        from_tflite(path.read_bytes(), path.name)
