"""A register-level LIS3DH stand-in, fed from a recording, for a fake I2C bus (`machine_i2c_sim`).

It answers like the chip does, so the unchanged Adafruit driver (`adafruit_lis3dh`) runs on it:
WHO_AM_I (0x33, or a wrong id for fault tests), control registers CTRL_REG1..6, auto-increment
reads (sub-address bit 7), STATUS_REG data-ready/overrun, the 32-sample FIFO (bypass, FIFO and
stream modes; stream-to-FIFO behaves as stream because no trigger is simulated) with FIFO_SRC
(watermark, overrun, empty, level) and the burst-read roll-over from OUT_Z_H back to OUT_X_L.
Output data registers are 16-bit little-endian, left-justified: 12 bits in high-resolution mode,
10 bits in normal mode, 8 bits in low-power mode; the sensitivity follows the range (±2/4/8/16 g:
1/2/4/12 mg per 12-bit digit) as in the datasheet.

Samples appear at the output data rate in real time (`time.ticks_us`), or only when the test calls
`advance(us)` (`realtime=False`). Each sample is the recording, linearly interpolated at the
sample's time: a 10 Hz recording is replayed at its recorded speed by a 200 Hz chip.
Not simulated: click/tap and activity interrupts (their registers read 0), the ADC and the
temperature sensor (0), self-test, SPI. Runs under MicroPython and CPython; no allocation per sample.
"""

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    import time as _time

    def ticks_us():
        return _time.monotonic_ns() // 1000

    def ticks_diff(a, b):
        return a - b

WHO_AM_I = 0x33
FIFO_DEPTH = 32

_REG_STATUS_AUX = 0x07
_REG_WHO_AM_I = 0x0F
_REG_CTRL0 = 0x1E
_REG_TEMP_CFG = 0x1F
_REG_CTRL1 = 0x20
_REG_CTRL3 = 0x22
_REG_CTRL4 = 0x23
_REG_CTRL5 = 0x24
_REG_STATUS = 0x27
_REG_OUT_X_L = 0x28
_REG_OUT_Z_H = 0x2D
_REG_FIFO_CTRL = 0x2E
_REG_FIFO_SRC = 0x2F
_REG_INT1_SRC = 0x31
_REG_INT2_SRC = 0x35
_REG_CLICK_SRC = 0x39

# ODR field of CTRL_REG1 -> Hz (normal/high-resolution mode; 8 and 9 are the low-power rates)
_ODR_HZ = (0, 1, 10, 25, 50, 100, 200, 400, 1600, 1344)
_ODR_HZ_LOW_POWER_9 = 5376
# sensitivity in micro-g per 12-bit digit, by CTRL_REG4 FS field
_SENS_UG = (1000, 2000, 4000, 12000)
_CHUNK = 512  # samples per block of a loaded recording

_WRITABLE = set(range(0x1E, 0x27)) | {0x2E, 0x30, 0x32, 0x33, 0x34, 0x36, 0x37, 0x38, 0x3A,
                                      0x3B, 0x3C, 0x3D, 0x3E, 0x3F}


class Recording:
    """Samples to replay: `data` array('h') interleaved (sample-major) in milli-g, or a list of such
    blocks all of the first one's length but the last (see load), `channels`, `rate_hz`.

    Channels 0, 1, 2 feed the x, y, z axes (missing ones read 0 mg). `loop` restarts at the end;
    otherwise the last sample is held and `ended` becomes True.
    """

    def __init__(self, data, channels, rate_hz, loop=True):
        self.chunks = data if isinstance(data, list) else [data]
        self.chunk = len(self.chunks[0]) if self.chunks else 0
        total = sum(len(c) for c in self.chunks)
        if channels < 1 or total < channels or total % channels:
            raise ValueError("recording: data length %d is not a whole number of %d-channel samples"
                             % (total, channels))
        if rate_hz <= 0:
            raise ValueError("recording: rate_hz must be > 0, got %r" % rate_hz)
        self.channels = channels
        self.rate_hz = int(rate_hz)
        self.length = total // channels
        self.loop = loop
        self.ended = False

    @classmethod
    def load(cls, path, loop=True):
        """A recording from a ulearn log file (`ulearn.log`) whose unit is "g" (converted to mg)."""
        from array import array

        from ulearn import log
        reader = log.Reader(path)
        h = reader.header
        if h.unit != "g":
            raise ValueError("%s: recording unit is %r, the LIS3DH stand-in replays 'g'" % (path, h.unit))
        milli = h.scale * 1000
        # blocks of _CHUNK samples, not one array grown by append: a 30 s recording is 36 KB, and on a
        # board whose heap the loaded code has fragmented no single free block that large may exist
        size = _CHUNK * h.channels
        chunks, block, i = [], None, size
        for _, values in reader.records():
            for v in values:
                if i == size:
                    block = array("h", bytes(2 * size))
                    chunks.append(block)
                    i = 0
                block[i] = int(v * milli)
                i += 1
        if i < size:
            chunks[-1] = block[:i]
        return cls(chunks, h.channels, h.rate_hz, loop)

    def value(self, t_us, axis):
        """Milli-g on `axis` at recording time `t_us` (int µs), linearly interpolated."""
        if axis >= self.channels:
            return 0
        num = t_us * self.rate_hz
        i = num // 1000000
        frac = num - i * 1000000
        n = self.length
        if i >= n - 1 and not self.loop:
            self.ended = i >= n
            return self._at((n - 1) * self.channels + axis)
        j = i + 1
        if self.loop:
            i %= n
            j %= n
        a = self._at(i * self.channels + axis)
        b = self._at(j * self.channels + axis)
        return a + (b - a) * frac // 1000000

    def _at(self, k):
        c = self.chunk
        return self.chunks[k // c][k % c]


class LIS3DHSim:
    """The chip: attach it to a `machine_i2c_sim.Bus` at 0x18 (SDO low) or 0x19 (SDO high)."""

    def __init__(self, recording, who_am_i=WHO_AM_I, realtime=True):
        self.recording = recording
        self.who_am_i = who_am_i
        self.realtime = realtime
        self.regs = bytearray(64)
        self.regs[_REG_CTRL0] = 0x10
        self.regs[_REG_CTRL1] = 0x07
        self._fifo = bytearray(FIFO_DEPTH * 6)
        self._head = 0          # index of the oldest FIFO sample
        self._level = 0         # unread FIFO samples
        self._out = bytearray(6)  # latest sample (bypass mode)
        self._sample = bytearray(6)
        self._ptr = 0
        self._inc = False
        self._last = ticks_us()
        self._elapsed = 0       # µs of chip time since start
        self._base_us = 0       # chip time when the current ODR period count started
        self._count = 0         # samples produced since _base_us
        self.samples = 0        # samples produced in total
        self.overruns = 0       # samples lost because nobody read them in time

    # time -----------------------------------------------------------------------------------
    def advance(self, us):
        """Move simulated time forward by `us` microseconds (for `realtime=False`)."""
        self._elapsed += us
        self._produce()

    def _tick(self):
        if self.realtime:
            now = ticks_us()
            self._elapsed += ticks_diff(now, self._last)
            self._last = now
        self._produce()

    def odr_hz(self):
        """The output data rate selected in CTRL_REG1 (Hz, 0 = power-down)."""
        odr = self.regs[_REG_CTRL1] >> 4
        if odr == 9 and self.regs[_REG_CTRL1] & 0x08:
            return _ODR_HZ_LOW_POWER_9
        return _ODR_HZ[odr] if odr < len(_ODR_HZ) else 0

    def _produce(self):
        odr = self.odr_hz()
        if not odr:
            self._base_us = self._elapsed
            self._count = 0
            return
        due = (self._elapsed - self._base_us) * odr // 1000000
        skip = due - self._count - FIFO_DEPTH
        if skip > 0:               # long pause: only the newest FIFO_DEPTH samples can matter
            self._count += skip
            self.samples += skip
            self.overruns += skip
        while self._count < due:
            self._count += 1
            self._make(self._base_us + self._count * 1000000 // odr)
        if self._count >= odr:     # re-base every second so the integers stay small
            whole = self._count // odr
            self._base_us += whole * 1000000
            self._count -= whole * odr

    def _make(self, t_us):
        regs = self.regs
        ctrl1 = regs[_REG_CTRL1]
        ctrl4 = regs[_REG_CTRL4]
        sens = _SENS_UG[(ctrl4 >> 4) & 3]
        if ctrl1 & 0x08:
            mask = 0xFF00          # low-power: 8 bits
        elif ctrl4 & 0x08:
            mask = 0xFFF0          # high resolution: 12 bits
        else:
            mask = 0xFFC0          # normal: 10 bits
        s = self._sample
        rec = self.recording
        for axis in range(3):
            v = 0
            if ctrl1 & (1 << axis):
                v = rec.value(t_us, axis) * 16000 // sens
                if v > 32767:
                    v = 32767
                elif v < -32768:
                    v = -32768
                v &= mask
            s[2 * axis] = v & 0xFF
            s[2 * axis + 1] = (v >> 8) & 0xFF
        self.samples += 1
        status = regs[_REG_STATUS]
        if status & 0x08:
            status |= 0x80         # ZYXOR: previous sample not read
        regs[_REG_STATUS] = status | 0x0F
        if not (ctrl4 & 0x80 and self._inc and _REG_OUT_X_L < self._ptr <= _REG_OUT_Z_H):
            for k in range(6):     # block data update holds the outputs during a read
                self._out[k] = s[k]
        mode = self._fifo_mode()
        if mode:
            if self._level == FIFO_DEPTH:
                if mode == 1:      # FIFO mode: stop collecting when full
                    self.overruns += 1
                    return
                self._head = (self._head + 1) % FIFO_DEPTH   # stream: drop the oldest
                self._level -= 1
                self.overruns += 1
            at = ((self._head + self._level) % FIFO_DEPTH) * 6
            f = self._fifo
            for k in range(6):
                f[at + k] = s[k]
            self._level += 1

    def _fifo_mode(self):
        if not self.regs[_REG_CTRL5] & 0x40:
            return 0
        return self.regs[_REG_FIFO_CTRL] >> 6

    # the I2C device interface used by machine_i2c_sim ------------------------------------------
    def i2c_set_register(self, sub):
        """Set the register pointer from a sub-address byte (bit 7: auto-increment)."""
        self._tick()
        self._ptr = sub & 0x7F
        self._inc = bool(sub & 0x80)

    def i2c_write(self, buf, start, end):
        """A write transaction: sub-address byte, then data bytes to consecutive registers."""
        self.i2c_set_register(buf[start])
        for k in range(start + 1, end):
            self._write_reg(self._ptr, buf[k])
            if self._inc:
                self._ptr = (self._ptr + 1) & 0x7F

    def i2c_read_into(self, buf, start, end):
        """A read transaction from the register pointer into buf[start:end]."""
        self._tick()
        for k in range(start, end):
            buf[k] = self._read_reg(self._ptr)
            if self._inc:
                if self._ptr == _REG_OUT_Z_H and self._fifo_mode():
                    self._ptr = _REG_OUT_X_L     # FIFO burst: roll over to the next sample
                else:
                    self._ptr = (self._ptr + 1) & 0x7F

    def _write_reg(self, reg, value):
        if reg not in _WRITABLE:
            return
        if reg == _REG_CTRL1:
            self._produce()        # samples so far at the old rate, then restart the count
            self._base_us = self._elapsed
            self._count = 0
        if reg == _REG_CTRL5:
            value &= 0x7F          # BOOT clears itself
        if reg == _REG_FIFO_CTRL and value >> 6 == 0:
            self._level = 0        # bypass mode empties the FIFO
        self.regs[reg] = value

    def _read_reg(self, reg):
        regs = self.regs
        if reg == _REG_WHO_AM_I:
            return self.who_am_i
        if _REG_OUT_X_L <= reg <= _REG_OUT_Z_H:
            off = reg - _REG_OUT_X_L
            if self._fifo_mode():
                if not self._level:
                    return self._out[off]
                value = self._fifo[self._head * 6 + off]
                if reg == _REG_OUT_Z_H:
                    self._head = (self._head + 1) % FIFO_DEPTH
                    self._level -= 1
                return value
            if reg == _REG_OUT_Z_H:
                regs[_REG_STATUS] = 0
            return self._out[off]
        if reg == _REG_FIFO_SRC:
            level = self._level
            src = level & 0x1F
            if level > regs[_REG_FIFO_CTRL] & 0x1F:
                src |= 0x80
            if level == FIFO_DEPTH:
                src |= 0x40
            if level == 0:
                src |= 0x20
            return src
        if reg in (_REG_INT1_SRC, _REG_INT2_SRC, _REG_CLICK_SRC, _REG_STATUS_AUX):
            return 0
        return regs[reg]

    @property
    def int1(self):
        """Level of the INT1 pin (data-ready, FIFO watermark or overrun, as enabled in CTRL_REG3)."""
        ctrl3 = self.regs[_REG_CTRL3]
        src = self._read_reg(_REG_FIFO_SRC)
        return bool((ctrl3 & 0x10 and self.regs[_REG_STATUS] & 0x08) or (ctrl3 & 0x04 and src & 0x80)
                    or (ctrl3 & 0x02 and src & 0x40))
