"""CircuitPython's `digitalio` module name for tests (the LIS3DH driver imports it for its INT pins).

Not part of ulearn; see busio.py in this folder. A `DigitalInOut` input can follow a callable
(e.g. `lambda: sim.int1`) so interrupt pins of simulated chips read their real level.
"""


class Direction:
    INPUT = 0
    OUTPUT = 1


class Pull:
    UP = 1
    DOWN = 2


class DigitalInOut:
    """A pin: `direction`, `pull`, `value`; `source` (callable) drives an input's value."""

    def __init__(self, pin, source=None):
        self.pin = pin
        self.direction = Direction.INPUT
        self.pull = None
        self.source = source
        self._value = False

    @property
    def value(self):
        if self.direction == Direction.INPUT and self.source is not None:
            return bool(self.source())
        return self._value

    @value.setter
    def value(self, v):
        self._value = bool(v)

    def deinit(self):
        pass
