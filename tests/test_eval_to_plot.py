"""`ulearn train` → `ulearn eval --port` (virtual board) → `ulearn plot confusion`: the CLI chain a user follows."""

from __future__ import annotations

import json
import subprocess
import sys


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "ulearn_host", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_eval_json_has_a_confusion_matrix_that_plots(tmp_path, virtual_board):
    model = tmp_path / "bm.mpy"
    cli("push", "--port", virtual_board.port, "-q")
    cli("train", "--data", "basicmotions", "--model", "linear-svm", "--out", str(model))
    line = cli("eval", str(model), "--data", "basicmotions", "--port", virtual_board.port).strip().splitlines()[-1]
    result = json.loads(line)
    assert result["classes"] == ["standing", "walking", "running", "badminton"]
    matrix = result["confusion"]
    assert sum(map(sum, matrix)) == result["n"]
    assert sum(matrix[i][i] for i in range(4)) / result["n"] == result["accuracy"]
    (tmp_path / "eval.json").write_text(line)
    cli("plot", "confusion", str(tmp_path / "eval.json"), "-o", str(tmp_path / "confusion.png"))
    png = (tmp_path / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
