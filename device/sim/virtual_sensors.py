"""Sensors of the virtual board: a LIS3DH stand-in on a fake I2C bus, replaying a recording.

`setup(profile)` is what `ulearn.sensors.i2c.open_i2c` calls when a board profile says
`"i2c": {"sim": "lis3dh", "recording": "<file>"}`: it builds the bus, attaches the chip at the
profile's sensor address and returns a `machine.I2C`-like object. The recording is a ulearn log
file in g (written by `ulearn_host.record.write_recording`); without one the chip replays a
generated 1 g gravity vector with a 5 Hz, 0.25 g vibration on x (simulated).
Faults for tests come from the profile too: `"who_am_i": 0x44`, `"absent": true`.
"""

from array import array

import machine_i2c_sim
from lis3dh_sim import LIS3DHSim, Recording

chip = None
bus = None


def generated_recording():
    """One second at 200 Hz, in milli-g: x = 250 sin(2 pi 5 t), y = 0, z = 1000 (simulated)."""
    import math
    data = array("h")
    for i in range(200):
        data.append(int(250 * math.sin(2 * math.pi * 5 * i / 200)))
        data.append(0)
        data.append(1000)
    return Recording(data, 3, 200, loop=True)


def setup(profile):
    """Build the simulated bus and chip for `profile` (dict); returns the machine.I2C-like bus."""
    global chip, bus
    cfg = profile.get("i2c") or {}
    sensor = profile.get("sensor") or {}
    path = cfg.get("recording")
    rec = Recording.load(path, loop=cfg.get("loop", True)) if path else generated_recording()
    chip = LIS3DHSim(rec, who_am_i=cfg.get("who_am_i", 0x33))
    bus = machine_i2c_sim.set_default_bus(machine_i2c_sim.Bus())
    if not cfg.get("absent"):
        bus.attach(sensor.get("address", 0x18), chip)
    return machine_i2c_sim.I2C(cfg.get("id", 0), bus=bus)
