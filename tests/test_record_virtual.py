"""The sensor path on the virtual board (MicroPython unix port behind a pty, littlefs flash):
`ulearn record` over its serial link, the link going away mid-record, `ulearn pull-logs`, and a
power cut (the interpreter SIGKILLed) while data_logger writes its log.

The LIS3DH is the register-level stand-in (device/sim) replaying real BasicMotions accelerometer
data (10 Hz, linearly interpolated by the simulated 200 Hz chip) at its recorded speed.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ulearn import log
from ulearn_host import boards
from ulearn_host.board import Board
from ulearn_host.board.push import push
from ulearn_host.cli import main as cli
from ulearn_host.data import load_npz
from ulearn_host.record import (
    dataset_recording,
    install_sensor_files,
    record_from_board,
    sensor_lib_tree,
    write_recording,
)


@pytest.fixture(scope="module")
def sensor_board(virtual_board, tmp_path_factory):
    data_g, rate = dataset_recording("basicmotions", "walking", cases=4)
    rec = write_recording(data_g, rate, tmp_path_factory.mktemp("rec"))
    lib = sensor_lib_tree(tmp_path_factory.mktemp("lib"))   # only the sensor/log part of ulearn
    with Board(virtual_board.port, timeout=30) as b:
        push(b, [str(lib), "data_logger"], progress=False)
        install_sensor_files(b, boards.load("unix"), rec)
    return virtual_board


def test_record_over_the_serial_link(sensor_board, tmp_path):
    out = tmp_path / "walk.npz"
    summary = record_from_board(sensor_board.port, 2.0, out, "walking", window=64, hop=32, show_progress=False)
    assert summary["stopped"] == "end", summary
    assert summary["dropped_frames"] == 0 and summary["corrupt_frames"] == 0
    assert 380 <= summary["samples"] <= 420
    ds = load_npz(out)
    assert ds.classes == ["walking"] and ds.rate_hz == 200 and ds.X.shape[1:] == (64, 3) and ds.simulated
    # the board is usable again afterwards
    with Board(sensor_board.port) as b:
        assert b.eval("1+1") == 2


def test_cli_record_then_train_input(sensor_board, tmp_path, capsys):
    out = tmp_path / "cli.npz"
    assert cli(["record", "--port", sensor_board.port, "--seconds", "1", "--out", str(out), "--label", "idle",
                "--window", "32", "--hop", "16", "--no-progress"]) == 0
    assert "dropped frames: 0" in capsys.readouterr().out
    assert load_npz(out).X.shape[1:] == (32, 3)


def test_board_reset_mid_record_keeps_what_arrived(sensor_board, tmp_path):
    out = tmp_path / "cut.npz"
    timer = threading.Timer(1.5, sensor_board.kill_interpreter)
    timer.start()
    try:
        summary = record_from_board(sensor_board.port, 20.0, out, "walking", window=32, hop=16,
                                    show_progress=False)
    finally:
        timer.cancel()
    assert summary["stopped"].startswith("disconnected"), summary
    assert summary["samples"] > 50 and not summary["complete"]
    with np.load(out) as f:
        assert len(f["raw"]) == summary["samples"]
    assert len(load_npz(out).classes) == 1


def _wait_ready(port: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with Board(port) as b:
                b.eval("1")
                return
        except Exception:  # noqa: BLE001 - the bridge is rebooting the interpreter
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_power_cut_while_logging_then_pull_logs(sensor_board, tmp_path, capsys):
    _wait_ready(sensor_board.port)
    with Board(sensor_board.port) as b:
        b.exec("import os\nfor f in os.listdir('logs') if 'logs' in os.listdir() else []:\n os.remove('logs/'+f)")
        b.transport.exec_raw_no_follow("from data_logger.main import main\nmain(seconds=60, quiet=True)")
    time.sleep(3.0)
    sensor_board.kill_interpreter()                       # the power goes while it logs
    _wait_ready(sensor_board.port)
    assert cli(["pull-logs", "--port", sensor_board.port, "--out", str(tmp_path / "logs"),
                "--npz", str(tmp_path / "logged.npz"), "--label", "walking"]) == 0
    text = capsys.readouterr().out
    header, records, reports = log.read_all(str(tmp_path / "logs"))
    seqs = [s for s, _ in records]
    assert seqs == list(range(len(seqs))) and all(r["corrupt"] == 0 for r in reports)
    # 3 s at 200 Hz = ~600 samples = ~18 records; at most the open block (4 records) is lost
    assert len(seqs) >= 8, text
    assert header.rate_hz == 200 and "copied" in text
    assert load_npz(tmp_path / "logged.npz").X.shape[1:] == (128, 3)
