"""Typed stubs of ulearn.blob (the model-blob format and reader)."""

from typing import Any

MAGIC: bytes
FORMAT_VERSION: int
HEADER_SIZE: int
SECTION_ENTRY_SIZE: int
HEADER_FORMAT: str
SECTION_FORMAT: str
MAX_SECTIONS: int
KIND_CNN: int
KIND_LINEAR_SVM: int
KIND_RBF_SVM: int
KIND_ONECLASS_SVM: int
KIND_FEATURE_SPEC: int
KIND_NAMES: dict[int, str]
TAG_META: bytes
TAG_FEATURES: bytes

class BlobError(ValueError): ...

class Blob:
    version: int
    kind: int
    kind_name: str
    nbytes: int
    def __init__(self, buf: bytes | bytearray | memoryview) -> None: ...
    def has(self, tag: bytes) -> bool: ...
    def section(self, tag: bytes, required: bool = ...) -> memoryview | None: ...
    def span(self, tag: bytes) -> tuple[memoryview, int, int]: ...
    def json(self, tag: bytes) -> Any: ...
    def meta(self) -> dict[str, Any]: ...
    def tags(self) -> list[bytes]: ...

def file_kind(path: str) -> int | None: ...
def find(buf: bytes | bytearray | memoryview) -> memoryview: ...
