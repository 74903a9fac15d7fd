"""Save a model trained on the device: the blob layout of ``ulearn.blob``, written aside and renamed.

The layout is the one ``ulearn_host.blob.write_blob`` produces (header, table, 4-byte aligned
sections, CRC32; tests/test_svm_export.py reads a device-saved blob on the host and compares the
sections); it is streamed section by section, so saving needs no copy of the model in RAM.
A failed write (flash full, removed card) deletes the temporary file and raises SaveError; the
model already at `path` is untouched, because it is only replaced by a rename after a complete,
flushed write. On FAT, where rename cannot replace a file, the old file is removed just before the
rename; load() then recovers `path + ".tmp"` if power was lost in between.
"""

import json
import os
import struct

from ulearn.blob import FORMAT_VERSION, HEADER_FORMAT, HEADER_SIZE, MAGIC, SECTION_ENTRY_SIZE, SECTION_FORMAT, TAG_META

try:
    from binascii import crc32
except ImportError:  # very small ports
    crc32 = None


class SaveError(OSError):
    """The model could not be saved; the message says why and that the previous model is intact."""


def _pad(n):
    return (4 - n % 4) % 4


def write(path, kind, meta, sections):
    """Write a blob of `kind` to `path` atomically; `sections` is a list of (tag, buffer, itemsize).

    `meta` (a dict) becomes the META section. Returns the number of bytes written.
    """
    m = json.dumps(meta).encode()
    all_secs = [(TAG_META, m, len(m))]
    for tag, buf, size in sections:
        all_secs.append((tag, buf, len(buf) * size))
    nsec = len(all_secs)
    table = bytearray(nsec * SECTION_ENTRY_SIZE)
    offset = nsec * SECTION_ENTRY_SIZE
    offset += _pad(offset)
    first = offset
    for i in range(nsec):
        tag, buf, n = all_secs[i]
        struct.pack_into(SECTION_FORMAT, table, i * SECTION_ENTRY_SIZE, tag, offset, n)
        offset += n + _pad(n)
    plen = offset
    gap = bytes(first - len(table))
    crc = 0
    if crc32 is not None:
        crc = crc32(table)
        crc = crc32(gap, crc)
        for tag, buf, n in all_secs:
            crc = crc32(buf, crc)
            crc = crc32(bytes(_pad(n)), crc)
        crc &= 0xFFFFFFFF
    header = struct.pack(HEADER_FORMAT, MAGIC, FORMAT_VERSION, kind, nsec, HEADER_SIZE, plen, crc, 0)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(table)
            f.write(gap)
            for tag, buf, n in all_secs:
                f.write(buf)
                f.write(bytes(_pad(n)))
            f.flush()
        _replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise SaveError("saving the model to %s failed (%s: flash full?); the model saved there before "
                        "is unchanged: free some space and save again" % (path, e))
    if hasattr(os, "sync"):
        os.sync()
    return HEADER_SIZE + plen


def _replace(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)       # FAT: rename does not replace; see module docstring
        os.rename(tmp, path)


def recover(path):
    """If `path` is missing but a complete `path.tmp` exists (power lost mid-replace), rename it back."""
    try:
        os.stat(path)
        return False
    except OSError:
        pass
    try:
        with open(path + ".tmp", "rb") as f:
            from ulearn.blob import Blob
            Blob(f.read())
    except (OSError, ValueError):
        return False
    os.rename(path + ".tmp", path)
    return True
