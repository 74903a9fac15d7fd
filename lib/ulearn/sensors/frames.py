"""Binary framing for streaming samples to the host (`ulearn record`): sequence numbers and CRC32.

Every frame, little-endian::

    0   2  sync b"\\xa5\\x5a"
    2   1  type: FRAME_META (JSON), FRAME_DATA (int16 samples), FRAME_END (JSON stats)
    3   1  reserved, 0
    4   2  payload length in bytes
    6   4  frame sequence number (0, 1, 2, ... within one stream)
    10  n  payload (DATA: samples x channels int16, interleaved)
    10+n 4 CRC32 of bytes 2 .. 10+n

The host resynchronises on the sync bytes, drops frames whose CRC does not match and counts gaps
in the sequence numbers as dropped frames. DATA frames are built in a buffer made once; sending
one allocates nothing per sample.
"""

import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from binascii import crc32

SYNC = b"\xa5\x5a"
FRAME_META = const(1)
FRAME_DATA = const(2)
FRAME_END = const(3)
HEADER_SIZE = const(10)
TRAILER_SIZE = const(4)


class FrameWriter:
    """Writes frames to `out` (an object with write(bytes), e.g. sys.stdout.buffer).

    `max_samples` x `channels` int16 values fit one DATA frame.
    """

    def __init__(self, out, channels, max_samples=32):
        self.out = out
        self.channels = channels
        self.max_samples = max_samples
        self.seq = 0
        size = HEADER_SIZE + 2 * max_samples * channels + TRAILER_SIZE
        self.buf = bytearray(size)
        self.buf[0] = 0xA5
        self.buf[1] = 0x5A
        mv = memoryview(self.buf)
        self._crc_views = [mv[2:HEADER_SIZE + 2 * k * channels] for k in range(max_samples + 1)]
        self._frame_views = [mv[:HEADER_SIZE + 2 * k * channels + TRAILER_SIZE] for k in range(max_samples + 1)]

    def data(self, raw, n):
        """Send `n` samples from `raw` (bytes-like int16 little-endian, interleaved) in one DATA frame.

        n <= max_samples. No allocation.
        """
        buf = self.buf
        nbytes = 2 * n * self.channels
        struct.pack_into("<BBHI", buf, 2, FRAME_DATA, 0, nbytes, self.seq)
        for i in range(nbytes):
            buf[HEADER_SIZE + i] = raw[i]
        struct.pack_into("<I", buf, HEADER_SIZE + nbytes, crc32(self._crc_views[n]))
        self.out.write(self._frame_views[n])
        self.seq += 1

    def _text(self, kind, text):
        payload = text.encode()
        head = struct.pack("<BBHI", kind, 0, len(payload), self.seq)
        crc = crc32(payload, crc32(head))
        self.out.write(SYNC + head + payload + struct.pack("<I", crc))
        self.seq += 1

    def meta(self, info):
        """Send a META frame: `info` (dict) as JSON (rate_hz, channels, scale, unit, ...)."""
        import json
        self._text(FRAME_META, json.dumps(info))

    def end(self, stats):
        """Send the END frame: `stats` (dict) as JSON; the host stops reading after it."""
        import json
        self._text(FRAME_END, json.dumps(stats))
