"""`ulearn bench <what> --quick` runs end to end and its JSON says the paths agree.

The benchmarks run device code of their own (argument lists, layer programs) that no other test
executes; an API change once left `ulearn bench gemm` raising TypeError unnoticed. Speeds are printed,
never asserted: only exit status, structure and the identities every bench already checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(what: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{what}.json"
    proc = subprocess.run([sys.executable, "-m", "ulearn_host", "bench", what, "--quick", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_bench_gemm_every_backend_gives_the_reference_integers(tmp_path):
    backends = _bench("gemm", tmp_path)["gemm"]["backends"]
    ran = {name: row for name, row in backends.items() if "us" in row}
    assert {"python", "viper"} <= set(ran), backends
    for name, row in ran.items():
        assert row["identical"] is True, name
    for name in ("python", "viper", "native"):  # ulab allocates its results: printed, not a target
        if name in ran:
            assert ran[name]["alloc_bytes_per_call"] == 0, name


def test_bench_nn_backends_agree_and_int8_meets_the_accuracy_targets(tmp_path):
    result = _bench("nn", tmp_path)
    for model, m in result["nn_speed"]["models"].items():
        outputs = {name: tuple(b["output"]) for name, b in m["backends"].items() if "output" in b}
        assert "python" in outputs and len(set(outputs.values())) == 1, (model, outputs)
    for name, acc in result["nn_accuracy"].items():
        assert acc["tflm_bit_exact"] == 1.0, name
        assert acc["delta_points"] >= -0.5, name
        if acc.get("target_int8"):
            assert acc["int8_accuracy"] >= acc["target_int8"], name


def test_bench_features_host_and_device_agree(tmp_path):
    assert _bench("features", tmp_path)["features"]["host_vs_device_max_lsb_basicmotions_test"] == 0


def test_bench_svm_fixed_point_agrees_with_scikit_learn(tmp_path):
    svm = _bench("svm", tmp_path)["svm"]
    for model in ("svm", "linear-svm"):
        assert svm[model]["agreement"] == 1.0, model
        assert svm[model]["accuracy"] >= 0.95, model


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
