"""Classroom labs (labs/*.ipynb) execute top to bottom against a virtual board, and say what they should.

Each notebook runs in a fresh Jupyter kernel (nbclient) in a scratch folder, with ULEARN_PORT pointing
at a virtual board of this module's own (lab 1 installs a board profile and a recording to replay,
which should not leak into other tests' board). The checks read the numbers the notebook prints.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def lab_board(tmp_path_factory):
    from conftest import VirtualBoardProcess

    board = VirtualBoardProcess(tmp_path_factory.mktemp("labs-board")).start()
    yield board
    board.stop()


def _execute(name: str, board, tmp_path: Path, monkeypatch) -> tuple[str, list[dict]]:
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed: run `make setup`")
    import nbformat

    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(LABS / name, work / name)
    monkeypatch.setenv("ULEARN_PORT", board.port)
    monkeypatch.delenv("ULEARN_BOARD", raising=False)
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'host_tools'}:{ROOT / 'lib'}")
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(work / name, as_version=4)
    # IPC sockets in the scratch folder: no TCP port races with other kernels on a shared machine
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(work / "kernel"))
    client = nbclient.NotebookClient(nb, km=km, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        plain = ANSI.sub("", str(e))
        pytest.fail(f"{name} failed in a cell:\n{plain[-3000:]}")
    text, outputs = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            outputs.append(out)
            if out.get("output_type") == "stream":
                text.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                text.append(out["data"]["text/plain"])
    return "\n".join(text), outputs


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"the notebook did not print {pattern!r}; it printed:\n{text[-3000:]}"
    return float(m.group(1))


def _images(outputs: list[dict]) -> int:
    return sum(1 for o in outputs if "image/png" in o.get("data", {}))


def test_every_lab_is_tested():
    tested = {"lab1_log_accelerometer.ipynb", "lab2_fft_features.ipynb", "lab3_svm_on_board.ipynb",
              "lab4_anomaly_on_board.ipynb", "lab5_int8_cnn.ipynb"}
    assert {p.name for p in LABS.glob("*.ipynb")} == tested


def test_lab1_log_accelerometer(lab_board, tmp_path, monkeypatch):
    text, outputs = _execute("lab1_log_accelerometer.ipynb", lab_board, tmp_path, monkeypatch)
    assert "profile unix" in text
    samples = _number(r"(\d+) samples x 3 axes at 200 Hz", text)
    assert 900 <= samples <= 1100                          # 5 s at 200 Hz
    assert "dropped frames: 0" in text and "simulated: True" in text
    assert _number(r"gravity: \|mean\| = ([\d.]+) g", text) == pytest.approx(1.0, abs=0.05)
    assert 14.5 <= _number(r"strongest vibration on x: ([\d.]+) Hz", text) <= 19.0   # fan-sim "on" rotor speed
    assert _images(outputs) >= 3
    assert (tmp_path / "lab" / "lab1.npz").is_file() and (tmp_path / "lab" / "lab1-spectrum.png").is_file()


def test_lab2_fft_features(lab_board, tmp_path, monkeypatch):
    text, outputs = _execute("lab2_fft_features.ipynb", lab_board, tmp_path, monkeypatch)
    assert "matches np.fft.rfft: True" in text
    assert "identical: True" in text                        # board integers == host integers
    dom_hand = _number(r"on\s+dominant\s+([\d.]+) Hz", text)
    dom_ulearn = _number(r"on\s+x: rms [\d.]+ m/s\^2, dominant\s+([\d.]+) Hz", text)
    assert 14.5 <= dom_hand <= 19.0 and dom_ulearn == pytest.approx(dom_hand, abs=1.6)   # one bin
    assert _images(outputs) >= 2


def test_lab5_int8_cnn(lab_board, tmp_path, monkeypatch):
    text, outputs = _execute("lab5_int8_cnn.ipynb", lab_board, tmp_path, monkeypatch)
    acc_float = _number(r"accuracy on 288 test windows: float ([\d.]+)", text)
    acc_int8 = _number(r"accuracy on 288 test windows: float [\d.]+, int8 ([\d.]+)", text)
    assert acc_float > 0.8 and abs(acc_float - acc_int8) < 0.03        # 6 epochs; int8 within 3 points
    assert _number(r"same decision on ([\d.]+)%", text) > 95
    assert _number(r"float32 (\d+) bytes", text) > 3 * _number(r"int8 blob (\d+) bytes", text)
    board = re.search(r"board: class (\w+), probabilities (.*)", text)
    host = re.search(r"host : class (\w+), probabilities (.*)", text)
    assert board and host and board.groups() == host.groups()        # same class, same probabilities
    assert "bit-exact with the host and TFLite Micro: True" in text
    assert _number(r"board accuracy on 48 windows: ([\d.]+)", text) > 0.8
    assert _images(outputs) >= 2


def test_lab3_svm_on_board(lab_board, tmp_path, monkeypatch):
    text, outputs = _execute("lab3_svm_on_board.ipynb", lab_board, tmp_path, monkeypatch)
    for kind in ("linear-svm", "svm"):
        m = re.search(rf"{kind}\s*: host ([\d.]+) on 288 windows \(same decision as scikit-learn: (\d+)%\); "
                      rf"board ([\d.]+) on 48 \(agreement (\d+)%\)", text)
        assert m, text[-3000:]
        host, host_agree, board, board_agree = (float(g) for g in m.groups())
        assert host > 0.85 and board > 0.8 and host_agree == board_agree == 100
    assert _number(r"the board names the right state for ([\d.]+)%", text) > 75
    assert _images(outputs) >= 1


def test_lab4_anomaly_on_board(lab_board, tmp_path, monkeypatch):
    text, outputs = _execute("lab4_anomaly_on_board.ipynb", lab_board, tmp_path, monkeypatch)
    assert "anomaly_detector: trained on 192 windows" in text
    assert _number(r"detection rate ([\d.]+)% of abnormal windows", text) > 70
    assert _number(r"false alarms on ([\d.]+)% of normal windows", text) < 20
    assert _images(outputs) >= 1
