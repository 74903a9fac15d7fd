"""The model-blob format: the one definition of what the bytes mean, and its reader.

A blob is a header, a section table and section data, all little-endian::

    offset size  field
    0      4     magic  b"ULRN"
    4      2     format version (FORMAT_VERSION)
    6      2     kind (KIND_*)
    8      2     number of sections
    10     2     header length in bytes (HEADER_SIZE)
    12     4     payload length in bytes (everything after the header)
    16     4     CRC32 of the payload
    20     4     reserved, 0
    24     12*n  section table: tag (4 ASCII bytes), offset from payload start (u32), length (u32)
    ...          section data, each section starting on a 4-byte boundary

Section ``META`` (JSON, UTF-8) exists in every blob. Each model kind defines its other
sections in its own module (``ulearn/nn``, ``ulearn/svm``); ``FEAT`` holds a feature spec.
The host writer (``ulearn_host.blob``) imports these constants; nothing else reads the bytes.
This module runs under MicroPython, CircuitPython and CPython.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

try:
    from binascii import crc32
except ImportError:  # very small ports
    crc32 = None

MAGIC = b"ULRN"
FORMAT_VERSION = const(1)
HEADER_SIZE = const(24)
SECTION_ENTRY_SIZE = const(12)
HEADER_FORMAT = "<4sHHHHIII"
SECTION_FORMAT = "<4sII"
MAX_SECTIONS = const(64)

KIND_CNN = const(1)
KIND_LINEAR_SVM = const(2)
KIND_RBF_SVM = const(3)
KIND_ONECLASS_SVM = const(4)
KIND_FEATURE_SPEC = const(5)

KIND_NAMES = {
    KIND_CNN: "cnn",
    KIND_LINEAR_SVM: "linear-svm",
    KIND_RBF_SVM: "rbf-svm",
    KIND_ONECLASS_SVM: "oneclass-svm",
    KIND_FEATURE_SPEC: "feature-spec",
}

TAG_META = b"META"
TAG_FEATURES = b"FEAT"


class BlobError(ValueError):
    """A blob that cannot be used: the message says what is wrong and what to do."""


def _check(ok, message):
    if not ok:
        raise BlobError(message)


class Blob:
    """A validated view of a model blob held in a bytes-like object (no copies).

    All checks happen here, before any model allocates anything: magic, version,
    lengths of the header, table and every section, and the payload CRC32.
    """

    def __init__(self, buf):
        mv = memoryview(buf)
        n = len(mv)
        _check(n >= HEADER_SIZE, "model blob truncated: %d bytes, the header alone needs %d; "
               "export it again" % (n, HEADER_SIZE))
        magic, version, kind, nsec, hlen, plen, crc, _ = struct.unpack_from(HEADER_FORMAT, mv, 0)
        _check(magic == MAGIC, "not a ulearn model blob (magic %r, expected %r)" % (bytes(magic), MAGIC))
        _check(version <= FORMAT_VERSION, "model blob format version %d is newer than this ulearn "
               "reads (%d): update ulearn on the board (ulearn push)" % (version, FORMAT_VERSION))
        _check(version >= 1 and hlen == HEADER_SIZE, "model blob header is corrupt (version %d, "
               "header length %d)" % (version, hlen))
        _check(kind in KIND_NAMES, "model blob kind %d is unknown to this ulearn: update ulearn" % kind)
        _check(nsec <= MAX_SECTIONS, "model blob claims %d sections (at most %d): corrupt" % (nsec, MAX_SECTIONS))
        _check(n >= HEADER_SIZE + plen, "model blob truncated: %d of %d bytes present; copy it "
               "again" % (n, HEADER_SIZE + plen))
        _check(plen >= nsec * SECTION_ENTRY_SIZE, "model blob section table does not fit its payload")
        payload = mv[HEADER_SIZE:HEADER_SIZE + plen]
        if crc32 is not None:
            got = crc32(payload) & 0xFFFFFFFF
            _check(got == crc, "model blob is corrupt: CRC32 %08x, expected %08x; copy it again" % (got, crc))
        self.version = version
        self.kind = kind
        self.kind_name = KIND_NAMES[kind]
        self.nbytes = HEADER_SIZE + plen
        self._payload = payload
        self._table = {}
        for i in range(nsec):
            tag, off, length = struct.unpack_from(SECTION_FORMAT, payload, i * SECTION_ENTRY_SIZE)
            _check(off + length <= plen and off >= nsec * SECTION_ENTRY_SIZE,
                   "model blob section %r lies outside the payload: corrupt" % bytes(tag))
            self._table[bytes(tag)] = (off, length)
        _check(TAG_META in self._table, "model blob has no META section: corrupt")

    def has(self, tag):
        """True when the blob holds section `tag` (4 bytes)."""
        return tag in self._table

    def section(self, tag, required=True):
        """The bytes of section `tag` as a memoryview (zero-copy), or None if absent and not required."""
        entry = self._table.get(tag)
        if entry is None:
            _check(not required, "%s model blob has no %r section: re-export it with this ulearn"
                   % (self.kind_name, tag))
            return None
        off, length = entry
        return self._payload[off:off + length]

    def span(self, tag):
        """(payload, offset, length): section `tag` as a place in the whole payload (a memoryview), for
        readers that address several sections in one buffer (the CNN runtime's in-place weights)."""
        off, length = self._table[tag]
        return self._payload, off, length

    def json(self, tag):
        """Section `tag` decoded as JSON (used for META and FEAT)."""
        import json
        return json.loads(bytes(self.section(tag)).decode())

    def meta(self):
        """The META section as a dict (model name, shapes, classes, ...)."""
        return self.json(TAG_META)

    def tags(self):
        """The section tags present, in no particular order."""
        return list(self._table.keys())


def file_kind(path):
    """The kind (KIND_*) a raw blob file declares in its header, or None if it is not a raw blob.

    Reads only the header (no validation): loaders use it to pick a reader before allocating.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_SIZE)
    except OSError:
        return None
    if len(head) < HEADER_SIZE:
        return None
    magic, _, kind = struct.unpack_from("<4sHH", head, 0)
    return kind if magic == MAGIC else None


def find(buf):
    """Locate a blob inside a larger buffer (e.g. the bytes of a compiled `.mpy` module).

    Returns a memoryview of exactly the blob, validated, or raises BlobError.
    """
    data = bytes(buf)
    start = data.find(MAGIC)
    while start >= 0:
        try:
            blob = Blob(memoryview(data)[start:])
            return memoryview(data)[start:start + blob.nbytes]
        except BlobError:
            start = data.find(MAGIC, start + 1)
    raise BlobError("no valid ulearn model blob found in this file")
