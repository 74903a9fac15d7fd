"""fan_monitor app on a replayed file: windows through the sensor layer's Ring/Windows, int8 input
quantized with integers (within 1 LSB of the float formula), states with confidences."""

import math
import struct
from array import array

from devtest import allocated, micropython_only

_N = 512  # samples -> 7 windows of 128 with hop 64


def _model_path():
    folder = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return folder + "/nn_data/fan.ulb"


def _write_replay(path, n=_N):
    # simulated vibration: three sines, gravity on z (counts of a +-4 g LIS3DH, 8192 per g)
    raw = bytearray(6)
    with open(path, "wb") as f:
        for i in range(n):
            for c in range(3):
                v = int(3000 * math.sin(0.31 * i * (c + 1))) + (8192 if c == 2 else 0)
                struct.pack_into("<h", raw, 2 * c, v)
            f.write(raw)


def _samples(path):
    with open(path, "rb") as f:
        data = f.read()
    return array("h", [struct.unpack_from("<h", data, 2 * i)[0] for i in range(len(data) // 2)])


def test_replay_gives_states_with_confidence():
    from fan_monitor.main import main
    _write_replay("fan.raw")
    results = main(_model_path(), replay="fan.raw", quiet=True)
    assert len(results) == 7
    for label, conf in results:
        assert label in ("off", "on", "clogged", "friction")
        assert 0.0 <= conf <= 1.0


def test_replay_equals_direct_classification_of_the_windows():
    import ulearn
    from fan_monitor.main import Monitor, run_replay
    _write_replay("fan.raw")
    m = ulearn.load(_model_path())
    mon = Monitor(m, 1.0 / 8192)
    results = run_replay(mon, "fan.raw", quiet=True)
    samples = _samples("fan.raw")
    n = 128 * 3
    for k, (label, conf) in enumerate(results):
        w = array("h", samples[k * 64 * 3:k * 64 * 3 + n])
        cls = mon.classify(w)
        assert (m.label(cls), m.confidence()) == (label, conf)


def test_quantization_within_one_lsb_of_float():
    import ulearn
    from fan_monitor.main import Monitor
    m = ulearn.load(_model_path())
    info = m.info()
    mon = Monitor(m, 1.0 / 8192)
    _write_replay("fan.raw", 128)
    w = _samples("fan.raw")
    x = mon.quantize(w)
    s, zp = info["input_scale"], info["input_zero_point"]
    for i in range(len(w)):
        f = w[i] / 8192 / s + zp
        q = int(math.floor(f + 0.5)) if f >= 0 else -int(math.floor(-f + 0.5))
        q = max(-128, min(127, q))
        assert abs(x[i] - q) <= 1, (i, x[i], q)


def test_quantize_allocates_nothing():
    micropython_only("gc.mem_alloc() is MicroPython's")
    import ulearn
    from fan_monitor.main import Monitor
    m = ulearn.load(_model_path())
    mon = Monitor(m, 1.0 / 8192)
    _write_replay("fan.raw", 128)
    w = _samples("fan.raw")
    assert allocated(lambda: mon.quantize(w), 50) == 0
    x = mon.quantize(w)
    assert allocated(lambda: mon.classify(w), 50) == allocated(lambda: m.predict(x), 50)
