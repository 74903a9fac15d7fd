"""data_logger: sample the board's accelerometer at a fixed rate into the log, or stream it to the host.

    from data_logger.main import main
    main(seconds=60)                    # log to flash (folder from the board profile)
    main(seconds=10, mode="stream")     # binary frames on stdout, read by `ulearn record`

The board profile (`board.json`, written by `ulearn push --board NAME`) says how the sensor is
wired; on the virtual board it selects the LIS3DH stand-in replaying a recording at the rate it
was recorded. Works on MicroPython and CircuitPython (Adafruit driver, `busio` there).
"""

import json
import sys

from ulearn import log
from ulearn.sensors.i2c import open_i2c
from ulearn.sensors.lis3dh import LIS3DH
from ulearn.sensors.ring import Ring
from ulearn.sensors.sampler import Sampler


def load_profile(path="board.json"):
    """The board profile (dict) stored on the board at `path`."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        raise OSError("no board profile at %r: run `ulearn push --board NAME` (it writes board.json) "
                      "or pass profile=<dict>" % path)


def open_sensor(profile):
    """The LIS3DH the profile describes (address, range, rate, FIFO), configured through the driver."""
    s = profile["sensor"]
    return LIS3DH(open_i2c(profile), address=s.get("address", 0x18), range_g=s.get("range_g", 2),
                  rate_hz=s.get("rate_hz", 200), fifo=s.get("fifo", True))


class _Sink:
    # the on_samples callback: made once, so nothing is allocated per burst
    def __init__(self, sampler, writer, frames):
        self.raw = sampler.raw
        self.writer = writer
        self.frames = frames
        self.full = None

    def __call__(self, n):
        if self.frames is not None:
            self.frames.data(self.raw, n)
        if self.writer is not None and self.full is None:
            try:
                self.writer.append(self.raw, n)
            except log.LogFull as e:
                self.full = str(e)


def main(seconds=10.0, mode="log", profile="board.json", folder=None, samples=None, quiet=False):
    """Sample for `seconds` (float) or `samples` (int); mode "log" (flash), "stream" (frames) or "both".

    Returns the sampler's stats (dict), plus the log's record count and the flash-full message.
    """
    prof = load_profile(profile) if isinstance(profile, str) else profile
    sensor = open_sensor(prof)
    sampler = Sampler(sensor, Ring(4 * sensor.max_burst, sensor.channels))
    writer = frames = None
    if mode in ("log", "both"):
        cfg = prof.get("log") or {}
        writer = log.Writer(folder or cfg.get("folder", "logs"), sensor.rate_hz, sensor.channels,
                            sensor.scale, sensor.unit, records_per_block=cfg.get("records_per_block", 4),
                            max_file_bytes=cfg.get("max_file_bytes", 65536))
    if mode in ("stream", "both"):
        from ulearn.sensors.frames import FrameWriter
        frames = FrameWriter(getattr(sys.stdout, "buffer", sys.stdout), sensor.channels, sensor.max_burst)
        frames.meta({"rate_hz": sensor.rate_hz, "channels": sensor.channels, "scale": sensor.scale,
                     "unit": sensor.unit, "sensor": "lis3dh", "range_g": sensor.range_g,
                     "board": prof.get("name", "?"), "simulated": bool((prof.get("i2c") or {}).get("sim"))})
    sink = _Sink(sampler, writer, frames)
    sampler.start()
    try:
        stats = sampler.run(seconds=seconds if samples is None else None, samples=samples, on_samples=sink)
    finally:
        sampler.stop()
        if writer is not None:
            writer.close()
    if writer is not None:
        stats["log_records"] = writer.records
        stats["log_seq"] = writer.seq
    if sink.full:
        stats["log_full"] = sink.full
    if frames is not None:
        frames.end(stats)
    elif not quiet:
        if sink.full:
            print("data_logger: " + sink.full)
        print(json.dumps(stats))
    return stats
