"""The data_logger app streaming frames from MicroPython (the unix port, LIS3DH stand-in replaying
a recording in real time) into `ulearn_host.record`; the board vanishing mid-recording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np

from ulearn_host import boards, unixport
from ulearn_host.data import load_npz
from ulearn_host.record import FrameParser, dataset_recording, receive, save_recording, write_recording


def _start(tmp_path, seconds: float, recording: str | None = None) -> subprocess.Popen:
    prof = boards.load("unix")
    prof["i2c"] = dict(prof["i2c"], recording=recording)
    code = f"from data_logger.main import main\nmain(seconds={seconds!r}, mode='stream', profile={prof!r})\n"
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in unixport.device_path(False, boards.device_sim_path()))
    return subprocess.Popen([unixport.micropython_exe(), "-X", "heapsize=256k", "-c", code], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _reader(proc: subprocess.Popen):
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)

    def read() -> bytes:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            return b""
        if not data:
            raise EOFError("the board closed the link")
        return data
    return read


def test_replay_of_real_basicmotions_data_streams_without_loss(tmp_path):
    data_g, rate = dataset_recording("basicmotions", "walking", cases=2)   # real, 10 Hz
    rec = write_recording(data_g, rate, tmp_path / "rec")
    proc = _start(tmp_path, 1.5, recording=str(rec))
    parser, why = receive(_reader(proc), 1.5)
    proc.wait(10)
    s = parser.stream
    assert why == "end", (why, proc.stderr.read())
    assert s.dropped == 0 and s.corrupt == 0 and s.meta["simulated"] is True
    assert s.end["samples"] == s.samples and 250 <= s.samples <= 320
    # the chip interpolates the 10 Hz recording: its first samples follow the recording's first values
    g = s.raw()[:5] * s.meta["scale"]
    assert np.allclose(g[0], data_g[0], atol=0.01)
    out = tmp_path / "walk.npz"
    save_recording(s, out, "walking", window=64, hop=32)
    assert load_npz(out).X.shape[1:] == (64, 3)


def test_board_killed_mid_recording_keeps_what_arrived(tmp_path):
    proc = _start(tmp_path, 30.0)
    read = _reader(proc)
    parser = FrameParser()
    deadline = time.monotonic() + 20
    while parser.stream.samples < 100 and time.monotonic() < deadline:
        data = read()
        if data:
            parser.feed(data)
    proc.send_signal(signal.SIGKILL)
    parser, why = receive(read, 30, parser=parser)
    proc.wait(10)
    assert why.startswith("disconnected")
    assert parser.stream.end is None and parser.stream.samples >= 100 and parser.stream.dropped == 0
    out = tmp_path / "partial.npz"
    summary = save_recording(parser.stream, out, "idle", window=32, hop=16)
    assert not summary["complete"]
    ds = load_npz(out)
    assert ds.classes == ["idle"] and len(ds.X) + len(ds.X_test) == summary["windows"]
    with np.load(out) as f:
        assert len(f["raw"]) == parser.stream.samples
        assert json.loads(json.dumps(str(f["provenance"])))


def test_missing_sensor_reports_the_board_error(tmp_path):
    prof = boards.load("unix")
    prof["i2c"] = dict(prof["i2c"], absent=True)
    code = f"from data_logger.main import main\nmain(seconds=1.0, mode='stream', profile={prof!r})\n"
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in unixport.device_path(False, boards.device_sim_path()))
    r = subprocess.run([unixport.micropython_exe(), "-c", code], cwd=tmp_path, capture_output=True, env=env,
                       timeout=30)
    assert r.returncode != 0 and b"\xa5\x5a" not in r.stdout          # no frame was sent
    assert b"no I2C device answers at 0x18" in r.stdout + r.stderr
