"""Bit-exactness against TFLite Micro: every layer type and whole models, random and real inputs.

The same int8 model is written as `.tflite` (ulearn_host.tflite.writer) and as a ulearn blob; TFLite
Micro (reference kernels, never the default LiteRT resolver), the numpy reference and the device
runtime inside MicroPython must give the same bytes for every output.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro", reason="needs the tflite-micro package: run `make setup`")

from ulearn_host.nn import export, reference, synth
from ulearn_host.tflite.micro import MicroReference
from ulearn_host.tflite.writer import to_tflite
from ulearn_host.train import cnn

# (case name, architecture for synth.random_model, input shape)
LAYER_CASES = [
    ("conv1d_relu", [{"op": "conv1d", "filters": 6, "kernel": 4, "act": "relu"}], (40, 3)),
    ("conv1d_same_stride2_relu6", [{"op": "conv1d", "filters": 5, "kernel": 5, "stride": 2, "padding": "same",
                                    "act": "relu6"}], (33, 4)),
    ("conv1d_dilated_nobias", [{"op": "conv1d", "filters": 4, "kernel": 3, "dilation": 2, "bias": False}],
     (20, 2)),
    ("conv2d_valid", [{"op": "conv2d", "filters": 7, "kernel": [3, 3]}], (8, 8, 2)),
    ("conv2d_same_stride2_relu", [{"op": "conv2d", "filters": 8, "kernel": [3, 2], "stride": [2, 2],
                                   "padding": "same", "act": "relu"}], (9, 7, 3)),
    ("depthwise_m1_relu6", [{"op": "depthwise_conv2d", "kernel": [3, 3], "act": "relu6"}], (7, 7, 4)),
    ("depthwise_m2_same", [{"op": "depthwise_conv2d", "kernel": [3, 3], "multiplier": 2, "padding": "same"}],
     (6, 5, 3)),
    ("dense_relu", [{"op": "dense", "units": 12, "act": "relu"}], (30,)),
    ("dense_linear", [{"op": "dense", "units": 5}], (17,)),
    ("max_pool1d", [{"op": "max_pool1d", "pool": 3, "stride": 2}], (21, 4)),
    ("max_pool2d", [{"op": "max_pool2d", "pool": [2, 2]}], (8, 6, 3)),
    ("avg_pool1d", [{"op": "avg_pool1d", "pool": 3}], (19, 5)),
    ("avg_pool2d_same", [{"op": "avg_pool2d", "pool": [3, 3], "stride": [2, 2], "padding": "same"}], (7, 7, 2)),
    ("reshape", [{"op": "flatten"}], (6, 4)),
    ("softmax", [{"op": "softmax"}], (10,)),
    ("softmax_beta", [{"op": "dense", "units": 6}, {"op": "softmax", "beta": 0.5}], (9,)),
]


@pytest.fixture(scope="module")
def trained_digits():
    from ulearn_host.data import load_dataset
    ds = load_dataset("digits")
    return cnn.train_dataset(ds, epochs=2, name="digits"), ds


@pytest.fixture(scope="module")
def trained_fan():
    from ulearn_host.data import load_dataset
    ds = load_dataset("fan-sim")
    return cnn.train_dataset(ds, epochs=2, name="fan"), ds


def _inputs(shape, n=24, seed=1):
    rng = np.random.default_rng(seed)
    xs = rng.integers(-128, 128, size=(n, *shape)).astype(np.int8)
    xs[0] = -128
    xs[1] = 127
    return xs


def _check(model, xs):
    """TFLite Micro vs the numpy reference; returns the reference outputs."""
    tflm = MicroReference(to_tflite(model)).run_batch(xs)
    ours = reference.run_batch(model, xs).reshape(len(xs), -1)
    assert tflm.dtype == np.int8 and tflm.shape == ours.shape
    mismatch = int((tflm != ours).sum())
    assert mismatch == 0, f"{mismatch} of {ours.size} int8 outputs differ from TFLite Micro"
    return ours


def _device_outputs(tmp_path, jobs, backend=None, compiled=False):
    """Run many (blob, int8 inputs) pairs through lib/ulearn/nn in one MicroPython process
    (with ULEARN_BACKEND=`backend` when given; `compiled` runs the .mpy build of lib/)."""
    import os

    from ulearn_host import unixport
    lines = ["import array, ulearn", "from ulearn import backend", "print('BACKEND', backend.NAME)"]
    for i, (blob, xs, n_out) in enumerate(jobs):
        (tmp_path / f"m{i}.ulb").write_bytes(blob)
        (tmp_path / f"x{i}.bin").write_bytes(xs.tobytes())
        n_in = int(np.prod(xs.shape[1:]))
        lines.append(
            f"m = ulearn.load('m{i}.ulb')\nx = array.array('b', bytes({n_in}))\n"
            f"o = array.array('b', bytes({n_out}))\nfi = open('x{i}.bin', 'rb')\nfo = open('y{i}.bin', 'wb')\n"
            f"while fi.readinto(x) == {n_in}:\n    m.predict(x, o)\n    fo.write(o)\nfi.close()\nfo.close()")
    env = dict(os.environ)
    if backend:
        env["ULEARN_BACKEND"] = backend
    res = unixport.run("\n".join(lines), cwd=tmp_path, timeout=600, env=env, compiled=compiled)
    if backend:
        assert f"BACKEND {backend}" in res.stdout, res.stdout
    return [np.frombuffer((tmp_path / f"y{i}.bin").read_bytes(), np.int8).reshape(len(xs), n_out)
            for i, (_, xs, n_out) in enumerate(jobs)]


@pytest.mark.parametrize("name,arch,shape", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_matches_tflite_micro(name, arch, shape):
    model = synth.random_model(arch, shape, seed=len(name))
    _check(model, _inputs(model.input_shape))


def test_every_ir_op_is_covered():
    from ulearn_host.nn import ir
    ops = set()
    for _, arch, shape in LAYER_CASES:
        ops.update(layer.op for layer in synth.random_model(arch, shape).layers)
    assert ops == set(ir.OPS)


@pytest.mark.parametrize("backend,compiled", [("python", False), ("viper", True)],
                         ids=["python-src", "viper-mpy"])
def test_device_runtime_matches_tflite_micro_every_layer(tmp_path, backend, compiled):
    jobs, refs = [], []
    for name, arch, shape in LAYER_CASES:
        model = synth.random_model(arch, shape, seed=len(name))
        xs = _inputs(model.input_shape, n=8)
        ref = _check(model, xs)
        jobs.append((export.to_blob(model), xs, ref.shape[1]))
        refs.append(ref)
    outs = _device_outputs(tmp_path, jobs, backend, compiled)
    for (name, _, _), ref, dev in zip(LAYER_CASES, refs, outs, strict=True):
        assert np.array_equal(dev, ref), f"{name}: MicroPython runtime ({backend}) differs from TFLite Micro"


def test_whole_models_random_and_real_inputs(tmp_path, trained_digits, trained_fan):
    fan = synth.fan_model(seed=3)
    cases = [(fan, _inputs(fan.input_shape, n=16))]
    for res, ds in (trained_digits, trained_fan):
        real = res.model.quantize_input(ds.X_test[:20])
        cases.append((res.model, real))
        cases.append((res.model, _inputs(res.model.input_shape, n=8, seed=5)))
    jobs, refs = [], []
    for model, xs in cases:
        ref = _check(model, xs)
        refs.append(ref)
        jobs.append((export.to_blob(model), xs, ref.shape[1]))
    for ref, dev in zip(refs, _device_outputs(tmp_path, jobs), strict=True):
        assert np.array_equal(dev, ref)


def test_weight_scales_recovered_from_blob(trained_fan):
    """A blob keeps only multiplier/shift; `.tflite` export of it must still be bit-exact."""
    res, ds = trained_fan
    blob = export.to_blob(res.model)
    again = cnn.with_weight_scales(cnn.model_from_blob(blob))
    for a, b in zip(res.model.layers, again.layers, strict=True):
        if a.multiplier is not None:
            assert np.array_equal(a.multiplier, b.multiplier) and np.array_equal(a.shift, b.shift)
    xs = res.model.quantize_input(ds.X_test[:10])
    assert np.array_equal(MicroReference(to_tflite(again)).run_batch(xs),
                          MicroReference(to_tflite(res.model)).run_batch(xs))


def test_every_layer_of_trained_models_on_real_inputs(trained_digits, trained_fan):
    """Layer by layer (TFLite Micro keeping every tensor): real windows/images through trained models."""
    for res, ds in (trained_digits, trained_fan):
        micro = MicroReference(to_tflite(res.model), preserve_all_tensors=True)
        for x in res.model.quantize_input(ds.X_test[:6]):
            _, ours = reference.run(res.model, x, trace=True)
            theirs = micro.run_trace(x)
            assert len(theirs) == len(ours)
            for layer, a, b in zip(res.model.layers, ours, theirs, strict=True):
                assert np.array_equal(a.reshape(-1), b), f"{ds.name}: layer {layer.name} ({layer.op}) differs"
