"""`ulearn bench sensors`: sampling cost and allocation, replay rate and jitter, record throughput.

All three run on MicroPython (the unix port): the first two in a plain interpreter (heap 256 KB),
the third on a virtual board (pty bridge + littlefs) streaming over its serial link. The LIS3DH is
the register-level stand-in, so the per-sample cost includes the simulated chip's I2C replies.
Targets: 0 bytes allocated per sample; achieved rate within 1 % of 200 Hz; 0 dropped frames.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import boards, unixport

_OVERHEAD = """
import gc, time, json
import machine_i2c_sim
from lis3dh_sim import LIS3DHSim
import virtual_sensors
from ulearn.sensors.lis3dh import LIS3DH
from ulearn.sensors.ring import Ring
from ulearn.sensors.sampler import Sampler
bus = machine_i2c_sim.Bus()
chip = LIS3DHSim(virtual_sensors.generated_recording(), realtime=False)
bus.attach(0x18, chip)
acc = LIS3DH(machine_i2c_sim.I2C(0, bus=bus), rate_hz=200)
ring = Ring(256, 3)
s = Sampler(acc, ring)
s.start()
out = dict()


def measure(step, polls):
    chip.advance(step)
    s.poll()
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    n0 = s.samples
    t_sim = 0
    t0 = time.ticks_us()
    for _ in range(polls):
        t1 = time.ticks_us()
        chip.advance(step)
        t_sim += time.ticks_diff(time.ticks_us(), t1)
        s.poll()
    total = time.ticks_diff(time.ticks_us(), t0) - t_sim
    alloc = gc.mem_alloc() - a0
    gc.enable()
    n = s.samples - n0
    return (total / n, alloc / n)


for burst in (1, 8, 32):
    out[burst] = measure(burst * 5000, {polls})
raw = s.raw
t0 = time.ticks_us()
for _ in range(2000):
    ring.write_le16(raw, 1)
out["ring"] = time.ticks_diff(time.ticks_us(), t0) / 2000
print(json.dumps(out))
"""

_REPLAY = """
import json
from data_logger.main import main
st = main(seconds={seconds}, mode="log", profile={profile!r}, folder="bench_logs", quiet=True)
print(json.dumps(st))
"""


def _mpy_path() -> list[Path]:
    return boards.device_sim_path()


def overhead(quick: bool) -> dict[str, Any]:
    """Sampler cost per sample (µs) and heap bytes per sample, FIFO bursts of 1, 8 and 32 samples."""
    out = unixport.run(_OVERHEAD.format(polls=100 if quick else 400), path=_mpy_path(), timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def replay(seconds: float, recording: Path | None, workdir: Path) -> dict[str, Any]:
    """data_logger logging for `seconds` on the real-time stand-in: achieved rate and jitter."""
    prof = boards.load("unix")
    prof["i2c"] = dict(prof["i2c"], recording=str(recording) if recording else None)
    code = _REPLAY.format(seconds=seconds, profile=prof)
    out = unixport.run(code, path=_mpy_path(), cwd=workdir, timeout=seconds + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def record_throughput(seconds: float, recording: Path | None, workdir: Path, rate_hz: int) -> dict[str, Any]:
    """`ulearn record` over a fresh virtual board's serial link: samples/s and dropped frames."""
    from ..board import Board
    from ..board.push import push
    from ..record import install_sensor_files, record_from_board, sensor_lib_tree

    from ..board.virtual import BackgroundBoard
    board = BackgroundBoard(workdir / f"board{rate_hz}").start()
    try:
        port = board.port
        prof = boards.load("unix")
        prof["sensor"] = dict(prof["sensor"], rate_hz=rate_hz)
        with Board(port, timeout=30) as b:
            push(b, [str(sensor_lib_tree(workdir / "lib")), "data_logger"], progress=False)
            install_sensor_files(b, prof, recording)
        t0 = time.monotonic()
        summary = record_from_board(port, seconds, workdir / f"bench{rate_hz}.npz", "bench", show_progress=False)
        wall = time.monotonic() - t0
    finally:
        board.stop()
    return {"rate_hz": rate_hz, "samples": summary["samples"], "seconds": seconds, "wall_s": wall,
            "samples_per_s": summary["samples"] / seconds, "dropped_frames": summary["dropped_frames"],
            "corrupt_frames": summary["corrupt_frames"], "stopped": summary["stopped"]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ..record import dataset_recording, write_recording

    quick = bool(getattr(args, "quick", False))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ulearn-bench-sensors-") as tmp:
        work = Path(tmp)
        ov = overhead(quick)
        results["overhead"] = ov
        print("sampling loop on MicroPython (unix port), LIS3DH stand-in on the fake I2C bus, FIFO bursts:")
        for burst in ("1", "8", "32"):
            us, alloc = ov[burst]
            print(f"  burst {burst:>2} samples: {us:7.1f} us/sample (incl. simulated chip replies), "
                  f"{alloc:.2f} bytes allocated/sample")
        print(f"  ring buffer write alone: {ov['ring']:.1f} us/sample")
        try:
            data_g, rate = dataset_recording("basicmotions", "walking", cases=4)
            rec = write_recording(data_g, rate, work / "rec")
            source = "BasicMotions walking (real, 10 Hz)"
        except Exception as e:  # noqa: BLE001 - the dataset may not be set up
            rec, source = None, f"generated vibration (simulated; BasicMotions unavailable: {e})"
        seconds = 3.0 if quick else 10.0
        st = replay(seconds, rec, work)
        results["replay"] = st
        print(f"replay of {source} by the 200 Hz stand-in, data_logger logging for {seconds:g} s:")
        print(f"  achieved {st['rate_hz']:.3f} Hz ({100 * st['rate_error']:+.3f} % of 200 Hz; target within 1 %), "
              f"jitter max {st['jitter_us_max']} us, mean {st['jitter_us_mean']:.0f} us, "
              f"overruns {st['overruns']}, {st['samples']} samples, {st.get('log_records', 0)} log records")
        results["record"] = []
        for rate_hz in (200, 400):
            try:
                r = record_throughput(2.0 if quick else 5.0, rec, work, rate_hz)
            except Exception as e:  # noqa: BLE001 - report, don't hide the other numbers
                print(f"record over the virtual board at {rate_hz} Hz: not measured ({e})")
                continue
            results["record"].append(r)
            print(f"record over the virtual board's serial link at {rate_hz} Hz: {r['samples_per_s']:.1f} samples/s, "
                  f"{r['dropped_frames']} dropped frames, {r['corrupt_frames']} corrupt ({r['stopped']})")
    return results
