"""Post-training int8 quantization (TFLite int8 specification) of ulearn's float CNNs.

`quantize_net(net, calib_X)` turns a trained `ulearn_host.train.cnn.FloatNet` into the int8 IR
(`ulearn_host.nn.ir.Model`); `ptq` holds the arithmetic (weights, activations, bias, BN folding).
"""

from __future__ import annotations

import numpy as np

from .ptq import (
    CALIB_PERCENTILE,
    FloatLayer,
    activation_qparams,
    fold_batchnorm,
    quantize_bias,
    quantize_layers,
    quantize_weights,
)

__all__ = [
    "FloatLayer",
    "activation_qparams",
    "fold_batchnorm",
    "quantize_bias",
    "quantize_layers",
    "quantize_net",
    "quantize_weights",
]


def quantize_net(net, calib_X, classes=None, name: str = "model", max_calib: int = 1000,
                 percentile: float = CALIB_PERCENTILE):
    """Quantize a trained FloatNet with calibration inputs `calib_X` (raw float windows/images)."""
    layers, normalized = net.float_layers(calib_X[:max_calib])
    model = quantize_layers(net.input_shape, normalized, layers, classes=classes, name=name,
                            percentile=percentile)
    mean, std = net.mean.numpy().astype(float), net.std.numpy().astype(float)
    if not (np.all(mean == 0) and np.all(std == 1)):
        model.input_mean = [float(v) for v in mean]
        model.input_std = [float(v) for v in std]
    return model
