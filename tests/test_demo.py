"""`make demo` end to end on a virtual board (fewer training epochs), as a new user runs it."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end():
    proc = subprocess.run([sys.executable, "-m", "ulearn_host.demo", "--epochs", "4"], capture_output=True,
                          text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    for step in range(1, 9):
        assert f"=== {step}." in out, f"demo step {step} missing"
    assert "runtime: micropython" in out
    assert '"bit_exact": true' in out
    assert out.count("fan_monitor: ") >= 12          # live windows classified on the board
    assert "anomaly_detector: trained on 40 windows" in out
    assert out.count("anomaly_detector: mode detect") == 3
    assert out.rstrip().endswith("ulearn demo: done.")
