"""CircuitPython's `board` module name for tests: pin names and `board.I2C()` on the simulated bus.

Not part of ulearn; see busio.py in this folder.
"""

import busio


class Pin:
    """A named pin (only its name matters on the simulated bus)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "board.%s" % self.name


SCL = Pin("SCL")
SDA = Pin("SDA")
D5 = Pin("D5")
D6 = Pin("D6")
LIS3DH_INT = Pin("LIS3DH_INT")

_i2c = None


def I2C():
    """The board's default I2C bus (a singleton), like CircuitPython's `board.I2C()`."""
    global _i2c
    if _i2c is None or _i2c._deinited:
        _i2c = busio.I2C(SCL, SDA)
    return _i2c


STEMMA_I2C = I2C
