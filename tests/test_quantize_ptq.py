"""Post-training quantization arithmetic (TFLite int8 spec) and BatchNorm folding."""

from __future__ import annotations

import numpy as np
import pytest
from ulearn_host.nn import ir
from ulearn_host.quantize import activation_qparams, fold_batchnorm, quantize_bias, quantize_weights

torch = pytest.importorskip("torch", reason="needs PyTorch: run `make setup`")

from ulearn_host.quantize import quantize_net  # noqa: E402
from ulearn_host.train import cnn  # noqa: E402


def test_activation_range_contains_zero_and_extremes():
    for lo, hi in ((-3.0, 5.0), (0.0, 6.0), (0.5, 2.0), (-4.0, -1.0)):
        scale, zp = activation_qparams(np.array([lo, hi]))
        assert scale == float(np.float32(scale)) and -128 <= zp <= 127
        assert scale * (-128 - zp) <= min(lo, 0) + scale and scale * (127 - zp) >= max(hi, 0) - scale


def test_weights_symmetric_per_channel():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3, 4)) * np.array([0.01, 1, 10, 100, 0])[:, None, None]
    q, s = quantize_weights(w)
    assert q.dtype == np.int8 and s.dtype == np.float32 and q.min() >= -127
    for o in range(4):
        assert np.abs(q[o]).max() == 127
        assert np.allclose(q[o] * s[o], w[o], atol=s[o] / 2 + 1e-12)
    assert (q[4] == 0).all() and s[4] > 0  # an all-zero channel gets a valid scale


def test_bias_scale_is_input_times_weight_scale():
    s_w = np.array([0.01, 0.002], np.float32)
    b = quantize_bias(np.array([0.5, -0.25]), 0.1, s_w)
    assert b.dtype == np.int32
    assert np.allclose(b * 0.1 * s_w.astype(np.float64), [0.5, -0.25], rtol=1e-3)


def test_batchnorm_folding_matches_torch():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, (1, 3))
    bn = torch.nn.BatchNorm2d(4)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 1, 10)
    want = bn(conv(x)).detach().numpy()
    w, b = fold_batchnorm(conv.weight.detach().numpy(), conv.bias.detach().numpy(), bn.weight.detach().numpy(),
                          bn.bias.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy(), bn.eps)
    got = torch.nn.functional.conv2d(x, torch.tensor(w, dtype=torch.float32),
                                     torch.tensor(b, dtype=torch.float32)).numpy()
    assert np.allclose(got, want, atol=1e-5)


def _small_dataset(seed=0, n=120):
    """Generated 1-D windows: class k is a sine of frequency k+1 plus noise (not real data)."""
    rng = np.random.default_rng(seed)
    t = np.arange(32) / 32.0
    y = rng.integers(0, 3, size=n)
    X = np.stack([np.sin(2 * np.pi * (k + 1) * t + rng.uniform(0, 6)) for k in y])[..., None]
    X = np.concatenate([X, 5 + 0.1 * rng.normal(size=X.shape)], axis=2)
    return (X + 0.05 * rng.normal(size=X.shape)).astype(np.float32), y


def test_quantized_net_tracks_float_net_with_bn():
    X, y = _small_dataset()
    arch = [{"op": "conv2d", "filters": 6, "kernel": [1, 5], "act": "relu", "bn": True},
            {"op": "avg_pool2d", "size": [1, 2]},
            {"op": "depthwise_conv2d", "kernel": [1, 3], "act": "relu6"},
            {"op": "max_pool2d", "size": [1, 2]},
            {"op": "flatten"}, {"op": "dropout", "rate": 0.1},
            {"op": "dense", "units": 3}, {"op": "softmax"}]
    # the depthwise layer makes this a 2-D model: inputs (1, T, C)
    net = cnn.build_net(arch, (1, 32, 2), 3, X.mean(axis=(0, 1)), X.std(axis=(0, 1)))
    X2 = X[:, None]
    cnn.fit(net, X2, y, epochs=15)
    model = quantize_net(net, X2, classes=["a", "b", "c"])
    assert [layer.op for layer in model.layers] == ["conv2d", "avg_pool2d", "depthwise_conv2d", "max_pool2d",
                                                     "reshape", "dense", "softmax"]
    assert model.params() == net.params()
    for layer in model.layers:
        if layer.op in ir.WEIGHTED_OPS:
            m, s = ir.conv_multipliers(layer.input_scale, layer.weight_scales, layer.output_scale)
            assert np.array_equal(m, layer.multiplier) and np.array_equal(s, layer.shift)
    probs = net.predict_proba(X2)
    q = cnn.int8_predict(model, X2)
    deq = model.dequantize_output(q)
    assert np.abs(deq - probs).max() < 0.08
    assert (deq.argmax(1) == probs.argmax(1)).mean() >= 0.95


def test_default_architectures_fit_the_budget():
    assert sum(1 for _ in cnn.default_arch((128, 3), 4)) > 0
    fan = cnn.build_net(cnn.default_arch((128, 3), 4), (128, 3), 4)
    assert fan.params() <= 10_500
    for shape in ((100, 6), (256, 3), (64, 1)):
        assert cnn.build_net(cnn.default_arch(shape, 4), shape, 4).params() <= 10_500
    assert cnn.build_net(cnn.default_arch((8, 8, 1), 10), (8, 8, 1), 10).params() <= 10_500


def test_dead_relu_layer_still_exports_bit_exact():
    """A layer whose outputs are all zero on the calibration data gets a tiny but valid range."""
    pytest.importorskip("tflite_micro", reason="needs the tflite-micro package: run `make setup`")
    from ulearn_host.nn import reference
    from ulearn_host.tflite.micro import MicroReference
    from ulearn_host.tflite.writer import to_tflite
    X, y = _small_dataset(n=30)
    arch = [{"op": "conv1d", "filters": 3, "kernel": 3, "act": "relu"}, {"op": "flatten"},
            {"op": "dense", "units": 3}, {"op": "softmax"}]
    net = cnn.build_net(arch, (32, 2), 3, X.mean(axis=(0, 1)), X.std(axis=(0, 1)))
    with torch.no_grad():
        net.mods[0][0].bias.fill_(-100.0)  # every conv output is negative: ReLU kills them all
    model = quantize_net(net, X)
    assert model.layers[0].output_scale > 0
    q = model.quantize_input(X[:5])
    assert np.array_equal(MicroReference(to_tflite(model)).run_batch(q), reference.run_batch(model, q).reshape(5, -1))
