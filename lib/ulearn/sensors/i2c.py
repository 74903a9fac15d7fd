"""The I2C bus the Adafruit drivers expect, on MicroPython's `machine.I2C`, and `open_i2c(profile)`.

CircuitPython's `busio.I2C` is used as it is. On MicroPython, `BusIO(machine.I2C(...))` gives the
few methods the drivers and `adafruit_bus_device.i2c_device.I2CDevice` call: `try_lock`, `unlock`,
`scan`, `writeto`, `readfrom_into` and `writeto_then_readfrom` with CircuitPython's keyword
`start`/`end` slices. A whole buffer passes through without a copy; a slice costs one memoryview.
"""


class BusIO:
    """A `busio.I2C`-like bus over a MicroPython `machine.I2C` object (`i2c`)."""

    def __init__(self, i2c):
        self.i2c = i2c
        self._locked = False

    def try_lock(self):
        """Take the bus lock; True when taken (one user at a time, like busio)."""
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        """Release the bus lock."""
        self._locked = False

    def scan(self):
        """7-bit addresses that ACK (list of int)."""
        return self.i2c.scan()

    def writeto(self, address, buffer, *, start=0, end=None, stop=True):
        """Write buffer[start:end] (bytes) to the device at `address`; an empty write probes it."""
        self.i2c.writeto(address, _part(buffer, start, end), stop)

    def readfrom_into(self, address, buffer, *, start=0, end=None, stop=True):
        """Read len(buffer[start:end]) bytes from the device at `address` into that part of `buffer`."""
        self.i2c.readfrom_into(address, _part(buffer, start, end), stop)

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *, out_start=0, out_end=None,
                              in_start=0, in_end=None):
        """Write buffer_out[out_start:out_end], repeated start, read into buffer_in[in_start:in_end].

        A one-byte write (a register address) uses `readfrom_mem_into`: one transaction, no copy.
        """
        if out_end is None:
            out_end = len(buffer_out)
        part = _part(buffer_in, in_start, in_end)
        if out_end - out_start == 1:
            self.i2c.readfrom_mem_into(address, buffer_out[out_start], part)
        else:
            self.i2c.writeto(address, _part(buffer_out, out_start, out_end), False)
            self.i2c.readfrom_into(address, part)

    def deinit(self):
        """Nothing to release (the machine.I2C object belongs to the caller)."""


def _part(buf, start, end):
    if end is None:
        end = len(buf)
    if start == 0 and end == len(buf):
        return buf
    return memoryview(buf)[start:end]


def as_busio(i2c):
    """`i2c` if it is already busio-like (CircuitPython, or a BusIO), else `BusIO(i2c)` (machine.I2C)."""
    if hasattr(i2c, "try_lock"):
        return i2c
    return BusIO(i2c)


def open_i2c(profile):
    """The I2C bus described by a board profile (dict from `boards/<name>.json`), busio-like.

    `profile["i2c"]`: `{"id": 0, "scl": 5, "sda": 4, "freq": 400000}` on MicroPython (pin numbers
    or names given to `machine.Pin`), `{"scl": "SCL", "sda": "SDA"}` (names in `board`) on
    CircuitPython, or `{"sim": "lis3dh", "recording": "rec.ulg"}` for the virtual board (needs
    device/sim on the path; with runtime "circuitpython" the bus is then opened through `busio`).
    """
    cfg = profile.get("i2c") or {}
    freq = cfg.get("freq", 400000)
    if cfg.get("sim"):
        import virtual_sensors
        i2c = virtual_sensors.setup(profile)   # also puts the chip on the bus busio.I2C uses
        if profile.get("runtime") != "circuitpython":
            return as_busio(i2c)
    if profile.get("runtime") == "circuitpython":
        import board
        import busio
        return busio.I2C(getattr(board, cfg.get("scl", "SCL")), getattr(board, cfg.get("sda", "SDA")),
                         frequency=freq)
    import machine
    if "scl" in cfg:
        i2c = machine.I2C(cfg.get("id", 0), scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]),
                          freq=freq)
    else:
        i2c = machine.I2C(cfg.get("id", 0), freq=freq)
    return BusIO(i2c)
