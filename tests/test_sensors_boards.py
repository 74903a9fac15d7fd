"""Board profiles in boards/: every file valid, the required boards present, `suggest` for `ulearn info`."""

from __future__ import annotations

import json

import pytest

from ulearn_host import boards
from ulearn_host.errors import UlearnError


def test_required_boards_are_present_and_valid():
    profiles = boards.all_profiles()
    assert {"unix", "rp2-pico", "esp32-s3", "frdm-k64f", "teensy41", "feather-rp2040"} <= set(profiles)
    assert profiles["frdm-k64f"]["natmod_arch"] == "armv7emsp"
    assert profiles["teensy41"]["natmod_arch"] == "armv7emdp"
    assert profiles["rp2-pico"]["natmod_arch"] == "armv6m"
    assert profiles["esp32-s3"]["natmod_arch"] == "xtensawin"
    assert profiles["feather-rp2040"]["runtime"] == "circuitpython"
    assert profiles["unix"]["i2c"]["sim"] == "lis3dh"
    for name, p in profiles.items():
        assert p["name"] == name and p["sensor"]["address"] in (0x18, 0x19)


@pytest.mark.parametrize("info, expected", [
    ({"runtime": "micropython", "platform": "rp2", "machine": "Raspberry Pi Pico with RP2040", "arch": "armv6m"},
     "rp2-pico"),
    ({"runtime": "micropython", "platform": "esp32", "machine": "Generic ESP32S3 module with ESP32S3",
      "arch": "xtensawin"}, "esp32-s3"),
    ({"runtime": "micropython", "platform": "mimxrt", "machine": "Teensy 4.1 with MIMXRT1062DVJ6A",
      "arch": "armv7emdp"}, "teensy41"),
    ({"runtime": "circuitpython", "platform": "RP2040", "machine": "Adafruit Feather RP2040 with rp2040"},
     "feather-rp2040"),
    ({"runtime": "micropython", "platform": "linux", "machine": "linux [GCC 14.2.1] version", "arch": "x64"},
     "unix"),
    ({"runtime": "micropython", "platform": "nrf", "machine": "some nRF52 board", "arch": "armv7emsp"}, None),
])
def test_suggest(info, expected):
    assert boards.suggest(info) == expected


def test_validation_names_the_field(tmp_path):
    good = json.loads((boards.BOARDS_DIR / "rp2-pico.json").read_text())
    cases = [("runtime", "zephyr", "runtime must be one of"),
             ("natmod_arch", "armv9", "natmod_arch must be an mpy-cross -march name"),
             ("heap_bytes", 100, "heap_bytes must be an integer"),
             ("sensor", {"type": "lis3dh", "address": 300}, "sensor.address must be a 7-bit"),
             ("sensor", {"type": "lis3dh", "address": 24, "rate_hz": 300}, "sensor.rate_hz")]
    for key, value, message in cases:
        bad = dict(good, **{key: value})
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(UlearnError, match=message):
            boards.load(path)
    with pytest.raises(UlearnError, match="no board profile 'nope'"):
        boards.load("nope")
    cp = dict(json.loads((boards.BOARDS_DIR / "feather-rp2040.json").read_text()), natmod_arch="armv6m")
    with pytest.raises(UlearnError, match="null on CircuitPython"):
        boards.validate(cp)


def test_driver_files_come_from_the_installed_packages():
    files = dict((dest, src) for src, dest in boards.driver_files(boards.load("rp2-pico")))
    assert "lib/adafruit_lis3dh.py" in files and "lib/adafruit_bus_device/i2c_device.py" in files
    assert all("site-packages" in str(src) for src in files.values())
    sim = dict((dest, src) for src, dest in boards.driver_files(boards.load("unix")))
    assert "lib/lis3dh_sim.py" in sim and "lib/virtual_sensors.py" in sim
    folder = boards.driver_dir()
    assert (folder / "adafruit_lis3dh.py").read_bytes() == files["lib/adafruit_lis3dh.py"].read_bytes()
