"""LIS3DH 3-axis accelerometer through the unchanged Adafruit driver, read in FIFO bursts.

    from ulearn.sensors.lis3dh import LIS3DH
    acc = LIS3DH(i2c, address=0x18, range_g=4, rate_hz=200)   # busio.I2C or machine.I2C
    n = acc.read_into(raw)      # 0..32 samples, int16 little-endian x y z (see ulearn.sensors)

`adafruit_lis3dh.LIS3DH_I2C` identifies the chip (WHO_AM_I), resets and configures it (range, data
rate, high-resolution mode, block data update). On top, this class turns on the 32-sample FIFO in
stream mode and empties it with one auto-increment burst read per poll (FIFO_SRC, then OUT_X_L
with bit 7 set; the chip rolls over from OUT_Z_H to OUT_X_L). With `fifo=False` each read takes the
current output registers; the chip then runs at the next data rate above `rate_hz` so every
scheduled read sees a fresh sample.

Counts are 16-bit left-justified 12-bit values (high-resolution mode): `scale` g per count is
1/16000 (±2 g), 2/16000, 4/16000, 12/16000 (±16 g): the datasheet's 1/2/4/12 mg per digit. Transfers that fail with
OSError are retried `retries` times, then raise SensorError.
"""

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from ulearn.sensors import SensorError
from ulearn.sensors.i2c import as_busio

_REG_WHO_AM_I = const(0x0F)
_REG_CTRL5 = const(0x24)
_REG_OUT_X_L = const(0x28)
_REG_FIFO_CTRL = const(0x2E)
_REG_FIFO_SRC = const(0x2F)
_AUTO_INC = const(0x80)
_FIFO_EN = const(0x40)
_FIFO_STREAM = const(0x80)
_FIFO_OVRN = const(0x40)
_FIFO_FSS = const(0x1F)
_FIFO_DEPTH = const(32)
_CHIP_ID = const(0x33)

RATES_HZ = (1, 10, 25, 50, 100, 200, 400)
RANGES_G = (2, 4, 8, 16)
_SCALE_G = (1 / 16000, 2 / 16000, 4 / 16000, 12 / 16000)  # datasheet: 1/2/4/12 mg per 12-bit digit


class _NoPins:
    """Stands in for CircuitPython's `digitalio`, which the driver imports at load time; MicroPython
    has none and this class uses no interrupt pins. Using a pin through it raises AttributeError."""


def _driver():
    try:
        import digitalio  # noqa: F401 - CircuitPython (or a board that provides it)
    except ImportError:
        import sys
        sys.modules["digitalio"] = _NoPins
    import adafruit_lis3dh
    return adafruit_lis3dh


class LIS3DH:
    """A LIS3DH on `i2c` (busio.I2C, or machine.I2C wrapped by BusIO); see the module docstring.

    range_g: 2, 4, 8 or 16. rate_hz: 1, 10, 25, 50, 100, 200 or 400 (samples per second).
    """

    channels = 3
    unit = "g"

    def __init__(self, i2c, address=0x18, range_g=2, rate_hz=200, fifo=True, retries=3):
        if range_g not in RANGES_G:
            raise ValueError("LIS3DH: range_g must be one of %r, got %r" % (RANGES_G, range_g))
        if rate_hz not in RATES_HZ:
            raise ValueError("LIS3DH: rate_hz must be one of %r (Hz), got %r" % (RATES_HZ, rate_hz))
        adafruit_lis3dh = _driver()
        self.bus = as_busio(i2c)
        self.address = address
        self.retries = retries
        self.errors = 0          # failed transfers (each retried)
        self.overruns = 0        # times the FIFO was found full (older samples may be lost)
        self._reg = bytearray(1)
        self._src = bytearray(1)
        try:
            self.driver = adafruit_lis3dh.LIS3DH_I2C(self.bus, address=address)
        except ValueError as e:      # adafruit_bus_device: no ACK at the address
            raise SensorError("no I2C device answers at 0x%02x (%s): check the wiring, power and the "
                              "address (LIS3DH: 0x18 with SDO low, 0x19 with SDO high)" % (address, e))
        except RuntimeError:         # the driver: WHO_AM_I is not 0x33
            raise SensorError("the device at 0x%02x is not a LIS3DH: WHO_AM_I reads 0x%02x, expected "
                              "0x%02x; check the address and the board profile's sensor"
                              % (address, self._read_byte(_REG_WHO_AM_I), _CHIP_ID))
        except OSError as e:
            raise SensorError("LIS3DH at 0x%02x: I2C error while configuring it (%s): check the wiring "
                              "and pull-ups" % (address, e))
        self.range_g = range_g
        self.scale = _SCALE_G[RANGES_G.index(range_g)]
        self.fifo = fifo
        self.max_burst = _FIFO_DEPTH if fifo else 1
        self.rate_hz = rate_hz
        chip_hz = rate_hz
        if not fifo:
            chip_hz = RATES_HZ[min(RATES_HZ.index(rate_hz) + 1, len(RATES_HZ) - 1)]
        self.chip_rate_hz = chip_hz
        self.driver.range = getattr(adafruit_lis3dh, "RANGE_%d_G" % range_g)
        self.driver.data_rate = getattr(adafruit_lis3dh, "DATARATE_%d_HZ" % chip_hz)
        self._out = bytearray(2)
        self._running = False
        self._raw = None
        self._views = None

    # register access through the same bus (the driver keeps its own 6-byte buffer) ------------
    def _transfer(self, reg, buf):
        self._reg[0] = reg
        bus = self.bus
        tries = 0
        while True:
            while not bus.try_lock():
                pass
            try:
                bus.writeto_then_readfrom(self.address, self._reg, buf)
                return
            except OSError as e:
                self.errors += 1
                tries += 1
                if tries > self.retries:
                    raise SensorError("LIS3DH at 0x%02x: I2C read of register 0x%02x failed %d times in a "
                                      "row (%s): check the wiring, pull-ups and bus speed"
                                      % (self.address, reg & 0x7F, tries, e))
            finally:
                bus.unlock()

    def _read_byte(self, reg):
        try:
            self._transfer(reg, self._src)
        except SensorError:
            return -1
        return self._src[0]

    def _write(self, reg, value):
        self._out[0] = reg
        self._out[1] = value
        bus = self.bus
        while not bus.try_lock():
            pass
        try:
            bus.writeto(self.address, self._out)
        finally:
            bus.unlock()

    # the sensor interface (see ulearn.sensors) --------------------------------------------------
    def start(self):
        """Empty and enable the FIFO in stream mode (fifo=True); samples start to collect."""
        if self.fifo:
            self._write(_REG_FIFO_CTRL, 0)                 # bypass: clears the FIFO
            self._transfer(_REG_CTRL5, self._src)
            self._write(_REG_CTRL5, self._src[0] | _FIFO_EN)
            self._write(_REG_FIFO_CTRL, _FIFO_STREAM)
        self._running = True

    def stop(self):
        """Leave stream mode (FIFO bypass); the chip keeps measuring."""
        if self.fifo:
            self._write(_REG_FIFO_CTRL, 0)
        self._running = False

    def read_into(self, raw):
        """Read the waiting samples (FIFO) or the current one into `raw` (bytearray, >= 6 bytes per
        sample, int16 little-endian x y z); returns how many samples. No allocation."""
        if not self.fifo:
            self._transfer(_REG_OUT_X_L | _AUTO_INC, raw)  # raw is exactly 6 bytes here
            return 1
        self._transfer(_REG_FIFO_SRC, self._src)
        src = self._src[0]
        n = src & _FIFO_FSS
        if src & _FIFO_OVRN:
            n = _FIFO_DEPTH
            self.overruns += 1
        if not n:
            return 0
        self._burst(n, raw)
        return n

    def _make_views(self, raw):
        # kept out of _burst: a comprehension there would make a closure cell on every call
        mv = memoryview(raw)
        self._views = [mv[:6 * k] for k in range(_FIFO_DEPTH + 1)]
        self._raw = raw

    def _burst(self, n, raw):
        # one auto-increment read of n samples into a view made once per caller buffer
        if raw is not self._raw:
            self._make_views(raw)
        self._transfer(_REG_OUT_X_L | _AUTO_INC, self._views[n])  # same retries as every register read

    def acceleration_g(self):
        """One reading through the driver, in g (a 3-tuple of floats; allocates, for REPL use)."""
        x, y, z = self.driver.acceleration
        g = 9.806
        return (x / g, y / g, z / g)
