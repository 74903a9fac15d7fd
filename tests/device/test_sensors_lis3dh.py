"""LIS3DH through the unchanged Adafruit driver on the register-level stand-in (device/sim).

Runs under CPython and inside MicroPython (source and .mpy). The CircuitPython path runs under
MicroPython (and CPython) with CircuitPython's module names (`busio`, `board`, `digitalio`)
provided by the harness from device/sim/circuitpython: it is not a CircuitPython interpreter.
The chip's clock is simulated (`realtime=False`): time moves only by `chip.advance(us)`.
"""

import sys

from devtest import allocated, micropython_only, on_micropython, raises

if on_micropython:
    _ROOT = __file__.rsplit("/", 3)[0]
else:
    from pathlib import Path
    _ROOT = str(Path(__file__).resolve().parents[2])
for _p in (_ROOT + "/device/sim", _ROOT + "/device/sim/circuitpython"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from array import array  # noqa: E402

import machine_i2c_sim  # noqa: E402
from lis3dh_sim import LIS3DHSim, Recording  # noqa: E402


def _ramp(n=400, rate=200):
    # simulated: x ramps -1000..+1000 mg, y = 0, z = 1000 mg
    data = array("h")
    for i in range(n):
        data.append(-1000 + (2000 * i) // n)
        data.append(0)
        data.append(1000)
    return Recording(data, 3, rate)


def _setup(who=0x33, attach=True):
    from ulearn.sensors.lis3dh import LIS3DH
    bus = machine_i2c_sim.Bus()
    chip = LIS3DHSim(_ramp(), who_am_i=who, realtime=False)
    if attach:
        bus.attach(0x18, chip)
    i2c = machine_i2c_sim.I2C(0, bus=bus)
    return bus, chip, (lambda **more: LIS3DH(i2c, **more))


def _le16(raw, i):
    v = raw[2 * i] | (raw[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def test_driver_configures_the_chip():
    _bus, chip, make = _setup()
    acc = make(range_g=4, rate_hz=200)
    assert chip.regs[0x20] >> 4 == 6            # ODR 200 Hz
    assert (chip.regs[0x23] >> 4) & 3 == 1      # ±4 g
    assert chip.regs[0x23] & 0x88 == 0x88       # block data update + high resolution (driver)
    assert acc.scale == 2 / 16000 and acc.unit == "g" and acc.channels == 3
    acc.start()
    assert chip.regs[0x24] & 0x40 and chip.regs[0x2E] >> 6 == 2   # FIFO on, stream mode


def test_fifo_burst_returns_the_recording():
    _bus, chip, make = _setup()
    acc = make(range_g=2, rate_hz=200)
    acc.start()
    raw = bytearray(6 * 32)
    assert acc.read_into(raw) == 0
    chip.advance(100000)                        # 100 ms at 200 Hz
    n = acc.read_into(raw)
    assert n == 20, n
    for i in range(n):
        assert _le16(raw, 3 * i + 2) == 1000 * 16   # z = 1 g at ±2 g: 16 counts per mg (HR)
        assert _le16(raw, 3 * i + 1) == 0
    assert _le16(raw, 0) < _le16(raw, 3 * (n - 1))  # x ramps up
    assert acc.read_into(raw) == 0


def test_fifo_overrun_is_counted():
    _bus, chip, make = _setup()
    acc = make(rate_hz=400)
    acc.start()
    raw = bytearray(6 * 32)
    chip.advance(200000)                         # 80 samples into a 32-sample FIFO
    assert acc.read_into(raw) == 32
    assert acc.overruns == 1 and chip.overruns == 48


def test_every_range_scales_to_one_g():
    for rg in (2, 4, 8, 16):
        _bus, chip, make = _setup()
        acc = make(range_g=rg, rate_hz=100)
        acc.start()
        raw = bytearray(6 * 32)
        chip.advance(50000)
        n = acc.read_into(raw)
        assert n == 5
        z = _le16(raw, 2) * acc.scale
        assert abs(z - 1.0) < 0.02, (rg, z)


def test_no_device_at_the_address():
    from ulearn.sensors import SensorError
    _bus, _chip, make = _setup(attach=False)
    with raises(SensorError, "no I2C device answers at 0x18"):
        make()


def test_wrong_who_am_i():
    from ulearn.sensors import SensorError
    _bus, _chip, make = _setup(who=0x44)
    with raises(SensorError, "WHO_AM_I reads 0x44"):
        make()


def test_i2c_error_mid_read_retries_then_fails_clearly():
    from ulearn.sensors import SensorError
    bus, chip, make = _setup()
    acc = make(retries=3)
    acc.start()
    raw = bytearray(6 * 32)
    chip.advance(50000)
    bus.fail(count=2, after=1)                   # the FIFO_SRC read passes, the burst fails twice
    assert acc.read_into(raw) == 10
    assert acc.errors == 2
    chip.advance(50000)
    bus.fail(count=100)
    with raises(SensorError, "failed 4 times"):
        acc.read_into(raw)


def test_bad_arguments():
    _bus, _chip, make = _setup()
    with raises(ValueError, "range_g"):
        make(range_g=3)
    with raises(ValueError, "rate_hz"):
        make(rate_hz=300)


def test_circuitpython_names_busio_board():
    # busio/board/digitalio come from device/sim/circuitpython (CircuitPython's names, not CircuitPython)
    import board
    import busio
    from ulearn.sensors.lis3dh import LIS3DH
    bus = machine_i2c_sim.set_default_bus(machine_i2c_sim.Bus())
    chip = LIS3DHSim(_ramp(), realtime=False)
    bus.attach(0x19, chip)
    i2c = busio.I2C(board.SCL, board.SDA)
    acc = LIS3DH(i2c, address=0x19, range_g=8, rate_hz=50)
    assert acc.bus is i2c                        # busio is used as it is, no adapter
    acc.start()
    chip.advance(200000)
    raw = bytearray(6 * 32)
    assert acc.read_into(raw) == 10
    assert abs(_le16(raw, 2) * acc.scale - 1.0) < 0.02
    assert i2c.try_lock()                        # every transfer released the lock
    i2c.unlock()


def test_sampler_and_log_do_not_allocate_per_sample():
    micropython_only("gc.mem_alloc() measures allocation only in MicroPython")
    from ulearn.sensors.ring import Ring
    from ulearn.sensors.sampler import Sampler
    _bus, chip, make = _setup()
    acc = make(rate_hz=200)
    ring = Ring(256, 3)
    s = Sampler(acc, ring)
    s.start()

    def step():
        chip.advance(40000)                      # 8 samples per poll
        s.poll()
    assert allocated(step, 50) == 0
    assert s.samples >= 400


def test_schedule_mode_reads_one_sample_per_slot():
    from ulearn.sensors.ring import Ring
    from ulearn.sensors.sampler import Sampler
    _bus, chip, make = _setup()
    chip.realtime = True
    acc = make(rate_hz=200, fifo=False)
    assert acc.max_burst == 1 and acc.chip_rate_hz == 400
    s = Sampler(acc, Ring(64, 3))
    s.start()
    st = s.run(samples=10, idle_ms=1)
    assert st["samples"] == 10 and s.ring.count == 10
    assert st["nominal_hz"] == 200
    for key in ("rate_hz", "jitter_us_max", "jitter_us_mean", "missed", "overruns"):
        assert key in st
