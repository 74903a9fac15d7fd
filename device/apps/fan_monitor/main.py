"""fan_monitor: classify a fan's state from windows of 3-axis acceleration with an int8 CNN.

    from fan_monitor.main import main
    main("fan.mpy", seconds=30)                           # live: the sensor of the board profile
    main("fan.mpy", replay="fan.raw", scale=0.000122)     # replayed samples (int16 LE, interleaved)

Samples go through the sensor layer's Ring and Windows (128 samples, 50 % overlap by default, the
model's input length), each window is quantized to int8 with integers only and classified; every
decision is printed as ``fan_monitor: <state> <confidence>`` and returned as (state, confidence).

Edge quantization: counts -> (count * scale - mean) / std / input_scale + zero point, per channel,
as a Q16 fixed-point affine map (round half up): within 1 LSB of the host's float quantization
(equal except on exact ties). From the int8 window on, the CNN is bit-exact with the host.
"""

import json
from array import array

import ulearn
from ulearn.sensors.ring import Ring, Windows

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_Q = const(16)
_HALF = const(32768)
_CHUNK = const(32)  # samples read per replay step

# (sensor unit, model input unit) -> factor from the first to the second
_UNITS = {("g", "m/s^2"): 9.80665, ("m/s^2", "g"): 1 / 9.80665}


def unit_factor(sensor_unit, model_unit):
    """Factor that turns values in `sensor_unit` into the model's input unit ('' = no conversion)."""
    if not model_unit or not sensor_unit or sensor_unit == model_unit:
        return 1.0
    factor = _UNITS.get((sensor_unit, model_unit))
    if factor is None:
        raise ValueError("the model's input is in %s but the sensor gives %s" % (model_unit, sensor_unit))
    return factor


class Monitor:
    """Windows of int16 counts -> int8 model input -> (class index, confidence)."""

    def __init__(self, model, scale, unit="g"):
        """`model`: a loaded ulearn CNN with input (T, C); `scale`: `unit`s per count (converted to the
        model's input unit, e.g. g -> m/s^2, when the model records one)."""
        info = model.info()
        scale = scale * unit_factor(unit, info.get("input_unit", ""))
        shape = info["input_shape"]
        if len(shape) != 2:
            raise ValueError("fan_monitor needs a model with (T, C) input, this one takes %r" % (shape,))
        self.model = model
        self.length, self.channels = shape
        s, zp = info["input_scale"], info["input_zero_point"]
        mean = info.get("input_mean") or [0.0] * self.channels
        std = info.get("input_std") or [1.0] * self.channels
        self._a = array("i", [int(scale / (std[c] * s) * 65536 + 0.5) for c in range(self.channels)])
        self._b = array("i", [int((zp - mean[c] / (std[c] * s)) * 65536 + (0.5 if zp >= mean[c] else -0.5))
                              for c in range(self.channels)])
        self.x = array("b", bytes(self.length * self.channels))
        self.window = array("h", bytes(2 * self.length * self.channels))

    def quantize(self, window):
        """int16 counts ('h', T*C interleaved) -> self.x (int8 'b'); no allocation."""
        a, b, x = self._a, self._b, self.x
        nc = self.channels
        c = 0
        for i in range(len(x)):
            v = (window[i] * a[c] + b[c] + _HALF) >> _Q
            x[i] = -128 if v < -128 else (127 if v > 127 else v)
            c += 1
            if c == nc:
                c = 0
        return x

    def classify(self, window):
        """Class index of one window of counts (the model's confidence via self.model.confidence())."""
        return self.model.predict(self.quantize(window))


def _report(monitor, results, quiet):
    m = monitor.model
    label, conf = m.label(), m.confidence()
    results.append((label, conf))
    if not quiet:
        print("fan_monitor: %s %.2f" % (label, conf))


def run_replay(monitor, path, hop=None, quiet=False, max_windows=None):
    """Classify the windows of a file of int16 little-endian interleaved samples; list of results."""
    ring = Ring(4 * monitor.length, monitor.channels)
    windows = Windows(ring, monitor.length, hop)
    raw = bytearray(2 * _CHUNK * monitor.channels)
    results = []
    with open(path, "rb") as f:
        while max_windows is None or len(results) < max_windows:
            n = f.readinto(raw)
            if not n:
                break
            ring.write_le16(raw, n // (2 * monitor.channels))
            while windows.take(monitor.window) >= 0:
                monitor.classify(monitor.window)
                _report(monitor, results, quiet)
    return results


class _Sink:
    # on_samples callback of the Sampler: made once, allocates nothing but the report
    def __init__(self, monitor, windows, results, quiet):
        self.monitor, self.windows, self.results, self.quiet = monitor, windows, results, quiet

    def __call__(self, n):
        while self.windows.take(self.monitor.window) >= 0:
            self.monitor.classify(self.monitor.window)
            _report(self.monitor, self.results, self.quiet)


def run_live(model, profile, seconds=10.0, hop=None, quiet=False, scale=None):
    """Classify windows from the sensor of a board profile (dict) for `seconds` (float); list of results."""
    from data_logger.main import open_sensor
    from ulearn.sensors.sampler import Sampler
    sensor = open_sensor(profile)
    monitor = Monitor(model, scale or sensor.scale, getattr(sensor, "unit", "g"))
    if sensor.channels != monitor.channels:
        raise ValueError("the model wants %d channels, the sensor gives %d" % (monitor.channels, sensor.channels))
    ring = Ring(max(4 * monitor.length, 4 * sensor.max_burst), sensor.channels)
    sampler = Sampler(sensor, ring)
    results = []
    sink = _Sink(monitor, Windows(ring, monitor.length, hop), results, quiet)
    sampler.start()
    try:
        sampler.run(seconds=seconds, on_samples=sink)
    finally:
        sampler.stop()
    return results


def main(model="fan.mpy", replay=None, scale=None, seconds=10.0, profile="board.json", hop=None,
         quiet=False, max_windows=None, unit="g"):
    """Load `model` (path or loaded model) and classify windows from the file `replay` or the live
    sensor of `profile` (path or dict); returns [(state, confidence), ...].

    `scale`: `unit`s per count; replays default to 1/8192 g (LIS3DH at +-4 g), live runs to the
    sensor's own scale and unit. Values are converted to the model's input unit (META input_unit).
    """
    m = ulearn.load(model) if isinstance(model, str) else model
    if replay is not None:
        return run_replay(Monitor(m, scale or 1.0 / 8192, unit), replay, hop, quiet, max_windows)
    prof = profile
    if isinstance(profile, str):
        try:
            with open(profile) as f:
                prof = json.load(f)
        except OSError:
            raise OSError("no board profile at %r: run `ulearn push --board NAME`, or pass replay=<file>"
                          % profile) from None
    return run_live(m, prof, seconds, hop, quiet, scale)
