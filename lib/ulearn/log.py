"""A crash-safe append-only sample log on flash: fixed-size records, sequence numbers, CRC32.

Files live in one folder, `log00001.ulg`, `log00002.ulg`, ... Each file starts with a header::

    offset size  field                       (little-endian)
    0      4     magic b"ULOG"
    4      2     format version (FORMAT_VERSION)
    6      2     header size (HEADER_SIZE)
    8      2     record size in bytes
    10     2     samples per record
    12     1     channels (axes)
    13     1     typecode of a value: ord("h") (int16)
    14     2     reserved, 0
    16     4     sample rate in milli-hertz
    20     4     scale: one count is `scale` `unit` (float32)
    24     4     unit, ASCII, NUL-padded (e.g. "g")
    28     4     file number
    32     4     CRC32 of bytes 0..31

then records of `record size` bytes::

    0      2     marker 0x4C52
    2      2     samples used in this record (the last record written by close() may be partial)
    4      4     sequence number (counts records across files, from 0)
    8      2*S*C samples, int16 little-endian, interleaved
    -4     4     CRC32 of the record's bytes before it

The writer fills records in RAM and writes `records_per_block` of them with one write + flush, so
a power cut loses at most the block being filled (and the one being written, which the reader then
finds torn). After a restart the writer opens a new file and continues the sequence; it never
appends behind a torn tail. A file is closed and the next one opened before it would exceed
`max_file_bytes`. When the flash is full the writer raises LogFull and stops; what it wrote stays
readable. The reader checks every record, skips a corrupt one (and reports it) and reports a torn
tail. Runs under MicroPython, CircuitPython and CPython (the host decodes logs with this module).
"""

import os
import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from binascii import crc32

MAGIC = b"ULOG"
FORMAT_VERSION = const(1)
HEADER_SIZE = const(36)
HEADER_FORMAT = "<4sHHHHBBHIf4sII"
RECORD_MARKER = const(0x4C52)
RECORD_OVERHEAD = const(12)
_ENOSPC = const(28)
_PREFIX = "log"
_BIG_ENDIAN = struct.pack("h", 1)[0] == 0
_SUFFIX = ".ulg"


class LogFull(OSError):
    """The flash is full: logging stopped; everything written before stays readable."""


class LogError(ValueError):
    """A log file cannot be read (not a log, unknown version, damaged header); says what to do."""


def file_name(number):
    """File name of log file `number` (int): log00001.ulg ..."""
    return "%s%05d%s" % (_PREFIX, number, _SUFFIX)


def list_files(folder):
    """(number, path) of the log files in `folder`, oldest first."""
    out = []
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for name in names:
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
            digits = name[len(_PREFIX):-len(_SUFFIX)]
            if digits.isdigit():
                out.append((int(digits), folder + "/" + name))
    out.sort()
    return out


class Header:
    """A log file header: rate_hz (float), channels, samples_per_record, record_size, scale, unit, number."""

    def __init__(self, rate_hz, channels, scale, unit, samples_per_record, number=1):
        self.rate_hz = rate_hz
        self.channels = channels
        self.scale = scale
        self.unit = unit
        self.samples_per_record = samples_per_record
        self.record_size = RECORD_OVERHEAD + 2 * samples_per_record * channels
        self.number = number

    def pack(self):
        """The header as HEADER_SIZE bytes."""
        unit = self.unit.encode()
        if len(unit) > 4:
            raise ValueError("log: unit %r is longer than 4 ASCII characters" % self.unit)
        body = struct.pack(HEADER_FORMAT[:-1], MAGIC, FORMAT_VERSION, HEADER_SIZE, self.record_size,
                           self.samples_per_record, self.channels, ord("h"), 0,
                           int(self.rate_hz * 1000 + 0.5), self.scale, unit + bytes(4 - len(unit)),
                           self.number)
        return body + struct.pack("<I", crc32(body))

    @classmethod
    def unpack(cls, data, where="log"):
        """Parse and check a header (bytes); raises LogError naming what is wrong."""
        if len(data) < HEADER_SIZE:
            raise LogError("%s: %d bytes, too short for a log header (%d): not a ulearn log, or empty"
                           % (where, len(data), HEADER_SIZE))
        if data[:4] != MAGIC:
            raise LogError("%s: does not start with %r: not a ulearn log file" % (where, MAGIC))
        (_, version, hsize, rsize, spr, channels, typecode, _, rate_mhz, scale, unit, number,
         crc) = struct.unpack(HEADER_FORMAT, data[:HEADER_SIZE])
        if version != FORMAT_VERSION or hsize != HEADER_SIZE:
            raise LogError("%s: log format version %d (header %d bytes); this reader knows version %d: "
                           "update ulearn" % (where, version, hsize, FORMAT_VERSION))
        if crc32(data[:HEADER_SIZE - 4]) != crc:
            raise LogError("%s: header CRC mismatch: the header is damaged, the file cannot be decoded"
                           % where)
        if typecode != ord("h") or not channels or not spr or rsize != RECORD_OVERHEAD + 2 * spr * channels:
            raise LogError("%s: inconsistent header (typecode %d, %d channels, %d samples per record, "
                           "record %d bytes)" % (where, typecode, channels, spr, rsize))
        end = 0
        while end < 4 and unit[end]:
            end += 1
        return cls(rate_mhz / 1000, channels, scale, unit[:end].decode(), spr, number)


class Writer:
    """Append int16 samples to the log in `folder` (created if missing).

    rate_hz (number), channels (int), scale (float, unit per count), unit (str, <= 4 ASCII).
    samples_per_record * channels int16 values make a record; records_per_block records are
    written and flushed together (a power cut loses at most that much). max_file_bytes: rotate
    before a file would exceed it. max_files: delete the oldest file beyond that many (None: keep
    all, stop when the flash is full). The block buffer is allocated once; `append` does not
    allocate per sample.
    """

    def __init__(self, folder, rate_hz, channels, scale=1.0, unit="", samples_per_record=32,
                 records_per_block=4, max_file_bytes=256 * 1024, max_files=None):
        self.folder = folder
        self.header = Header(rate_hz, channels, scale, unit, samples_per_record)
        rs = self.header.record_size
        if max_file_bytes < HEADER_SIZE + rs * records_per_block:
            raise ValueError("log: max_file_bytes %d is smaller than a header and one block (%d)"
                             % (max_file_bytes, HEADER_SIZE + rs * records_per_block))
        self.records_per_block = records_per_block
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.block = bytearray(rs * records_per_block)
        mv = memoryview(self.block)
        # views made once: the CRC span of each record slot, and the first k records of the block
        self._crc_views = [mv[k * rs:(k + 1) * rs - 4] for k in range(records_per_block)]
        self._block_views = [mv[:k * rs] for k in range(records_per_block + 1)]
        self._rec = 0                 # record being filled, within the block
        self._fill = 0                # values in that record
        self._per_record = samples_per_record * channels
        self.full = False
        self.message = ""
        self.records = 0              # records written to flash
        self._file = None
        self._size = 0
        try:
            os.mkdir(folder)
        except OSError:
            pass
        files = list_files(folder)
        self.number = files[-1][0] if files else 0
        self.seq = 0
        for _, path in reversed(files):   # continue the sequence of the newest readable record
            last = last_sequence(path)
            if last >= 0:
                self.seq = last + 1
                break

    def _open_next(self):
        if self._file is not None:
            self._file.close()
        self.number += 1
        self.header.number = self.number
        path = self.folder + "/" + file_name(self.number)
        self._file = open(path, "wb")
        self._file.write(self.header.pack())
        self._file.flush()
        self._size = HEADER_SIZE
        if self.max_files:
            files = list_files(self.folder)
            while len(files) > self.max_files:
                os.remove(files.pop(0)[1])

    def append(self, raw, n):
        """Append `n` samples from `raw` (bytes-like, int16 little-endian, interleaved).

        Writes and flushes a block each time one fills. Raises LogFull when the flash is full
        (then and on every later call); the data written so far stays readable.
        """
        if self.full:
            raise LogFull(self.message)
        rs = self.header.record_size
        per = self._per_record
        block = self.block
        i = 0
        end = 2 * n * self.header.channels
        while i < end:
            at = self._rec * rs + 8 + 2 * self._fill
            block[at] = raw[i]
            block[at + 1] = raw[i + 1]
            i += 2
            self._fill += 1
            if self._fill == per:
                self._seal()

    def _seal(self):
        # finish the record being filled; write the block when it is complete
        rs = self.header.record_size
        at = self._rec * rs
        struct.pack_into("<HHI", self.block, at, RECORD_MARKER, self._fill // self.header.channels, self.seq)
        struct.pack_into("<I", self.block, at + rs - 4, crc32(self._crc_views[self._rec]))
        self.seq += 1
        self._fill = 0
        self._rec += 1
        if self._rec == self.records_per_block:
            self._write(self.records_per_block)

    def _write(self, nrec):
        nbytes = nrec * self.header.record_size
        try:
            if self._file is None or self._size + nbytes > self.max_file_bytes:
                self._open_next()
            written = self._file.write(self._block_views[nrec])
            self._file.flush()
            if written is not None and written < nbytes:
                raise OSError(_ENOSPC)
        except OSError as e:
            if e.args and e.args[0] == _ENOSPC:
                self.full = True
                self.message = ("flash full: logging stopped after %d records (%d bytes per record); "
                                "the data written so far is readable: copy it off with `ulearn pull-logs` "
                                "and delete old logs" % (self.records, self.header.record_size))
                try:
                    self._file.close()
                except (OSError, AttributeError):
                    pass
                self._file = None
                raise LogFull(self.message)
            raise
        self._size += nbytes
        self.records += nrec
        self._rec = 0

    def flush(self):
        """Write the records completed so far (a partial record stays in RAM until it fills)."""
        if self._rec and not self.full:
            self._write(self._rec)

    def close(self):
        """Seal the partial record (its sample count says how full it is), write everything, close."""
        if self.full:
            return
        if self._fill:
            rs = self.header.record_size
            at = self._rec * rs + 8 + 2 * self._fill
            for k in range(at, (self._rec + 1) * rs - 4):
                self.block[k] = 0
            self._seal()
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


class Reader:
    """Read one log file: `header`, `records()` (seq, array('h')), then `report` (dict).

    report: records (good ones), samples, corrupt (sequence positions skipped: damaged records),
    torn_bytes (an incomplete record at the end: a write cut short), gaps (missing sequence numbers).
    """

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.header = Header.unpack(f.read(HEADER_SIZE), path)
        self.report = {"file": path, "records": 0, "samples": 0, "corrupt": 0, "torn_bytes": 0,
                       "gaps": 0, "first_seq": -1, "last_seq": -1}

    def records(self):
        """Yield (seq, values) for every good record: values is array('h'), samples x channels."""
        from array import array
        h = self.header
        rs = h.record_size
        rep = self.report
        expect = -1
        with open(self.path, "rb") as f:
            f.seek(HEADER_SIZE)
            while True:
                data = f.read(rs)
                if not data:
                    break
                if len(data) < rs:
                    rep["torn_bytes"] = len(data)
                    break
                marker, n, seq = struct.unpack_from("<HHI", data, 0)
                (crc,) = struct.unpack_from("<I", data, rs - 4)
                if marker != RECORD_MARKER or n > h.samples_per_record or crc32(data[:rs - 4]) != crc:
                    rep["corrupt"] += 1
                    if expect >= 0:
                        expect += 1
                    continue
                if expect >= 0 and seq > expect:
                    rep["gaps"] += seq - expect
                expect = seq + 1
                if rep["first_seq"] < 0:
                    rep["first_seq"] = seq
                rep["last_seq"] = seq
                rep["records"] += 1
                rep["samples"] += n
                values = array("h", data[8:8 + 2 * n * h.channels])
                if _BIG_ENDIAN:
                    values.byteswap()
                yield seq, values


def last_sequence(path):
    """The highest sequence number of a good record in the file at `path`, or -1."""
    try:
        reader = Reader(path)
        last = -1
        for seq, _ in reader.records():
            last = seq
        return last
    except (LogError, OSError):
        return -1


def read_all(folder):
    """(header, list of (seq, values), list of per-file reports) for every log file in `folder`."""
    records, reports, header = [], [], None
    for _, path in list_files(folder):
        try:
            reader = Reader(path)
        except LogError as e:
            reports.append({"file": path, "error": str(e)})
            continue
        header = header or reader.header
        for item in reader.records():
            records.append(item)
        reports.append(reader.report)
    return header, records, reports
