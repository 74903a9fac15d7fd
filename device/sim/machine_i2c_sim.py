"""A fake I2C bus with the API of MicroPython's `machine.I2C`, for tests and the virtual board.

Simulated devices attach at an address; a transaction to an address with no device raises
`OSError(ENODEV)` like a real bus with no ACK. Faults are injectable::

    bus = Bus()
    bus.attach(0x18, LIS3DHSim(...))
    i2c = I2C(0, bus=bus)              # what `machine.I2C(0, scl=..., sda=...)` would be
    bus.fail(count=2, errno=EIO)       # the next 2 transactions fail mid-transfer

A device implements `i2c_write(buf, start, end)` (first byte: register address) and
`i2c_read_into(buf, start, end)`; reads continue from the register pointer the last write set.
Runs under MicroPython and CPython; allocation-free on the success path.
"""

ENODEV = 19
EIO = 5
ETIMEDOUT = 110


class Bus:
    """The wires: devices by 7-bit address, a transaction counter and fault injection."""

    def __init__(self):
        self.devices = {}
        self.transactions = 0
        self._fail_skip = 0
        self._fail_count = 0
        self._fail_errno = EIO

    def attach(self, address, device):
        """Put `device` on the bus at the 7-bit `address` (int, 0..127)."""
        if not 0 <= address < 128:
            raise ValueError("I2C address must be 0..127, got %r" % address)
        self.devices[address] = device

    def detach(self, address):
        """Remove the device at `address` (it stops ACKing, like an unplugged sensor)."""
        self.devices.pop(address, None)

    def fail(self, count=1, after=0, errno=EIO):
        """Make `count` transactions fail with OSError(errno), starting `after` transactions from now."""
        self._fail_skip = after
        self._fail_count = count
        self._fail_errno = errno

    def _device(self, address):
        self.transactions += 1
        if self._fail_count:
            if self._fail_skip:
                self._fail_skip -= 1
            else:
                self._fail_count -= 1
                raise OSError(self._fail_errno)
        dev = self.devices.get(address)
        if dev is None:
            raise OSError(ENODEV)
        return dev


_default = None


def default_bus():
    """The process-wide bus that `I2C()` and the CircuitPython `busio` shim use when given none."""
    global _default
    if _default is None:
        _default = Bus()
    return _default


def set_default_bus(bus):
    """Replace the process-wide bus (returns it)."""
    global _default
    _default = bus
    return bus


class I2C:
    """`machine.I2C` on a simulated `Bus`. `id`, `scl`, `sda`, `freq` are accepted and recorded."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, bus=None):
        self.id = id
        self.scl = scl
        self.sda = sda
        self.freq = freq
        self.bus = bus if bus is not None else default_bus()

    def scan(self):
        """Addresses that ACK (list of int)."""
        return sorted(self.bus.devices)

    def writeto(self, addr, buf, stop=True):
        """Write `buf` to the device at `addr`; returns the number of ACKed bytes."""
        dev = self.bus._device(addr)
        n = len(buf)
        if n:
            dev.i2c_write(buf, 0, n)
        return n

    def readfrom_into(self, addr, buf, stop=True):
        """Read len(buf) bytes from the device at `addr` into `buf`."""
        self.bus._device(addr).i2c_read_into(buf, 0, len(buf))

    def readfrom(self, addr, nbytes, stop=True):
        """Read `nbytes` bytes; returns a new bytes object."""
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        """Write the 8-bit register address `memaddr`, then read len(buf) bytes into `buf`."""
        dev = self.bus._device(addr)
        dev.i2c_set_register(memaddr)
        dev.i2c_read_into(buf, 0, len(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        """Register read returning a new bytes object."""
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        """Write `buf` to consecutive registers starting at `memaddr`."""
        out = bytearray(1 + len(buf))
        out[0] = memaddr
        out[1:] = buf
        self.writeto(addr, out)
