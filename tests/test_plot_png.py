"""`ulearn plot`: every picture renders headless to a PNG of sensible size with real content."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread
from ulearn_host import plot
from ulearn_host.cli import main
from ulearn_host.data import fansim, load_dataset
from ulearn_host.errors import UlearnError


def _check_png(path, min_w=300, min_h=200):
    img = imread(str(path))
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (w, h)
    rgb = img[..., :3]
    ink = (rgb.mean(axis=2) < 0.9).mean()      # share of pixels that are not (near) white
    q = (rgb.reshape(-1, 3) * 255).astype(np.int32)
    colors = len(np.unique(q[:, 0] << 16 | q[:, 1] << 8 | q[:, 2]))
    assert ink > 0.01, f"{path} looks blank ({ink:.3%} ink)"
    assert colors > 20, f"{path} has only {colors} colours"
    return img


@pytest.fixture(scope="module")
def fan():
    return load_dataset("fan-sim")


def test_dataset_pictures(tmp_path, fan):
    for name, fig in [("signals", plot.plot_signals(fan)), ("spectra", plot.plot_spectra(fan)),
                      ("features", plot.plot_features(fan, ["std", "dominant_hz", "zero_cross_rate"])),
                      ("digits", plot.plot_signals(load_dataset("digits")))]:
        _check_png(plot.save(fig, tmp_path / f"{name}.png"))


def test_spectrogram_shows_the_rotor_line(tmp_path):
    x = fansim.simulate("on", 10.0, seed=0)
    fig = plot.plot_spectrogram(x, fansim.RATE_HZ, channel=0, channel_name="acc_x")
    _check_png(plot.save(fig, tmp_path / "spec.png"))
    f, p = plot.mean_spectra(x[None, :, :], fansim.RATE_HZ)
    assert 15.0 <= f[np.argmax(p[:, 0])] <= 18.5   # the 1x rotor line dominates the picture


def test_window_features_known_values():
    t = np.arange(200) / 200.0
    X = np.stack([np.sin(2 * np.pi * 25 * t), 3 + 0 * t], axis=1)[None].astype(np.float32)
    v = plot.window_features(X, 200.0)
    assert v["dominant_hz"][0, 0] == 25.0
    assert v["mean"][0, 1] == pytest.approx(3.0) and v["std"][0, 1] == pytest.approx(0.0, abs=1e-6)
    assert v["ptp"][0, 0] == pytest.approx(2.0, abs=0.01)
    assert v["zero_cross_rate"][0, 0] == pytest.approx(50 / 199, abs=0.02)


def test_confusion_scores_layers(tmp_path):
    m = plot.confusion_from_labels([0, 0, 1, 1, 2], [0, 1, 1, 1, 2], 3)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    _check_png(plot.save(plot.plot_confusion(m, ["a", "b", "c"]), tmp_path / "c.png"))
    s = np.r_[np.ones(50), -np.ones(10), np.ones(40)]
    _check_png(plot.save(plot.plot_scores(s, 0.0, 2.0, labels=(s < 0).astype(int)), tmp_path / "s.png"))
    layers = [{"name": "conv1", "latency_us": 800, "arena_bytes": 4096},
              {"name": "dense", "latency_ms": 0.2, "arena_bytes": 64, "cycles": 12000}]
    _check_png(plot.save(plot.plot_layers(layers), tmp_path / "l.png"))


def test_bad_inputs_raise_clear_errors(fan):
    with pytest.raises(UlearnError, match="square"):
        plot.plot_confusion([[1, 2, 3]])
    with pytest.raises(UlearnError, match="class names"):
        plot.plot_confusion([[1, 0], [0, 1]], ["a"])
    with pytest.raises(UlearnError, match="finite"):
        plot.plot_scores([1.0, float("nan")])
    with pytest.raises(UlearnError, match="no time"):
        plot.plot_layers([{"name": "x", "params": 3}])
    with pytest.raises(UlearnError, match="unknown feature"):
        plot.plot_features(fan, ["loudness"])
    with pytest.raises(UlearnError, match="no class"):
        plot.plot_signals(fan, ["broken"])
    with pytest.raises(UlearnError, match="time series"):
        plot.plot_spectra(load_dataset("digits"))


def test_results_are_found_at_any_depth():
    result = {"model": "m", "host": {"classes": ["a", "b"], "confusion": [[3, 1], [0, 4]]},
              "board": {"confusion_matrix": [[2, 2], [1, 3]]}, "classes": ["a", "b"],
              "bench": [{"layers": [{"name": "c", "latency_us": 1}]}],
              "ocsvm": {"scores": [0.5, -0.1], "threshold": 0.1, "rate_hz": 4}}
    conf = plot.confusions_in(result)
    assert [(w, n) for w, _, n in conf] == [("host.confusion", ["a", "b"]), ("board.confusion_matrix", ["a", "b"])]
    assert [w for w, _ in plot.layers_in(result)] == ["bench[0].layers"]
    (where, s, thr, rate, labels), = plot.scores_in(result)
    assert where == "ocsvm.scores" and s.tolist() == [0.5, -0.1] and thr == 0.1 and rate == 4.0 and labels is None


def test_cli_plots_every_kind(tmp_path, capsys):
    ev = tmp_path / "eval.json"
    ev.write_text("progress...\n" + json.dumps({"classes": ["x", "y"], "confusion": [[5, 1], [2, 6]]}) + "\n")
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"nn_speed": {"layers": [{"name": "conv", "latency_us": 10, "arena_bytes": 8}]}}))
    sc = tmp_path / "scores.npz"
    np.savez(sc, scores=np.linspace(-1, 1, 50), threshold=np.float64(0.2), rate_hz=np.float64(5))
    rec = tmp_path / "rec.npz"
    np.savez(rec, X=fansim.simulate("friction", 3.0, seed=1), rate_hz=np.float64(200),
             channels=np.array(fansim.CHANNELS), simulated=np.bool_(True))
    recorded = tmp_path / "recorded.npz"   # the layout `ulearn record` writes: windows, labels, raw counts
    counts = np.round(fansim.simulate("on", 3.0, seed=2) / (fansim.G * 0.001)).astype(np.int16)
    np.savez(recorded, X=counts[:256].reshape(2, 128, 3) * np.float32(0.001), y=np.array([0, 0]),
             classes=np.array(["on"]), channels=np.array(["x", "y", "z"]), rate_hz=np.float64(200),
             units=np.str_("g"), raw=counts, scale=np.float64(0.001))
    jobs = [["signals", "fan-sim"], ["spectrum", "fan-sim", "--classes", "on,clogged"],
            ["features", "fan-sim", "--features", "std,centroid_hz", "--channels", "acc_x"],
            ["spectrogram", "fan-sim", "--cls", "clogged", "--channel", "acc_y"],
            ["signals", str(rec)], ["spectrogram", str(rec), "--channel", "2", "--nfft", "64"],
            ["confusion", str(ev)], ["layers", str(bench)], ["scores", str(sc)], ["signals", "digits"],
            ["spectrogram", str(recorded), "--raw", "--channel", "z"]]
    for i, job in enumerate(jobs):
        out = tmp_path / f"{i}-{job[0]}.png"
        assert main(["plot", *job, "-o", str(out)]) == 0, job
        assert capsys.readouterr().out.strip() == str(out)
        _check_png(out, min_w=250, min_h=150)


@pytest.mark.parametrize("job, message", [
    (["confusion", "missing.json"], "no such file"),
    (["layers", "{eval}"], "no per-layer lists"),
    (["confusion", "{eval}", "--pick", "3"], "out of range"),
    (["spectrum", "{rec}"], "one continuous recording"),
    (["spectrogram", "fan-sim"], "needs --cls"),
    (["spectrogram", "fan-sim", "--cls", "on", "--channel", "acc_q"], "no channel"),
    (["signals", "nothing-like-this"], "unknown dataset"),
    (["signals", "{rec}", "--raw"], "no raw samples"),
])
def test_cli_errors(tmp_path, capsys, job, message):
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"classes": ["x", "y"], "confusion": [[5, 1], [2, 6]]}))
    rec = tmp_path / "rec.npz"
    np.savez(rec, X=np.zeros((100, 3), np.float32), rate_hz=np.float64(200))
    job = [a.format(eval=ev, rec=rec) for a in job]
    assert main(["plot", *job, "-o", str(tmp_path / "x.png")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_layers_from_the_bench_columnar_layout(tmp_path):
    """`ulearn bench nn --json` keeps layer names in a list and per-layer numbers in lists beside it."""
    bench = {"nn_speed": {"models": {"fan": {
        "layers": ["conv", "max_pool", "dense"], "layer_macs": [30000, 0, 2000], "arena_bytes": 2520,
        "backends": {"python": {"us": 900.0, "layer_us": [700.0, 50.0, 150.0], "output": "00"},
                     "native": {"us": 30.0, "layer_us": [20.0, 4.0, 6.0], "output": "00"},
                     "ulab": {"error": "no ulab interpreter"}}}}}}
    (where, rows), = plot.layers_in(bench)
    assert where == "nn_speed.models.fan.layers"
    assert rows[0] == {"name": "conv", "layer_macs": 30000, "python_layer_us": 700.0, "native_layer_us": 20.0}
    _check_png(plot.save(plot.plot_layers(rows, title=where), tmp_path / "bench.png"))
    assert plot.layers_in({"layers": ["a", "b"]}) == []          # names without numbers: nothing to plot
