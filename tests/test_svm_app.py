"""The anomaly_detector app: in-situ training in MicroPython, reload after a reset, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ulearn_host import unixport
from ulearn_host.bench import anomaly
from ulearn_host.unixport import MicroPythonError


def test_basicmotions_learn_then_detect_in_a_fresh_process():
    res = anomaly.run_demo("basicmotions")
    assert res["learn_threshold"] == res["threshold"]          # the saved model came back
    assert res["detection_rate"] >= 0.9, res                   # running, badminton
    assert res["false_alarm_rate"] <= 0.3, res                 # standing, walking


def test_too_few_windows_is_a_clear_error(tmp_path):
    anomaly.prepare("basicmotions", tmp_path)
    with pytest.raises(MicroPythonError, match="too few windows to train: 3 collected"):
        unixport.run(anomaly.LEARN.format(epochs=2, n_rff=16, n=3, gamma=0.1), cwd=tmp_path)
    assert not (tmp_path / "anomaly.ulb").exists()


def test_model_for_another_spec_is_refused(tmp_path):
    anomaly.prepare("basicmotions", tmp_path)
    unixport.run(anomaly.LEARN.format(epochs=2, n_rff=16, n=20, gamma=0.1), cwd=tmp_path)
    spec = json.loads((tmp_path / "spec.json").read_text())
    spec["features"] = ["std", "ptp", "rms", "centroid"]          # same size, other pipeline
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(MicroPythonError, match="another feature spec"):
        unixport.run(anomaly.DETECT, cwd=tmp_path)


def _push_and_files(b, folder: Path) -> None:
    from ulearn_host.board.push import push
    push(b, ["lib", "anomaly_detector"], progress=False)
    window = 100 * 6 * 2                                        # bytes of one BasicMotions window
    for name, keep in (("spec.json", None), ("normal.bin", None), ("test.bin", 8 * window)):
        b.put((folder / name).read_bytes()[:keep], name)      # the small flash holds 8 test windows


@pytest.fixture
def board_1m(tmp_path):
    """A virtual board of its own with 1 MiB of flash (lib + app + data need more than 256 KiB)."""
    from conftest import VirtualBoardProcess
    board = VirtualBoardProcess(tmp_path / "board", flash_size="1M").start()
    yield board
    board.stop()


def test_model_survives_a_reset_of_the_virtual_board(board_1m, tmp_path):
    from ulearn_host.board import Board
    fresh_board = board_1m
    anomaly.prepare("basicmotions", tmp_path)
    learn = anomaly.LEARN.format(epochs=3, n_rff=32, n=20, gamma=0.1) + """
scores = []
d.detect(WindowFile('test.bin', spec), quiet=True, report=lambda i, s, bad: scores.append(s))
print(json.dumps({"scores": scores}))
"""
    with Board(fresh_board.port, timeout=120) as b:
        _push_and_files(b, tmp_path)
        before = anomaly.last_json(b.exec(learn, timeout=300))["scores"]
    fresh_board.restart()                                       # power cycle: RAM gone, flash kept
    with Board(fresh_board.port, timeout=120) as b:
        after = anomaly.last_json(b.exec(anomaly.DETECT, timeout=300))
    assert after["scores"] == before and len(before) == 8


def test_eval_on_a_board_matches_the_unix_port(board_1m, tmp_path):
    import subprocess
    import sys

    from ulearn_host.board import Board
    from ulearn_host.board.push import push
    with Board(board_1m.port, timeout=120) as b:
        push(b, ["lib"], progress=False)
    model = tmp_path / "lin.mpy"
    cli = [sys.executable, "-m", "ulearn_host"]
    r = subprocess.run([*cli, "train", "--model", "linear-svm", "--data", "basicmotions", "--out", str(model)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    results = []
    for extra in ([], ["--port", board_1m.port]):
        r = subprocess.run([*cli, "eval", str(model), "--data", "basicmotions", *extra], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    host, board = results
    assert board["target"] == board_1m.port and host["target"] == "unix-port"
    assert board["accuracy"] == host["accuracy"] and board["agreement"] == host["agreement"]


def test_fan_sim_learn_then_detect():
    res = anomaly.run_demo("fan-sim")
    assert res["simulated"]
    assert res["detection_rate"] >= 0.8, res                   # clogged, friction
    assert res["false_alarm_rate"] <= 0.1, res


LIVE = """
import json
from anomaly_detector.main import main
prof = {prof!r}
spec = {{"version": 1, "window": 64, "axes": 3, "rate_hz": 200.0, "hop": 32, "nfft": 64,
         "features": ["mean", "std", "ptp", "centroid", "band"], "bands": [[1, 8], [8, 33]], "magnitude": 3}}
learned = main("learn", spec=spec, n=10, profile=prof)
found = main("detect", spec=None, seconds=1.5, profile=prof)
print(json.dumps({{"learned": learned, "found": found}}))
"""


def test_live_learn_and_detect_on_the_simulated_lis3dh(tmp_path):
    """The app on the unix board profile: the real LIS3DH driver on the simulated chip, in real time."""
    import os
    import subprocess

    from ulearn_host import boards
    prof = boards.load("unix")
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in unixport.device_path(False, boards.device_sim_path()))
    out = subprocess.run([unixport.micropython_exe(), "-X", "heapsize=256k", "-c", LIVE.format(prof=prof)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    res = anomaly.last_json(out.stdout)
    assert res["learned"]["mode"] == "learn" and res["learned"]["threshold"] is not None
    assert res["found"]["mode"] == "detect" and res["found"]["windows"] >= 5
    assert "anomaly_detector: trained on 10 windows" in out.stdout
    assert (tmp_path / "anomaly.ulb").exists() and not (tmp_path / "anomaly.feat").exists()
