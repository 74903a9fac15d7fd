"""Recordings for the LIS3DH stand-in: dataset samples (g) -> ulearn log file -> the simulated chip's
registers -> the driver's counts. Real BasicMotions (10 Hz, interpolated) and simulated fan data
(200 Hz, sample for sample). Host test (CPython); the stand-in is plain Python from device/sim."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ulearn_host.boards import SIM_DIR
from ulearn_host.record import dataset_recording, write_recording

sys.path[:0] = [p for p in (str(SIM_DIR), str(SIM_DIR / "circuitpython")) if p not in sys.path]

import machine_i2c_sim  # noqa: E402
from lis3dh_sim import LIS3DHSim, Recording  # noqa: E402

from ulearn.sensors.lis3dh import LIS3DH  # noqa: E402


def _read(rec_path, range_g: int, seconds: float) -> tuple[np.ndarray, float]:
    bus = machine_i2c_sim.Bus()
    chip = LIS3DHSim(Recording.load(str(rec_path), loop=False), realtime=False)
    bus.attach(0x18, chip)
    acc = LIS3DH(machine_i2c_sim.I2C(0, bus=bus), range_g=range_g, rate_hz=200)
    acc.start()
    raw = bytearray(6 * 32)
    out = []
    for _ in range(int(seconds * 200) // 20):
        chip.advance(100_000)                     # 20 samples per poll
        n = acc.read_into(raw)
        out.append(np.frombuffer(bytes(raw[:6 * n]), "<i2").reshape(n, 3))
    return np.concatenate(out), acc.scale


def test_fan_sim_is_replayed_sample_for_sample(tmp_path):
    data_g, rate = dataset_recording("fan-sim", "on", cases=2)      # SIMULATED fan, 200 Hz, m/s^2 -> g
    assert rate == 200
    counts, scale = _read(write_recording(data_g, rate, tmp_path), 4, 1.0)
    # sample k of the chip is taken at k/200 s: recording sample k (first one at t = 5 ms)
    got = counts * scale
    np.testing.assert_allclose(got, data_g[1:201], atol=0.002)   # mg rounding + 12-bit resolution


def test_a_long_recording_is_replayed_across_its_storage_blocks(tmp_path):
    # 8 s at 200 Hz: 1600 samples, kept in blocks of 512 (a board's fragmented heap may hold no 36 KB
    # block for a 30 s recording), replayed sample for sample across the block edges at 512, 1024, 1536
    data_g, rate = dataset_recording("fan-sim", "on", cases=13)      # SIMULATED fan, 200 Hz
    assert len(data_g) >= 1601
    rec = Recording.load(str(write_recording(data_g[:1601], rate, tmp_path)), loop=False)
    assert len(rec.chunks) == 4 and rec.length == 1601
    counts, scale = _read(write_recording(data_g[:1601], rate, tmp_path / "again"), 4, 8.0)
    np.testing.assert_allclose(counts * scale, data_g[1:1601], atol=0.002)


def test_basicmotions_is_interpolated_at_its_recorded_speed(tmp_path):
    data_g, rate = dataset_recording("basicmotions", "running", cases=1)  # real, 10 Hz
    assert rate == 10
    counts, scale = _read(write_recording(data_g, rate, tmp_path), 16, 2.0)
    t = np.arange(1, len(counts) + 1) / 200                            # chip sample times
    expect = np.stack([np.interp(t * 10, np.arange(len(data_g)), data_g[:, a]) for a in range(3)], 1)
    np.testing.assert_allclose(counts * scale, expect, atol=0.02)      # 12 mg/digit at ±16 g


def test_saturates_at_full_scale(tmp_path):
    data_g = np.array([[5.0, -5.0, 0.5]] * 20)
    counts, scale = _read(write_recording(data_g, 200, tmp_path), 2, 0.1)
    assert counts[:, 0].max() == 32752 and counts[:, 1].min() == -32768   # 12-bit left-justified clamp
    assert abs(counts[0, 2] * scale - 0.5) < 0.002


def test_recording_file_must_be_in_g(tmp_path):
    from ulearn import log
    w = log.Writer(str(tmp_path), 100, 1, 0.01, "V")
    w.append(bytes(64), 32)
    w.close()
    with pytest.raises(ValueError, match="replays 'g'"):
        Recording.load(str(tmp_path / log.file_name(1)))
