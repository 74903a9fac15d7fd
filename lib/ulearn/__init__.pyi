"""Typed stubs of the ulearn device API (for editors; not installed on boards)."""

from array import array
from typing import Any, Protocol

__version__: str

class Model(Protocol):
    """What `ulearn.load()` returns: an int8 CNN, an SVM or a feature spec."""

    def predict(self, x: array | memoryview, out: array | None = ...) -> int | float:
        """Run the model on `x` (documented typecode and length); fills `out` if given; returns class or score."""
    def info(self) -> dict[str, Any]:
        """Kind, layers/params, arena bytes, backend ..."""

class TrainableModel(Model, Protocol):
    def partial_fit(self, x: array | memoryview, y: int | None = ...) -> Any:
        """One incremental training step on the device."""
    def save(self, path: str) -> None:
        """Save atomically (written aside, renamed)."""

class _Backend:
    """`ulearn.backend()` names the provider; attributes are the functions of ulearn/backend.py."""

    def __call__(self) -> str: ...
    def __getattr__(self, name: str) -> Any: ...

backend: _Backend

def backend_name() -> str:
    """'native', 'ulab', 'viper' or 'python'."""

def read_blob(path: str) -> bytes:
    """The blob bytes in a model module (.mpy/.py, `BLOB = b"..."`) or a raw blob file."""

def load(path_or_bytes: str | bytes | bytearray | memoryview, **options: Any) -> Any:
    """Load a model; the blob is fully validated before anything is allocated."""
