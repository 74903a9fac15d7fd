"""Windows with overlap over a preallocated multi-axis ring buffer (no allocation per sample).

    w = Windower(window=128, axes=3, hop=64)    # or Windower.for_spec(spec)
    for each sample:  if w.push(sample): fx.compute(w.buf, out, w.offset())

Every sample is stored twice (slot p and p + T of a 2*T*C 'h' buffer), so the latest T samples are
always contiguous: sample t of the window is at buf[(offset + t)*C + c] -- no copy, no slicing.
"""

from array import array


class Windower:
    """Ring buffer of `window` samples x `axes` int16 values; a window is due every `hop` samples."""

    def __init__(self, window, axes, hop):
        if window < 1 or axes < 1 or not 1 <= hop <= window:
            raise ValueError("Windower: need window >= 1, axes >= 1, 1 <= hop <= window "
                             "(got %d, %d, %d)" % (window, axes, hop))
        self.window = window
        self.axes = axes
        self.hop = hop
        self.buf = array("h", bytes(4 * window * axes))
        self._pos = 0          # slot of the next sample
        self._filled = 0       # samples stored, capped at window
        self._since = 0        # samples since the last window was due

    @classmethod
    def for_spec(cls, spec):
        """A Windower with the window, axes and hop of a FeatureSpec."""
        return cls(spec.window, spec.axes, spec.hop)

    def reset(self):
        """Forget all samples (e.g. after a gap in the stream)."""
        self._pos = 0
        self._filled = 0
        self._since = 0

    def push(self, sample):
        """Append one sample (indexable of `axes` ints, int16 counts); True when a window is due."""
        c_n = self.axes
        a = self._pos * c_n
        b = a + self.window * c_n
        buf = self.buf
        for c in range(c_n):
            v = sample[c]
            buf[a + c] = v
            buf[b + c] = v
        return self._advance()

    def push_from(self, src, start=0):
        """Append one sample read from `src[start:start+axes]` (e.g. a sensor's 'h' buffer)."""
        c_n = self.axes
        a = self._pos * c_n
        b = a + self.window * c_n
        buf = self.buf
        for c in range(c_n):
            v = src[start + c]
            buf[a + c] = v
            buf[b + c] = v
        return self._advance()

    def _advance(self):
        p = self._pos + 1
        self._pos = 0 if p == self.window else p
        if self._filled < self.window:
            self._filled += 1
        self._since += 1
        if self._filled == self.window and self._since >= self.hop:
            self._since = 0
            return True
        return False

    def ready(self):
        """True once `window` samples have been stored."""
        return self._filled == self.window

    def offset(self):
        """Sample offset in `buf` where the latest window starts (oldest sample first)."""
        return self._pos

    def copy_window(self, out):
        """Copy the latest window (T*C int16, oldest first) into `out`."""
        n = self.window * self.axes
        if len(out) < n:
            raise ValueError("out: need %d int16 values, got %d" % (n, len(out)))
        a = self._pos * self.axes
        buf = self.buf
        for i in range(n):
            out[i] = buf[a + i]
        return out
