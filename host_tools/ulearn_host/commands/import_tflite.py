"""`ulearn import model.tflite --out M.mpy`: convert a third-party int8 `.tflite` into a ulearn blob.

Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D,
RESHAPE (SQUEEZE, EXPAND_DIMS), SOFTMAX, with QUANTIZE/DEQUANTIZE allowed at the edges. Anything
else is refused with the operator names listed. With --check (default) the imported model is run
next to TFLite Micro on random int8 inputs and must agree on every byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tflite", help="int8 .tflite model")
    parser.add_argument("--out", required=True, help="ulearn model to write (.mpy, .py or raw blob)")
    parser.add_argument("--classes", default=None, help="comma-separated class names for the outputs")
    parser.add_argument("--arch", default=None, help="mpy-cross -march for the .mpy")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the comparison with TFLite Micro on random inputs")


def run(args: argparse.Namespace) -> int:
    from ..nn import export, reference
    from ..tflite.reader import from_tflite
    path = Path(args.tflite)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UlearnError(f"cannot read {path}: {e.strerror}") from None
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    model = from_tflite(data, str(path), classes=classes)
    model.name = Path(args.out).stem
    if args.check:
        from ..tflite.micro import MicroReference
        rng = np.random.default_rng(0)
        xs = rng.integers(-128, 128, size=(16, *model.input_shape)).astype(np.int8)
        ref = MicroReference(data).run_batch(xs)
        ours = reference.run_batch(model, xs).reshape(len(xs), -1)
        if not np.array_equal(ref, ours):
            raise UlearnError(f"{path}: the imported model differs from TFLite Micro on "
                              f"{int((ref != ours).sum())} of {ref.size} outputs; please report this model")
    out = export.save(model, args.out, args.arch)
    blob = export.to_blob(model)
    print(f"imported {path}: {len(model.layers)} layers ({', '.join(layer.op for layer in model.layers)}), "
          f"{model.params()} parameters, {model.macs()} MACs")
    print(f"  wrote {out} ({len(blob)} byte blob)" + ("; bit-exact with TFLite Micro on 16 random inputs"
                                                      if args.check else ""))
    return 0
