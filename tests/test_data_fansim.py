"""fan-sim: the SIMULATED recordings carry the physics the docs promise, and the classes are learnable
from spectra but not separable by any single statistic."""

from __future__ import annotations

import numpy as np
import pytest
from ulearn_host.data import fansim, load_dataset
from ulearn_host.errors import UlearnError

RATE = fansim.RATE_HZ


def _psd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum over axes x, y of a recording (Hann window, DC removed)."""
    x = x - x.mean(axis=0)
    w = np.hanning(len(x))[:, None]
    p = (np.abs(np.fft.rfft(x * w, axis=0)) ** 2)[:, :2].sum(axis=1)
    return np.fft.rfftfreq(len(x), 1 / RATE), p


def _peak(f, p, lo, hi):
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(p[band])])


def test_simulate_is_deterministic_and_shaped():
    a = fansim.simulate("on", 2.0, seed=5)
    assert a.shape == (400, 3) and a.dtype == np.float32
    assert np.array_equal(a, fansim.simulate(1, 2.0, seed=5))
    assert not np.array_equal(a, fansim.simulate("on", 2.0, seed=6))
    with pytest.raises(UlearnError, match="no class"):
        fansim.simulate("broken", 1.0)
    with pytest.raises(UlearnError, match="seconds > 0"):
        fansim.simulate("on", 0.0)


def test_gravity_on_z_and_quantized_to_1mg():
    for cls in fansim.CLASSES:
        x = fansim.simulate(cls, 4.0, seed=1).astype(np.float64)
        assert abs(x[:, 2].mean() - fansim.G) < 0.05 * fansim.G
        assert abs(x[:, 0].mean()) < 0.1 * fansim.G
        steps = x / fansim.LSB
        assert np.allclose(steps, np.round(steps), atol=1e-3)


def test_rotor_harmonics_and_blade_pass():
    for seed in range(3):
        x = fansim.simulate("on", 20.0, seed=seed)
        f, p = _psd(x)
        f1 = _peak(f, p, 12.0, 20.0)           # 1x rotor (imbalance) is the strongest line
        assert _peak(f, p, 3.0, 99.0) == pytest.approx(f1, abs=0.3)
        assert _peak(f, p, 2 * f1 - 1, 2 * f1 + 1) == pytest.approx(2 * f1, abs=0.5)
        bpf = _peak(f, p, 5 * f1 - 2, 5 * f1 + 2)
        assert bpf == pytest.approx(5 * f1, abs=0.8)
        floor = np.median(p[(f > 40) & (f < 60)])
        assert p[np.abs(f - bpf) < 0.3].max() > 30 * floor


def test_off_has_no_rotor():
    x = fansim.simulate("off", 10.0, seed=2)
    assert (x[:, :2] - x[:, :2].mean(0)).std() < 0.04   # background + sensor noise only


def test_clogging_lowers_speed_and_friction_adds_broadband():
    speeds = {c: [] for c in ("on", "clogged")}
    hf = {c: [] for c in ("on", "friction")}
    for seed in range(6):
        for c, found in speeds.items():
            f, p = _psd(fansim.simulate(c, 10.0, seed=seed))
            found.append(_peak(f, p, 12.0, 20.0))
        for c, ratios in hf.items():
            f, p = _psd(fansim.simulate(c, 10.0, seed=seed))
            f1 = _peak(f, p, 12.0, 20.0)
            # broadband between the harmonic lines, relative to the 1x line
            between = (f > 25) & (f < 90) & (np.min(np.abs(f[:, None] - f1 * np.arange(1, 6)), axis=1) > 2)
            ratios.append(np.median(p[between]) / p[np.abs(f - f1) < 0.3].max())
    assert np.mean(speeds["clogged"]) < np.mean(speeds["on"]) - 1.0
    assert min(hf["friction"]) > 3 * max(hf["on"])


def test_nothing_aliases_above_95hz():
    """Above 0.95 x Nyquist only white sensor noise remains (no folded harmonics)."""
    noise_psd = fansim.NOISE_RMS ** 2   # per-bin level scale for white noise of this rms
    for cls in fansim.CLASSES:
        x = fansim.simulate(cls, 20.0, seed=3).astype(np.float64)
        x = x - x.mean(axis=0)
        spec = np.abs(np.fft.rfft(x[:, 0])) ** 2 / len(x)
        f = np.fft.rfftfreq(len(x), 1 / RATE)
        top = spec[(f > 96) & (f < 100)]
        # white noise of rms s gives E|X_k|^2 / N = s^2 (+ quantization noise ~ LSB^2/12)
        level = noise_psd + fansim.LSB ** 2 / 12
        assert top.mean() < 1.6 * level, cls
        assert top.max() < 12 * level, cls


def test_windows():
    rec = np.arange(30, dtype=np.float32).reshape(10, 3)
    w = fansim.windows(rec, 4)
    assert w.shape == (2, 4, 3) and w[1, 0, 0] == 12
    assert fansim.windows(rec, 4, hop=2).shape == (4, 4, 3)
    with pytest.raises(UlearnError):
        fansim.windows(rec, 11)


def _stats(X):
    Xc = X - X.mean(axis=1, keepdims=True)
    p = (np.abs(np.fft.rfft(Xc * np.hanning(X.shape[1])[None, :, None], axis=1)) ** 2).sum(axis=2)
    f = np.fft.rfftfreq(X.shape[1], 1 / RATE)
    rms = np.sqrt((Xc ** 2).mean(axis=1))
    return {"rms": np.sqrt((rms ** 2).sum(axis=1)), "rms_z": rms[:, 2], "dominant_hz": f[p.argmax(axis=1)],
            "centroid_hz": (p * f).sum(axis=1) / p.sum(axis=1),
            "above_25hz": p[:, f > 25].sum(axis=1) / p.sum(axis=1)}


def test_learnable_from_spectra_but_not_from_one_statistic():
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    ds = load_dataset("fan-sim")
    tr, te = _stats(ds.X), _stats(ds.X_test)
    for name in tr:  # best split of one statistic into up to 4 intervals
        tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(tr[name][:, None], ds.y)
        assert tree.score(te[name][:, None], ds.y_test) < 0.75, name

    def bands(X):
        s = np.abs(np.fft.rfft(X - X.mean(axis=1, keepdims=True), axis=1))
        return np.log1p(s[:, 1:].reshape(len(X), 16, 4, 3).sum(axis=2).reshape(len(X), -1))

    clf = LogisticRegression(max_iter=3000).fit(bands(ds.X), ds.y)
    assert clf.score(bands(ds.X_test), ds.y_test) > 0.9
