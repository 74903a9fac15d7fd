"""A preallocated int16 ring buffer of multi-channel samples, and overlapping windows over it.

Samples are stored interleaved (sample-major: x0 y0 z0 x1 ...), typecode 'h'. Nothing allocates
after construction. Windows come out as T x C row-major int16 arrays, the layout of one row of the
training data X (n, T, C).
"""

from array import array


class Ring:
    """`capacity` samples of `channels` int16 values. `count` = samples written since creation."""

    def __init__(self, capacity, channels):
        if capacity < 1 or channels < 1:
            raise ValueError("Ring: capacity and channels must be >= 1, got %r, %r" % (capacity, channels))
        self.capacity = capacity
        self.channels = channels
        self.buf = array("h", bytes(2 * capacity * channels))
        self.count = 0
        self._w = 0  # write position in values

    def write_le16(self, raw, n):
        """Append `n` samples from `raw` (bytes-like, little-endian int16, interleaved); no allocation."""
        buf = self.buf
        w = self._w
        total = len(buf)
        for i in range(0, 2 * n * self.channels, 2):
            v = raw[i] | (raw[i + 1] << 8)
            if v & 0x8000:
                v -= 0x10000
            buf[w] = v
            w += 1
            if w == total:
                w = 0
        self._w = w
        self.count += n

    def write(self, values, n):
        """Append `n` samples from `values` (int16 array or list, interleaved); no allocation."""
        buf = self.buf
        w = self._w
        total = len(buf)
        for i in range(n * self.channels):
            buf[w] = values[i]
            w += 1
            if w == total:
                w = 0
        self._w = w
        self.count += n

    def oldest(self):
        """Index (in `count` numbering) of the oldest sample still held."""
        return self.count - self.capacity if self.count > self.capacity else 0

    def copy(self, out, start, length):
        """Copy samples start .. start+length-1 (absolute indices) into `out` ('h', length*channels).

        Raises ValueError if they are not all in the ring (overwritten, or not written yet).
        """
        ch = self.channels
        if start < self.oldest() or start + length > self.count:
            raise ValueError("Ring.copy: samples %d..%d are not held (ring has %d..%d)"
                             % (start, start + length - 1, self.oldest(), self.count - 1))
        if len(out) < length * ch:
            raise ValueError("Ring.copy: out holds %d values, need %d" % (len(out), length * ch))
        buf = self.buf
        total = len(buf)
        r = (start % self.capacity) * ch
        for i in range(length * ch):
            out[i] = buf[r]
            r += 1
            if r == total:
                r = 0


class Windows:
    """Windows of `length` samples every `hop` samples (hop = length // 2: 50 % overlap) from a Ring.

        w = Windows(ring, 128, 64)
        if w.ready():
            w.take(x)          # x: array('h', 128 * channels), T x C row-major

    A consumer that falls behind skips to the oldest window still in the ring; `missed` counts the
    windows lost that way.
    """

    def __init__(self, ring, length=128, hop=None):
        if hop is None:
            hop = length // 2
        if length > ring.capacity or hop < 1:
            raise ValueError("Windows: length %d must fit the ring (%d samples) and hop %r must be >= 1"
                             % (length, ring.capacity, hop))
        self.ring = ring
        self.length = length
        self.hop = hop
        self.next = 0
        self.missed = 0

    def ready(self):
        """True when a whole new window is in the ring."""
        return self.ring.count >= self.next + self.length

    def take(self, out):
        """Copy the next window into `out` ('h', length*channels); returns its first sample index.

        Returns -1 (and copies nothing) if no window is ready.
        """
        ring = self.ring
        if ring.count < self.next + self.length:
            return -1
        oldest = ring.oldest()
        if self.next < oldest:
            skip = (oldest - self.next + self.hop - 1) // self.hop
            self.missed += skip
            self.next += skip * self.hop
            if ring.count < self.next + self.length:
                return -1
        start = self.next
        ring.copy(out, start, self.length)
        self.next += self.hop
        return start
