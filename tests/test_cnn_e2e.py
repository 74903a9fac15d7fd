"""End to end on small data: ulearn train (PyTorch) -> quantize -> blob -> device runtime in MicroPython."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs PyTorch: run `make setup`")
pytest.importorskip("tflite_micro", reason="needs the tflite-micro package: run `make setup`")

from ulearn_host import cli  # noqa: E402
from ulearn_host.data import load_dataset  # noqa: E402


def _npz(tmp_path):
    """A small SIMULATED-by-our-code 1-D dataset: 3 classes of noisy tones on 2 channels, 48 samples."""
    rng = np.random.default_rng(0)
    t = np.arange(48) / 48.0
    y = np.repeat(np.arange(3), 30)
    X = np.stack([np.stack([np.sin(2 * np.pi * (2 + 3 * k) * t + rng.uniform(0, 6)),
                            9.8 + 0.3 * np.cos(2 * np.pi * (2 + 3 * k) * t)], axis=1) for k in y])
    X = (X + 0.1 * rng.normal(size=X.shape)).astype(np.float32)
    path = tmp_path / "tones.npz"
    np.savez(path, X=X, y=y)
    return path


def _main(args, capsys):
    status = cli.main(args)
    out = capsys.readouterr()
    assert status == 0, out.err
    return out.out


def test_train_eval_quantize_npz(tmp_path, capsys):
    data = str(_npz(tmp_path))
    out = tmp_path / "tones.mpy"
    text = _main(["train", "--data", data, "--model", "cnn", "--epochs", "25", "--out", str(out)], capsys)
    assert "int8" in text
    for suffix in (".mpy", ".ulb", ".tflite", ".pt"):
        assert out.with_suffix(suffix).exists()
    line = _main(["eval", str(out), "--data", data], capsys).strip()
    assert "\n" not in line
    res = json.loads(line)
    assert set(res) >= {"n", "accuracy", "float_accuracy", "bit_exact", "params", "blob_bytes", "peak_heap"}
    assert res["bit_exact"] is True and res["bit_exact_checks"] == {"tflite_micro": True, "micropython": True}
    assert res["n"] == len(load_dataset(data).y_test)
    assert res["accuracy"] >= 0.9 and res["float_accuracy"] >= 0.9
    assert res["blob_bytes"] <= 1.1 * res["params"] + 2500
    assert 0 < res["peak_heap"] < 64 * 1024
    # the .tflite written beside the blob is the same model: bit-exact on the test windows
    from ulearn_host.nn import reference
    from ulearn_host.tflite.micro import MicroReference
    from ulearn_host.train import cnn
    model = cnn.model_from_blob(out.with_suffix(".ulb").read_bytes())
    q = model.quantize_input(load_dataset(data).X_test)
    assert np.array_equal(MicroReference(out.with_suffix(".tflite").read_bytes()).run_batch(q),
                          reference.run_batch(model, q).reshape(len(q), -1))
    rep = json.loads(_main(["quantize", str(out.with_suffix(".pt")), "--json", "--calib", "20",
                            "--out", str(tmp_path / "q.mpy")], capsys))
    assert rep["calibration"] == 20 and abs(rep["int8_accuracy"] - res["accuracy"]) <= 0.2
    assert (tmp_path / "q.tflite").exists()


def test_digits_conv2d_end_to_end(tmp_path, capsys):
    out = tmp_path / "digits.mpy"
    _main(["train", "--data", "digits", "--model", "cnn", "--epochs", "2", "--out", str(out)], capsys)
    res = json.loads(_main(["eval", str(out), "--data", "digits", "--limit", "25"], capsys))
    assert res["n"] == 25 and res["bit_exact"] is True
    assert res["accuracy"] > 0.5


def test_errors_say_what_to_do(tmp_path, capsys):
    data = str(_npz(tmp_path))
    out = tmp_path / "tones.mpy"
    _main(["train", "--data", data, "--model", "cnn", "--epochs", "1", "--out", str(out)], capsys)
    other = tmp_path / "other.npz"
    np.savez(other, X=np.zeros((8, 20, 2), np.float32), y=np.arange(8) % 2)
    assert cli.main(["eval", str(out), "--data", str(other)]) == 1
    assert "takes inputs of shape (48, 2)" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert cli.main(["quantize", str(bad), "--data", data]) == 1
    assert "ulearn train --model cnn" in capsys.readouterr().err
    short = tmp_path / "short.npz"
    np.savez(short, X=np.zeros((8, 10, 2), np.float32), y=np.arange(8) % 2)
    assert cli.main(["train", "--data", str(short), "--model", "cnn", "--out", str(tmp_path / "s.mpy")]) == 1
    assert "too short" in capsys.readouterr().err


def test_eval_on_a_virtual_board(tmp_path, capsys, virtual_board):
    data = str(_npz(tmp_path))
    out = tmp_path / "tones.mpy"
    _main(["train", "--data", data, "--model", "cnn", "--epochs", "10", "--out", str(out)], capsys)
    _main(["push", "--port", virtual_board.port, "-q"], capsys)
    res = json.loads(_main(["eval", str(out), "--data", data, "--limit", "12", "--port", virtual_board.port],
                           capsys))
    assert res["n"] == 12
    assert res["bit_exact_checks"] == {"tflite_micro": True, "micropython": True, "board": True}
    assert res["board_accuracy"] == res["accuracy"] and res["board_peak_heap"] > 0
