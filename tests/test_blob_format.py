"""The one blob writer (host) against the one blob reader (device), in CPython and in MicroPython."""

from __future__ import annotations

import json
import struct

import pytest
from ulearn import blob as fmt
from ulearn_host import unixport
from ulearn_host.blob import load_blob_bytes, save_model, write_blob
from ulearn_host.errors import UlearnError

SECTIONS = {b"WGHT": bytes(range(256)) * 3, b"BIAS": struct.pack("<4i", 1, -2, 3, -4), b"ODD_": b"xyz"}
META = {"name": "round-trip", "shape": [128, 3], "classes": ["off", "on"]}

READ_ON_DEVICE = """
import ulearn, json
from ulearn.blob import Blob, BlobError
try:
    b = Blob(ulearn.read_blob({path!r}))
    print(json.dumps({{"kind": b.kind, "meta": b.meta(), "tags": sorted(t.decode() for t in b.tags()),
                      "wght": bytes(b.section(b"WGHT")).hex(), "odd": bytes(b.section(b"ODD_")).hex()}}))
except BlobError as e:
    print("BlobError:", e)
"""


def device_read(path, compiled=False) -> str:
    # 64 KB is enough for the compiled package; compiling the sources on the device peaks ~40 KB higher.
    heap = "64k" if compiled else "128k"
    return unixport.run(READ_ON_DEVICE.format(path=str(path)), compiled=compiled, heap=heap).stdout.strip()


def test_round_trip_in_cpython():
    blob = write_blob(fmt.KIND_CNN, META, SECTIONS)
    b = fmt.Blob(blob)
    assert b.kind == fmt.KIND_CNN and b.meta() == META
    for tag, data in SECTIONS.items():
        assert bytes(b.section(tag)) == data
        assert (b.section(tag).obj is not None)  # a view into the blob, not a copy
    assert len(blob) % 4 == 0


@pytest.mark.parametrize("suffix", [".mpy", ".py", ".ulb"])
@pytest.mark.parametrize("compiled", [False, True])
def test_round_trip_through_micropython(tmp_path, suffix, compiled):
    out = save_model(write_blob(fmt.KIND_RBF_SVM, META, SECTIONS), tmp_path / f"model{suffix}")
    got = json.loads(device_read(out, compiled))
    assert got["kind"] == fmt.KIND_RBF_SVM and got["meta"] == META
    assert got["tags"] == sorted(t.decode() for t in [*SECTIONS, fmt.TAG_META])
    assert bytes.fromhex(got["wght"]) == SECTIONS[b"WGHT"] and bytes.fromhex(got["odd"]) == b"xyz"
    assert load_blob_bytes(out) == write_blob(fmt.KIND_RBF_SVM, META, SECTIONS)


def _corrupt(kind: str) -> bytes:
    blob = bytearray(write_blob(fmt.KIND_CNN, META, SECTIONS))
    if kind == "truncated":
        return bytes(blob[: len(blob) // 2])
    if kind == "header-only":
        return bytes(blob[:10])
    if kind == "flipped":
        blob[len(blob) // 2] ^= 0x40
        return bytes(blob)
    if kind == "newer":
        struct.pack_into("<H", blob, 4, fmt.FORMAT_VERSION + 1)
        return bytes(blob)
    if kind == "magic":
        blob[0:4] = b"NOPE"
        return bytes(blob)
    if kind == "kind":
        struct.pack_into("<H", blob, 6, 99)
        return bytes(blob)
    raise ValueError(kind)


@pytest.mark.parametrize("kind,message", [
    ("truncated", "truncated"), ("header-only", "truncated"), ("flipped", "CRC32"),
    ("newer", "newer than this ulearn"), ("magic", "not a ulearn model blob"), ("kind", "unknown"),
])
def test_bad_blobs_are_refused_with_a_reason(tmp_path, kind, message):
    path = tmp_path / "bad.ulb"
    path.write_bytes(_corrupt(kind))
    with pytest.raises(fmt.BlobError, match=message):
        fmt.Blob(path.read_bytes())
    out = device_read(path)
    assert out.startswith("BlobError:") and message in out, out


def test_wrong_mpy_version_is_a_blob_error(tmp_path):
    path = tmp_path / "old.mpy"
    path.write_bytes(b"M\x05\x00\x1f" + bytes(40))  # an mpy v5 header
    out = device_read(path)
    assert out.startswith("BlobError:") and "incompatible .mpy" in out and "export the model again" in out


def test_writer_refuses_what_the_reader_would():
    with pytest.raises(ValueError):
        write_blob(77, {}, {})
    with pytest.raises(ValueError):
        write_blob(fmt.KIND_CNN, {}, {b"TOOLONG": b""})
    with pytest.raises(UlearnError, match="no valid ulearn model blob"):
        import tempfile
        from pathlib import Path
        p = Path(tempfile.mkdtemp()) / "x.ulb"
        p.write_bytes(b"garbage")
        load_blob_bytes(p)
