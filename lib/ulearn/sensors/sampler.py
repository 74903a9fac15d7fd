"""Fixed-rate sampling into a Ring, with the achieved rate and jitter measured.

Two ways to hold the rate without drift:
- `fifo` sensors (LIS3DH stream-mode FIFO): the chip's clock sets the rate; `poll()` empties the
  FIFO in one burst. Poll at least every max_burst / rate_hz seconds (160 ms at 200 Hz) or the
  oldest samples are overwritten (counted in `overruns` by the sensor).
- other sensors: `poll()` reads one sample each time the ticks_us schedule is due. The schedule
  advances by exactly one period per sample (the remainder of 1e6 / rate is carried), so late
  reads do not shift later ones; a slot more than one period late is counted in `missed`.

Timing is in integer microseconds (time.ticks_us on MicroPython; supervisor.ticks_ms on
CircuitPython, millisecond resolution; a monotonic clock on CPython). No allocation per poll.
"""

import time

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_US = const(1000000)

try:
    import supervisor  # CircuitPython: 1 ms ticks
except ImportError:
    supervisor = None

if hasattr(time, "ticks_us"):
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
elif hasattr(supervisor, "ticks_ms"):
    _PERIOD = const(0x100000 * 1000)  # wrapped to stay a small int

    def ticks_us():
        return (supervisor.ticks_ms() & 0xFFFFF) * 1000

    def ticks_diff(a, b):
        return ((a - b + _PERIOD // 2) % _PERIOD) - _PERIOD // 2
else:  # CPython
    def ticks_us():
        return time.monotonic_ns() // 1000

    def ticks_diff(a, b):
        return a - b


class Sampler:
    """Moves samples from `sensor` into `ring` (a Ring with sensor.channels channels)."""

    def __init__(self, sensor, ring):
        if ring.channels != sensor.channels:
            raise ValueError("Sampler: ring has %d channels, sensor gives %d" % (ring.channels, sensor.channels))
        self.sensor = sensor
        self.ring = ring
        self.raw = bytearray(2 * sensor.max_burst * sensor.channels)
        self.rate_hz = sensor.rate_hz
        self._period = _US // sensor.rate_hz
        self._rem = _US % sensor.rate_hz
        self.reset_stats()

    def reset_stats(self):
        """Forget the timing statistics (samples already in the ring stay)."""
        self.samples = 0
        self.missed = 0
        self.polls = 0
        self._t_first = 0
        self._n_first = -1
        self._t_last = 0
        self._n_last = 0
        self._jit_max = 0
        self._jit_sum = 0
        self._jit_n = 0

    def start(self):
        """Start the sensor and the schedule (the first scheduled read is due now)."""
        self.sensor.start()
        self._next = ticks_us()
        self._frac = 0

    def stop(self):
        """Stop the sensor."""
        self.sensor.stop()

    def poll(self):
        """Read what is due (a FIFO burst, or one scheduled sample); returns the number of new samples."""
        now = ticks_us()
        self.polls += 1
        sensor = self.sensor
        if not sensor.fifo:
            late = ticks_diff(now, self._next)
            if late < 0:
                return 0
            self._advance()
            if late >= self._period:     # whole slots passed: skip them, keep the phase
                skip = late // self._period
                self.missed += skip
                for _ in range(skip):
                    self._advance()
        n = sensor.read_into(self.raw)
        if n:
            self.ring.write_le16(self.raw, n)
            self.samples += n
            self._timing(now, n)
        return n

    def _advance(self):
        self._next += self._period
        self._frac += self._rem
        if self._frac >= self.rate_hz:
            self._frac -= self.rate_hz
            self._next += 1

    def _timing(self, now, n):
        if self._n_first < 0:
            self._t_first = now
            self._n_first = self.samples
            return
        # how late the newest sample reached the ring, against the ideal clock of the first one
        due = (self.samples - self._n_first) * _US // self.rate_hz
        jit = ticks_diff(now, self._t_first) - due
        if jit < 0:
            jit = -jit
        if jit > self._jit_max:
            self._jit_max = jit
        self._jit_sum += jit
        self._jit_n += 1
        if self._jit_sum > 0x10000000:   # keep a small int on 32-bit ports (mean of the recent half)
            self._jit_sum >>= 1
            self._jit_n >>= 1
        self._t_last = now
        self._n_last = self.samples

    def run(self, seconds=None, samples=None, idle_ms=2, on_samples=None):
        """Poll until `seconds` (float) have passed or `samples` (int) were taken; returns stats().

        Sleeps `idle_ms` between polls that brought nothing; calls `on_samples(n)` after a read.
        """
        t0 = ticks_us()
        limit_us = int(seconds * _US) if seconds is not None else -1
        while True:
            n = self.poll()
            if n and on_samples is not None:
                on_samples(n)
            if samples is not None and self.samples >= samples:
                break
            if limit_us >= 0 and ticks_diff(ticks_us(), t0) >= limit_us:
                break
            if not n and idle_ms:
                time.sleep_ms(idle_ms) if hasattr(time, "sleep_ms") else time.sleep(idle_ms / 1000)
        return self.stats()

    def stats(self):
        """Timing so far (dict): samples, rate_hz (achieved, float), nominal_hz, rate_error (fraction),
        jitter_us_max / jitter_us_mean (how late samples reached the ring against an ideal clock at
        the nominal rate), missed (schedule slots skipped), overruns (samples the sensor lost)."""
        span = ticks_diff(self._t_last, self._t_first)
        count = self._n_last - self._n_first
        rate = count * 1e6 / span if span > 0 and self._n_first >= 0 else 0.0
        return {"samples": self.samples, "rate_hz": rate, "nominal_hz": self.rate_hz,
                "rate_error": (rate - self.rate_hz) / self.rate_hz if rate else 0.0,
                "jitter_us_max": self._jit_max,
                "jitter_us_mean": self._jit_sum / self._jit_n if self._jit_n else 0.0,
                "missed": self.missed, "overruns": getattr(self.sensor, "overruns", 0),
                "polls": self.polls}
