"""The TFLite flatbuffer schema and interpreter, taken from the pinned `tflite-micro` package.

Only this module imports `tflite_micro`, so a missing package gives one clear message.
"""

from __future__ import annotations

from ..errors import UlearnError

try:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb
except ImportError as e:  # pragma: no cover - depends on the environment
    raise UlearnError("the `tflite-micro` package is not installed (it ships the .tflite schema and the "
                      "TFLite Micro reference interpreter): run `make setup` or "
                      "`pip install 'ulearn[cnn]'`") from e

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

# TFLite builtin operator code -> name, for messages (e.g. "unsupported operators: TANH, ADD").
OP_NAMES: dict[int, str] = {v: k for k, v in vars(fb.BuiltinOperator).items()
                            if not k.startswith("_") and isinstance(v, int)}

ACTIVATION_NAMES: dict[int, str] = {v: k for k, v in vars(fb.ActivationFunctionType).items()
                                    if not k.startswith("_") and isinstance(v, int)}

TYPE_NAMES: dict[int, str] = {v: k for k, v in vars(fb.TensorType).items()
                              if not k.startswith("_") and isinstance(v, int)}


def op_name(code: int) -> str:
    """Name of a TFLite builtin operator code (e.g. 3 -> 'CONV_2D')."""
    return OP_NAMES.get(code, f"BUILTIN_{code}")
