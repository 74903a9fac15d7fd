"""Binary sample frames (device writer ulearn.sensors.frames, host parser ulearn_host.record) and the
.npz they become. Host tests (CPython); the device side of the framing runs here as plain Python."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from ulearn.sensors.frames import FrameWriter
from ulearn_host.data import load_npz
from ulearn_host.errors import UlearnError
from ulearn_host.record import FrameParser, save_recording, windows

META = {"rate_hz": 200, "channels": 3, "scale": 1 / 8000, "unit": "g", "sensor": "lis3dh", "board": "test"}


def _stream(blocks: int = 50, per: int = 8) -> tuple[bytes, np.ndarray]:
    out = io.BytesIO()
    w = FrameWriter(out, 3, 32)
    w.meta(META)
    rng = np.random.default_rng(0)
    data = rng.integers(-32768, 32767, size=(blocks * per, 3), dtype=np.int16)
    for b in range(blocks):
        w.data(data[b * per:(b + 1) * per].astype("<i2").tobytes(), per)
    w.end({"samples": blocks * per})
    return out.getvalue(), data


def _frame_bounds(stream: bytes) -> list[int]:
    return [i for i in range(len(stream) - 1) if stream[i:i + 2] == b"\xa5\x5a"]


def test_round_trip_in_random_chunks():
    stream, data = _stream()
    p = FrameParser()
    rnd = random.Random(1)
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 97)
        p.feed(stream[i:i + n])
        i += n
    s = p.stream
    assert s.meta == META and s.end == {"samples": 400}
    assert s.dropped == 0 and s.corrupt == 0 and s.samples == 400
    assert np.array_equal(s.raw(), data)


def test_lost_frames_are_counted_as_dropped():
    stream, data = _stream()
    starts = _frame_bounds(stream)
    # cut out frames 5 and 6 (meta is frame 0, so data blocks 4 and 5)
    cut = stream[:starts[5]] + stream[starts[7]:]
    p = FrameParser()
    p.feed(cut)
    assert p.stream.dropped == 2 and p.stream.samples == 400 - 16
    assert np.array_equal(p.stream.raw()[:32], data[:32])


def test_corrupt_frame_is_dropped_and_the_parser_resyncs():
    stream, data = _stream()
    bad = bytearray(stream)
    starts = _frame_bounds(stream)
    bad[starts[3] + 15] ^= 0x40                # a bit error in frame 3's payload
    bad[starts[9]:starts[9]] = b"noise \x04 between frames"
    p = FrameParser()
    p.feed(bytes(bad))
    assert p.stream.corrupt >= 1 and p.stream.dropped == 1
    assert p.stream.samples == 400 - 8 and p.stream.end is not None


def test_board_error_text_is_recovered():
    p = FrameParser()
    p.feed(b"OK\x04Traceback (most recent call last):\r\nSensorError: no I2C device answers at 0x18\r\n\x04>")
    assert p.board_finished()
    assert "no I2C device answers at 0x18" in p.board_error()


def test_windows_layout():
    raw = np.arange(20 * 3, dtype=np.int16).reshape(20, 3)
    w = windows(raw, 8, 4)
    assert w.shape == (4, 8, 3) and np.array_equal(w[1, 0], raw[4]) and np.array_equal(w[3, 7], raw[19])
    assert windows(raw[:5], 8, 4).shape == (0, 8, 3)


def test_truncated_stream_saves_a_valid_dataset(tmp_path):
    stream, data = _stream(blocks=100)
    p = FrameParser()
    p.feed(stream[:len(stream) * 2 // 3])      # the board vanished two thirds of the way
    assert p.stream.end is None
    out = tmp_path / "rec.npz"
    summary = save_recording(p.stream, out, "walking", window=64, hop=32)
    assert not summary["complete"] and summary["samples"] == p.stream.samples > 0
    ds = load_npz(out)
    assert ds.classes == ["walking"] and ds.rate_hz == 200 and ds.units == "g"
    assert ds.X.shape[1:] == (64, 3) and ds.X.dtype == np.float32
    with np.load(out) as f:
        assert f["raw"].dtype == np.int16 and len(f["raw"]) == p.stream.samples
        assert np.allclose(f["X"][0], data[:64] * (1 / 8000))


def test_append_builds_a_multi_class_dataset(tmp_path):
    out = tmp_path / "two.npz"
    for label in ("idle", "shake"):
        stream, _ = _stream()
        p = FrameParser()
        p.feed(stream)
        save_recording(p.stream, out, label, window=32, hop=16, append=True)
    ds = load_npz(out)
    assert ds.classes == ["idle", "shake"]
    assert set(np.concatenate([ds.y, ds.y_test]).tolist()) == {0, 1}
    stream, _ = _stream()
    p = FrameParser()
    p.feed(stream)
    with pytest.raises(UlearnError, match="another --out"):
        save_recording(p.stream, out, "x", window=64, hop=16, append=True)
