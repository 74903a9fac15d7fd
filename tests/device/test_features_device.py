"""Features on the device: windows with overlap, paths agree, bad windows refused, no allocation.

Runs under CPython and inside MicroPython (source and .mpy). Windows are generated here (a sine
plus a deterministic pseudo-random walk), so the file needs no data files.
"""

from array import array

from devtest import allocated, micropython_only, on_micropython, raises, skip

SPEC = {"version": 1, "window": 128, "axes": 3, "rate_hz": 200.0, "hop": 64, "nfft": 128,
        "features": ["mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band"],
        "bands": [[1, 8], [8, 20], [20, 65]], "magnitude": 3, "in_scale": [1000.0, 1000.0, 1000.0]}


def _window(seed=1, t=128, c=3, amp=3000):
    import math
    x = array("h", bytes(2 * t * c))
    s = seed
    walk = 0
    for i in range(t):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        walk += ((s >> 16) & 255) - 128
        for a in range(c):
            v = int(amp * math.sin(2 * math.pi * (5 + 7 * a) * i / 128.0)) + walk // 4 + 100 * a
            x[i * c + a] = max(-32000, min(32000, v))
    return x


def _extractor(path):
    from ulearn.features.extract import Extractor
    from ulearn.features.spec import FeatureSpec
    try:
        return Extractor(FeatureSpec(SPEC), path=path)
    except ImportError as e:
        skip("feature path %s not available here: %s" % (path, e))


def test_windower_overlap_keeps_order():
    from ulearn.features.window import Windower
    w = Windower(8, 2, 4)
    due = []
    out = array("h", bytes(2 * 16))
    for i in range(20):
        if w.push((i, -i)):
            due.append(i)
            w.copy_window(out)
            assert list(out) == [v for j in range(i - 7, i + 1) for v in (j, -j)]
            off = w.offset()
            assert [w.buf[(off + t) * 2] for t in range(8)] == list(range(i - 7, i + 1))
    assert due == [7, 11, 15, 19]


def test_dominant_frequency_and_band_of_a_sine():
    fx = _extractor("python")
    out = array("h", bytes(2 * fx.n_features))
    fx.compute(_window(amp=8000), out)
    per = fx.spec.per_channel
    names = fx.spec.feature_names()
    dom = names.index("ch0.dom")
    assert out[dom] == 5 << 4                      # 5 cycles per 128-sample window: bin 5, Q4
    assert out[names.index("ch1.dom")] == 12 << 4
    b0 = names.index("ch0.band0")                  # bins 1..7 hold the 5-cycle sine
    assert out[b0] > 4 * out[b0 + 1]
    assert per == 14 and fx.n_features == 4 * 14


def test_python_and_viper_paths_agree():
    py = _extractor("python")
    vp = _extractor("viper")
    a = array("h", bytes(2 * py.n_features))
    b = array("h", bytes(2 * py.n_features))
    for seed in range(1, 6):
        x = _window(seed, amp=500 * seed)
        py.compute(x, a)
        vp.compute(x, b)
        assert list(a) == list(b), seed


def test_wrong_window_length_or_axes_is_refused():
    fx = _extractor("python")
    out = array("h", bytes(2 * fx.n_features))
    with raises(ValueError, "window"):
        fx.compute(array("h", bytes(2 * 127 * 3)), out)
    with raises(ValueError, "out"):
        fx.compute(_window(), array("h", bytes(2 * 3)))
    from ulearn.features.spec import FeatureSpec
    with raises(ValueError, "axes"):
        FeatureSpec(dict(SPEC, axes=0))
    with raises(ValueError, "unknown feature"):
        FeatureSpec(dict(SPEC, features=["mean", "entropy"]))
    with raises(ValueError, "band"):
        FeatureSpec(dict(SPEC, bands=[[0, 4]]))


def test_saturated_and_nan_samples_are_refused():
    fx = _extractor("python")
    out = array("h", bytes(2 * fx.n_features))
    x = _window()
    x[30] = 32767
    with raises(ValueError, "saturated"):
        fx.compute(x, out)
    q = array("h", bytes(2 * 128 * 3))
    samples = [0.5] * (128 * 3)
    samples[7] = float("nan")
    with raises(ValueError, "NaN"):
        fx.quantize(samples, q)
    samples[7] = float("inf")
    with raises(ValueError, "NaN/inf"):
        fx.quantize(samples, q)
    samples[7] = 100.0                             # 100 * 1000 counts: clamps, then compute refuses
    fx.quantize(samples, q)
    assert q[7] == 32767
    with raises(ValueError, "saturated"):
        fx.compute(q, out)


def test_no_heap_allocated_per_window():
    micropython_only("gc.mem_alloc counts heap bytes only in MicroPython")
    x = _window()
    for path in ("python", "viper"):
        fx = _extractor(path)
        out = array("h", bytes(2 * fx.n_features))
        assert allocated(lambda fx=fx, out=out: fx.compute(x, out), 5) == 0, path


def test_windows_straight_from_the_ring_without_copy():
    from ulearn.features.window import Windower
    fx = _extractor("python")
    w = Windower(128, 3, 64)
    x = _window(3)
    a = array("h", bytes(2 * fx.n_features))
    b = array("h", bytes(2 * fx.n_features))
    sample = array("h", bytes(6))
    for _ in range(64):              # 64 old samples, then the 128 of the window
        w.push_from(x, 0)
    for i in range(128):
        for c in range(3):
            sample[c] = x[i * 3 + c]
        due = w.push(sample)
    assert due
    fx.compute(w.buf, a, w.offset())
    fx.compute(x, b)
    assert list(a) == list(b)
    if on_micropython:
        assert allocated(lambda: fx.compute(w.buf, a, w.offset()), 3) == 0
