"""CircuitPython's `busio` module name for tests: `busio.I2C` on the simulated bus (`machine_i2c_sim`).

Not part of ulearn. Tests put this folder on the path so that code written for CircuitPython
(`busio.I2C(board.SCL, board.SDA)`) runs under MicroPython and CPython with CircuitPython's module
names. It keeps CircuitPython's rules that matter to callers: transfers need the lock
(`try_lock()`), `start`/`end` select part of a buffer without copying, a missing device raises
`OSError(19)`.
"""

import machine_i2c_sim


class I2C:
    """`busio.I2C(scl, sda, *, frequency=100000, timeout=255)` on the process-wide simulated bus."""

    def __init__(self, scl, sda, *, frequency=100000, timeout=255, bus=None):
        self.scl = scl
        self.sda = sda
        self.frequency = frequency
        self.bus = bus if bus is not None else machine_i2c_sim.default_bus()
        self._locked = False
        self._deinited = False

    def _check(self):
        if self._deinited:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")
        if not self._locked:
            raise RuntimeError("Function requires lock")

    def try_lock(self):
        """Take the bus lock; True when taken."""
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        """Release the bus lock."""
        self._locked = False

    def scan(self):
        """Addresses that ACK (list of int)."""
        self._check()
        return sorted(self.bus.devices)

    def writeto(self, address, buffer, *, start=0, end=None):
        """Write buffer[start:end] to the device at `address` (an empty write probes it)."""
        self._check()
        if end is None:
            end = len(buffer)
        dev = self.bus._device(address)
        if end > start:
            dev.i2c_write(buffer, start, end)

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        """Read into buffer[start:end] from the device at `address`."""
        self._check()
        if end is None:
            end = len(buffer)
        self.bus._device(address).i2c_read_into(buffer, start, end)

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *, out_start=0, out_end=None,
                              in_start=0, in_end=None):
        """Write buffer_out[out_start:out_end], repeated start, read into buffer_in[in_start:in_end]."""
        self._check()
        if out_end is None:
            out_end = len(buffer_out)
        if in_end is None:
            in_end = len(buffer_in)
        dev = self.bus._device(address)
        if out_end > out_start:
            dev.i2c_write(buffer_out, out_start, out_end)
        dev.i2c_read_into(buffer_in, in_start, in_end)

    def deinit(self):
        """Release the pins; the object can no longer be used."""
        self._deinited = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()
        return False


class SPI:
    """Named so that drivers importing `busio.SPI` for type hints load; SPI is not simulated."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("busio.SPI is not simulated: use the I2C bus (machine_i2c_sim)")
