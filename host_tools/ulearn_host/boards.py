"""Board profiles (`boards/<name>.json`): load, validate, suggest one for `ulearn info`, driver files.

A profile says what runs on the board and how the sensor is wired::

    name, description, runtime ("micropython" | "circuitpython"), mcu,
    natmod_arch (an mpy-cross -march name, or null where native modules cannot load),
    heap_bytes, i2c {id, scl, sda, freq} (or {sim, recording} on the virtual board),
    sensor {type, address (7-bit int), range_g, rate_hz, fifo}, log {folder, max_file_bytes,
    records_per_block}, match {runtime, platform, machine} (how `suggest` recognises it), notes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from . import resource_dir
from .errors import UlearnError

BOARDS_DIR = resource_dir("boards")
SIM_DIR = resource_dir("device", "sim")
RUNTIMES = ("micropython", "circuitpython")
NATMOD_ARCHS = ("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
                "xtensa", "xtensawin", "rv32imc", "rv64imc")
SENSOR_TYPES = ("lis3dh",)
LIS3DH_RATES = (1, 10, 25, 50, 100, 200, 400)
LIS3DH_RANGES = (2, 4, 8, 16)
REQUIRED = ("name", "description", "runtime", "natmod_arch", "heap_bytes", "i2c", "sensor", "notes")

# What a board needs on its filesystem for the sensor path (besides lib/ulearn): the Adafruit driver
# and bus-device library exactly as installed from PyPI, never copied into this repository.
DRIVER_MODULES = {"lis3dh": ["adafruit_lis3dh", "adafruit_bus_device"]}
SIM_FILES = ["machine_i2c_sim.py", "lis3dh_sim.py", "virtual_sensors.py"]
CIRCUITPYTHON_SHIMS = SIM_DIR / "circuitpython"  # busio, board, digitalio (+ the lead's supervisor)


def names() -> list[str]:
    """Names of the profiles in boards/."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load(name_or_path: str | Path) -> dict[str, Any]:
    """The validated profile `name` (from boards/) or the JSON file at a path."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = BOARDS_DIR / f"{name_or_path}.json"
    if not path.exists():
        raise UlearnError(f"no board profile {name_or_path!r}: choose one of {', '.join(names())} "
                          f"or give the path of a .json profile")
    try:
        profile = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UlearnError(f"{path}: not valid JSON ({e}): fix the file") from None
    validate(profile, str(path))
    return profile


def validate(profile: dict[str, Any], where: str = "profile") -> None:
    """Raise UlearnError naming the first field that is missing or wrong."""
    def bad(field: str, why: str) -> UlearnError:
        return UlearnError(f"{where}: {field} {why}")

    if not isinstance(profile, dict):
        raise bad("the file", "must hold a JSON object")
    for key in REQUIRED:
        if key not in profile:
            raise bad(key, "is missing")
    if profile["runtime"] not in RUNTIMES:
        raise bad("runtime", f"must be one of {RUNTIMES}, got {profile['runtime']!r}")
    arch = profile["natmod_arch"]
    if arch is not None and arch not in NATMOD_ARCHS:
        raise bad("natmod_arch", f"must be an mpy-cross -march name {NATMOD_ARCHS} or null, got {arch!r}")
    if profile["runtime"] == "circuitpython" and arch is not None:
        raise bad("natmod_arch", "must be null on CircuitPython (it cannot load native .mpy modules)")
    if not isinstance(profile["heap_bytes"], int) or profile["heap_bytes"] < 16 * 1024:
        raise bad("heap_bytes", f"must be an integer >= 16384, got {profile['heap_bytes']!r}")
    i2c = profile["i2c"]
    if not isinstance(i2c, dict):
        raise bad("i2c", "must be an object")
    if not i2c.get("sim") and profile["runtime"] == "micropython" and "id" not in i2c:
        raise bad("i2c.id", "is missing (the machine.I2C bus number)")
    if ("scl" in i2c) != ("sda" in i2c):
        raise bad("i2c", "needs both scl and sda, or neither")
    sensor = profile["sensor"]
    if not isinstance(sensor, dict) or sensor.get("type") not in SENSOR_TYPES:
        raise bad("sensor.type", f"must be one of {SENSOR_TYPES}")
    addr = sensor.get("address")
    if not isinstance(addr, int) or not 0 <= addr < 128:
        raise bad("sensor.address", f"must be a 7-bit integer (0x18 = 24), got {addr!r}")
    if sensor.get("rate_hz", 200) not in LIS3DH_RATES:
        raise bad("sensor.rate_hz", f"must be one of {LIS3DH_RATES}")
    if sensor.get("range_g", 2) not in LIS3DH_RANGES:
        raise bad("sensor.range_g", f"must be one of {LIS3DH_RANGES}")


def all_profiles() -> dict[str, dict[str, Any]]:
    """Every profile in boards/, validated, by name."""
    return {n: load(n) for n in names()}


def suggest(info: dict[str, Any]) -> str | None:
    """The profile that best fits what `ulearn info` found on a board, or None.

    `info` keys used: runtime (or implementation), platform (sys.platform), machine
    (sys.implementation._machine / os.uname().machine), arch (the .mpy native arch). A profile
    must not contradict any of them; the one matching most of its `match` fields wins.
    """
    runtime = str(info.get("runtime") or info.get("implementation") or "").lower()
    platform = str(info.get("platform") or "").lower()
    machine = str(info.get("machine") or "").lower()
    arch = info.get("arch")
    best, best_score = None, 0
    for name, prof in all_profiles().items():
        match = prof.get("match", {})
        score = 0
        if runtime:
            if runtime != prof["runtime"]:
                continue
            score += 1
        if arch and prof["natmod_arch"] and arch != prof["natmod_arch"]:
            continue
        if arch and arch == prof["natmod_arch"]:
            score += 1
        if "platform" in match:
            if platform and platform != match["platform"].lower():
                continue
            score += 2 if platform else 0
        if "machine" in match:
            if machine and match["machine"].lower() not in machine:
                continue
            score += 4 if machine else 0
        if score > best_score:
            best, best_score = name, score
    return best


def _site_file(module: str) -> Path:
    import importlib.util
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise UlearnError(f"the Python package providing {module!r} is not installed: run `make setup` "
                          f"(it installs adafruit-circuitpython-lis3dh and adafruit-circuitpython-busdevice)")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def driver_files(profile: dict[str, Any]) -> list[tuple[Path, str]]:
    """(source, path on the board) of the files the board needs for its sensor, besides lib/ulearn.

    The Adafruit driver and bus-device library come from the installed PyPI packages; the virtual
    board also gets the simulated chip and bus from device/sim.
    """
    out: list[tuple[Path, str]] = []
    for module in DRIVER_MODULES[profile["sensor"]["type"]]:
        src = _site_file(module)
        if src.is_dir():
            out += [(p, f"lib/{src.name}/{p.name}") for p in sorted(src.glob("*.py"))]
        else:
            out.append((src, f"lib/{src.name}"))
    if profile["i2c"].get("sim"):
        out += [(SIM_DIR / f, f"lib/{f}") for f in SIM_FILES]
    return out


def driver_dir() -> Path:
    """A folder (under .cache, outside git) holding the Adafruit LIS3DH driver and bus-device library
    copied from the installed packages, for MicroPython runs on the host (`unixport.run(path=...)`)."""
    from .unixport import CACHE_DIR
    files = driver_files({"sensor": {"type": "lis3dh"}, "i2c": {}})
    out = CACHE_DIR / "drivers"
    for src, dest in files:
        target = out / dest.removeprefix("lib/")
        if not target.exists() or target.stat().st_mtime < src.stat().st_mtime:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            shutil.copy2(src, tmp)
            tmp.replace(target)
    return out


def device_sim_path() -> list[Path]:
    """Extra MicroPython path entries for sensor tests: device/sim, then the cached driver folder.

    CircuitPython's module names (device/sim/circuitpython) are not included: tests of the
    CircuitPython path add that folder themselves."""
    return [SIM_DIR, driver_dir()]
