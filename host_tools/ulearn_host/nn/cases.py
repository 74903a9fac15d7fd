"""Named test models (random weights, simulated: not trained) covering every layer type and option,
plus whole models, and the device test vectors written to tests/device/nn_data/.

    python -m ulearn_host.nn.cases tests/device/nn_data     # rewrite the device vectors
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from . import export, reference, synth
from .ir import Model

# name -> (architecture, input shape)
LAYER_CASES: dict[str, tuple[list[dict], tuple[int, ...]]] = {
    "conv1d": ([{"op": "conv1d", "filters": 5, "kernel": 3, "act": "relu"}], (20, 3)),
    "conv1d_same_s2_d2": ([{"op": "conv1d", "filters": 4, "kernel": 3, "stride": 2, "dilation": 2,
                            "padding": "same"}], (17, 2)),
    "conv2d_same_relu6": ([{"op": "conv2d", "filters": 6, "kernel": 3, "padding": "same", "act": "relu6"}],
                          (8, 8, 1)),
    "conv2d_valid_s21_nobias": ([{"op": "conv2d", "filters": 3, "kernel": [2, 3], "stride": [2, 1],
                                  "bias": False}], (7, 6, 2)),
    "conv2d_many_rows": ([{"op": "conv2d", "filters": 4, "kernel": 2, "padding": "same"}], (9, 7, 3)),
    "depthwise_same_m2": ([{"op": "depthwise_conv2d", "kernel": 3, "multiplier": 2, "padding": "same",
                            "act": "relu"}], (6, 5, 3)),
    "depthwise_valid_s2": ([{"op": "depthwise_conv2d", "kernel": 2, "stride": 2}], (7, 7, 2)),
    "dense": ([{"op": "flatten"}, {"op": "dense", "units": 7, "act": "relu"}], (5, 4)),
    "dense_nobias": ([{"op": "dense", "units": 3, "bias": False}], (11,)),
    "max_pool1d_same": ([{"op": "max_pool1d", "pool": 3, "stride": 2, "padding": "same"}], (15, 3)),
    "avg_pool1d": ([{"op": "avg_pool1d", "pool": 2}], (16, 4)),
    "max_pool2d": ([{"op": "max_pool2d", "pool": 2, "padding": "same"}], (7, 7, 2)),
    "avg_pool2d_same": ([{"op": "avg_pool2d", "pool": 3, "stride": 2, "padding": "same"}], (6, 6, 3)),
    "reshape_conv2d": ([{"op": "reshape", "shape": [4, 6, 1]}, {"op": "conv2d", "filters": 2, "kernel": 2}],
                       (24,)),
    "softmax": ([{"op": "flatten"}, {"op": "dense", "units": 10}, {"op": "softmax"}], (3, 4)),
    "softmax_beta": ([{"op": "softmax", "beta": 0.7}], (9,)),
}

MODEL_CASES: dict[str, tuple[list[dict], tuple[int, ...]]] = {
    "fan": (synth.FAN_ARCH, synth.FAN_INPUT),
    "digits": ([{"op": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "act": "relu"},
                {"op": "max_pool2d", "pool": 2},
                {"op": "depthwise_conv2d", "kernel": 3, "padding": "same", "act": "relu6"},
                {"op": "conv2d", "filters": 12, "kernel": 3, "act": "relu"},
                {"op": "avg_pool2d", "pool": 2},
                {"op": "flatten"},
                {"op": "dense", "units": 10},
                {"op": "softmax"}], (8, 8, 1)),
}


def build(name: str, seed: int = 0) -> Model:
    """The named case (LAYER_CASES or MODEL_CASES) with random weights from `seed`."""
    arch, shape = {**LAYER_CASES, **MODEL_CASES}[name]
    return synth.random_model(arch, shape, seed=seed, name=name)


def inputs(model: Model, count: int = 3, seed: int = 0) -> np.ndarray:
    """`count` int8 inputs: the extremes (-128..., 127...) then uniform random ones."""
    rng = np.random.default_rng(seed + 1000)
    xs = [np.full(model.input_shape, -128, np.int8), np.full(model.input_shape, 127, np.int8)]
    while len(xs) < count:
        xs.append(rng.integers(-128, 128, size=model.input_shape, dtype=np.int64).astype(np.int8))
    return np.stack(xs[:count])


def io_bytes(model: Model, xs: np.ndarray) -> bytes:
    """Test vector file: `<HHH` (count, input length, output length), then per case input + output."""
    ys = reference.run_batch(model, xs)
    n_in, n_out = int(np.prod(model.input_shape)), int(np.prod(model.output_shape))
    out = bytearray(struct.pack("<HHH", len(xs), n_in, n_out))
    for x, y in zip(xs, ys, strict=True):
        out += x.astype(np.int8).tobytes() + y.astype(np.int8).tobytes()
    return bytes(out)


def device_vectors() -> dict[str, bytes]:
    """Files for tests/device/nn_data: small (every op kind in one model), fan, big (too large)."""
    small = synth.random_model(
        [{"op": "conv1d", "filters": 4, "kernel": 3, "padding": "same", "act": "relu"},
         {"op": "max_pool1d", "pool": 2},
         {"op": "avg_pool1d", "pool": 2, "padding": "same"},
         {"op": "reshape", "shape": [1, 4, 4]},
         {"op": "depthwise_conv2d", "kernel": 2, "padding": "same"},
         {"op": "conv2d", "filters": 3, "kernel": [1, 2]},
         {"op": "flatten"},
         {"op": "dense", "units": 4},
         {"op": "softmax"}], (16, 3), seed=7, classes=["a", "b", "c", "d"], name="small")
    fan = synth.fan_model(seed=3)
    big = synth.random_model([{"op": "conv2d", "filters": 8, "kernel": 3, "padding": "same"}], (96, 96, 1),
                             seed=5, name="big")
    return {
        "small.ulb": export.to_blob(small), "small.io": io_bytes(small, inputs(small, 4, seed=7)),
        "fan.ulb": export.to_blob(fan), "fan.io": io_bytes(fan, inputs(fan, 3, seed=3)),
        "big.ulb": export.to_blob(big),
    }


def write_device_vectors(folder: Path) -> None:
    """(Re)write the device test vectors into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in device_vectors().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    write_device_vectors(Path(sys.argv[1]))
