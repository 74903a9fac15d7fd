"""TFLite Micro (`tflite_micro.runtime.Interpreter`, reference kernels) as the bit-exact int8 reference.

Never the default LiteRT resolver: its optimized kernels are off by one on some int8 outputs.
"""

from __future__ import annotations

import numpy as np

from ..errors import UlearnError
from .schema import fb

_ARENA_MIN = 512 * 1024


class MicroReference:
    """One `.tflite` model loaded into TFLite Micro; `run` maps int8 inputs to int8 outputs.

    Inputs and outputs use the IR shapes (no batch dimension); the batch of 1 is added here.
    """

    def __init__(self, tflite: bytes, preserve_all_tensors: bool = False) -> None:
        from tflite_micro.python.tflite_micro import runtime
        config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
                  else runtime.InterpreterConfig.kAllocationRecording)
        try:
            self._interp = runtime.Interpreter.from_bytes(bytes(tflite), arena_size=max(_ARENA_MIN,
                                                          10 * len(tflite)), intrepreter_config=config)
        except RuntimeError as e:
            raise UlearnError(f"TFLite Micro refused the model: {e}") from None
        details = self._interp.get_input_details(0)
        self.input_shape = tuple(int(s) for s in details["shape"])
        self.input_dtype = details["dtype"]
        self.output_shape = tuple(int(s) for s in self._interp.get_output_details(0)["shape"])
        self.preserve_all_tensors = preserve_all_tensors
        model = fb.Model.GetRootAs(bytes(tflite), 0)
        sg = model.Subgraphs(0)
        self.op_outputs = [int(sg.Operators(i).Outputs(0)) for i in range(sg.OperatorsLength())]

    def run(self, x: np.ndarray) -> np.ndarray:
        """One inference: `x` int8 of the model's input shape (without batch) -> int8 output (flat)."""
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise UlearnError(f"TFLite Micro reference takes int8 inputs, got {x.dtype}")
        if x.size != int(np.prod(self.input_shape)):
            raise UlearnError(f"input has {x.size} values, the .tflite model takes {self.input_shape}")
        self._interp.set_input(x.reshape(self.input_shape), 0)
        self._interp.invoke()
        return np.array(self._interp.get_output(0)).reshape(-1)

    def run_batch(self, X: np.ndarray) -> np.ndarray:
        """Inference over the first axis of `X` (int8): returns (n, outputs) int8."""
        return np.stack([self.run(x) for x in X]) if len(X) else np.zeros((0, 0), np.int8)

    def run_trace(self, x: np.ndarray) -> list[np.ndarray]:
        """One inference; returns every operator's output (flat int8), in operator order.

        Needs preserve_all_tensors=True (otherwise TFLite Micro reuses intermediate buffers)."""
        if not self.preserve_all_tensors:
            raise UlearnError("run_trace needs MicroReference(..., preserve_all_tensors=True)")
        self.run(x)
        return [self.tensor(i).reshape(-1) for i in self.op_outputs]

    def tensor(self, index: int) -> np.ndarray:
        """The values of tensor `index` after the last run (needs preserve_all_tensors=True)."""
        t = self._interp.GetTensor(index, 0)
        return np.array(t["tensor_data"] if isinstance(t, dict) else t)
