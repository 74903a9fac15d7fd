"""The data_logger app on the LIS3DH stand-in in real time, through both runtimes' code paths.

Runs under CPython and inside MicroPython. The CircuitPython path runs under MicroPython (and
CPython) with CircuitPython's module names (`busio`, `board`, `digitalio`) provided by the harness
from device/sim/circuitpython: it is not a CircuitPython interpreter.
"""

import sys

from devtest import on_micropython

if on_micropython:
    _ROOT = __file__.rsplit("/", 3)[0]
else:
    from pathlib import Path
    _ROOT = str(Path(__file__).resolve().parents[2])
for _p in (_ROOT + "/device/sim", _ROOT + "/device/sim/circuitpython"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

_PROFILE = {"name": "test", "runtime": "micropython", "i2c": {"sim": "lis3dh", "id": 0},
            "sensor": {"type": "lis3dh", "address": 24, "range_g": 4, "rate_hz": 200, "fifo": True},
            "log": {"folder": "logs", "max_file_bytes": 4096, "records_per_block": 2}}


def _folder(name):
    if on_micropython:
        return name
    import tempfile
    return tempfile.mkdtemp(prefix="ulearn-app-") + "/" + name


def _run(profile, folder):
    from data_logger.main import main

    from ulearn import log
    st = main(samples=100, mode="log", profile=profile, folder=folder, quiet=True)
    header, records, reports = log.read_all(folder)
    return st, header, records


def test_data_logger_micropython_path():
    import virtual_sensors
    from ulearn.sensors.i2c import BusIO, open_i2c
    assert isinstance(open_i2c(_PROFILE), BusIO)               # machine.I2C behind the adapter
    st, header, records = _run(_PROFILE, _folder("mp"))
    assert st["samples"] >= 100 and st["overruns"] == 0
    assert header.rate_hz == 200 and header.channels == 3 and abs(header.scale - 2 / 16000) < 1e-9
    assert len(records) == st["log_seq"] and sum(len(v) for _, v in records) == 3 * st["samples"]
    assert virtual_sensors.chip.samples >= 100


def test_data_logger_circuitpython_path():
    import busio
    profile = dict(_PROFILE, runtime="circuitpython")
    profile["i2c"] = {"sim": "lis3dh", "scl": "SCL", "sda": "SDA"}
    from ulearn.sensors.i2c import open_i2c
    assert isinstance(open_i2c(profile), busio.I2C)            # CircuitPython's bus, no adapter
    st, header, records = _run(profile, _folder("cp"))
    assert st["samples"] >= 100 and sum(len(v) for _, v in records) == 3 * st["samples"]
