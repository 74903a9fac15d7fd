"""The ulab feature path against the pure-Python Q15 path, inside a ulab-enabled MicroPython.

The standard harness runs this file under CPython and the PyPI unix port, where ulab is absent and
every test skips; tests/test_features_ulab.py runs it again in the ulab build
(.cache/micropython-ulab/micropython or $ULEARN_MICROPYTHON). Windows are simulated here
(deterministic sines, pseudo-random walks, spikes, offsets): time-domain features and the magnitude
channel must be equal; dom equal on windows with a clear peak; centroid and band close: the Q15
path quantizes its powers (p >> sc per window, p >> sb per band, then the band root << (sb/2 - sl))
and the ulab path does not, so on loud windows they differ by up to about twice that quantum (band:
8 LSB for nfft <= 128, 16 for 256; centroid 2 LSB); on the real windows of
tests/test_features_ulab.py both are within 1 LSB.
"""

from array import array

from devtest import allocated, on_micropython, raises, skip

ALL = ["mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band"]
SPECTRAL = ("dom", "centroid", "band")


def _spec(window=128, axes=3, nfft=None, magnitude=3, features=None, bands=None, hop=None):
    n = nfft or 1
    while n < window:
        n *= 2
    return {"version": 1, "window": window, "axes": axes, "rate_hz": 100.0, "hop": hop or window, "nfft": n,
            "features": features or ALL, "bands": bands or [[1, 4], [4, 12], [12, n // 2 + 1]],
            "magnitude": magnitude}


def _extractors(spec):
    try:
        import ulab  # noqa: F401
    except ImportError:
        skip("no ulab in this interpreter: tests/test_features_ulab.py runs this file in the ulab build "
             "(.cache/micropython-ulab/micropython or ULEARN_MICROPYTHON)")
    from ulearn.features.extract import Extractor
    from ulearn.features.spec import FeatureSpec
    s = FeatureSpec(spec)
    return Extractor(s, path="ulab"), Extractor(s, path="python")


def _window(t, c, seed, amp, walk=64, offset=0, period=9):
    """Simulated: a sine per axis (period `period` + 3 a samples) plus a pseudo-random walk."""
    import math
    x = array("h", bytes(2 * t * c))
    s = seed
    w = 0
    for i in range(t):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        w += ((s >> 16) & 255) - 128
        for a in range(c):
            v = offset + int(amp * math.sin(2 * math.pi * i / (period + 3 * a) + a)) + (w * walk) // 128
            x[i * c + a] = max(-32766, min(32766, v))
    return x


def _compare(spec, windows, check_dom=True):
    fu, fp = _extractors(spec)
    names = fu.spec.feature_names()
    quantum = 8 if fu.spec.nfft <= 128 else 16      # 2 * 2^(sb/2), 2^sb <= width of a band
    ou = array("h", bytes(2 * fu.n_features))
    op = array("h", bytes(2 * fu.n_features))
    for k, x in enumerate(windows):
        if isinstance(x, tuple):
            x = _window(*x)                              # made one at a time: the heap is small
        fu.compute(x, ou)
        fp.compute(x, op)
        for j, name in enumerate(names):
            kind = name.split(".")[1].rstrip("0123456789")
            d = abs(ou[j] - op[j])
            if kind == "centroid":
                assert d <= 2, (k, name, ou[j], op[j])
            elif kind == "band":
                assert d <= quantum, (k, name, ou[j], op[j])
            elif kind != "dom" or check_dom:
                assert d == 0, (k, name, ou[j], op[j])


def test_ulab_equals_q15_on_windows_of_every_range():
    # ranges from a few counts (no shift) to ~60000 (shift 6, ptp saturates, the FFT input clamps)
    spec = _spec()
    wins = [_window(128, 3, seed, amp, walk) for seed, amp, walk in
            ((1, 200, 4), (2, 3000, 64), (3, 9000, 300), (4, 16000, 0), (5, 29000, 40), (6, 500, 2000))]
    _compare(spec, wins)


def test_ulab_equals_q15_on_edge_windows():
    spec = _spec(window=64, axes=3, bands=[[1, 3], [3, 33]])
    t = 64
    spike = array("h", bytes(2 * t * 3))
    spike[20 * 3 + 1] = 1                             # one spike on a zero channel: kurt saturates
    spike[7 * 3 + 2] = -3
    const = array("h", [1234, -77, 0] * t)            # constant channels: std, skew, kurt 0
    big = _window(t, 3, 9, 12000, 8, offset=18000)    # |mean| > 16384: the shifted rms
    full = _window(t, 3, 11, 32000, 0)                # the magnitude channel saturates at 32767
    _compare(spec, [spike, const, big, full], check_dom=False)


def test_ulab_equals_q15_on_other_shapes():
    # window not a power of two (sums over zero-padded rows), nfft > window, one axis, no magnitude,
    # a magnitude of 2 of 4 axes, a subset of the features in another order
    for spec in (_spec(window=100, axes=6), _spec(window=8, axes=2, magnitude=2, bands=[[1, 3], [3, 5]]),
                 _spec(window=200, axes=1, nfft=256, magnitude=0, bands=[[2, 9], [9, 129]]),
                 _spec(window=48, axes=4, magnitude=2, features=["kurt", "band", "zcr", "mean", "skew", "rms"]),
                 _spec(window=32, axes=3, magnitude=0, features=["std", "ptp", "zcr"])):
        t, c = spec["window"], spec["axes"]
        _compare(spec, [_window(t, c, s, a, w) for s, a, w in ((21, 7000, 30), (22, 600, 900))],
                 check_dom=t >= 48)


def test_ulab_refuses_a_saturated_window():
    fu, _ = _extractors(_spec())
    x = _window(128, 3, 1, 3000)
    x[40 * 3 + 2] = 32767
    out = array("h", bytes(2 * fu.n_features))
    with raises(ValueError, "axis 2 is saturated"):
        fu.compute(x, out)


def test_ulab_heap_per_window_is_bounded():
    fu, _ = _extractors(_spec())
    if not on_micropython:
        skip("gc.mem_alloc needs MicroPython")
    x = _window(128, 3, 3, 5000)
    out = array("h", bytes(2 * fu.n_features))
    per = allocated(lambda: fu.compute(x, out), 4) // 4
    assert 0 < per <= 24 * 1024, per                  # ulab allocates per call; measured ~21 KB


def test_ulab_equals_q15_on_many_simulated_windows():
    # 40 simulated windows, amplitude, walk and offset drawn by an LCG (dom skipped: ties happen)
    s = 7
    wins = []
    for k in range(40):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        amp = 20 + (s >> 8) % 30000
        walk = (s >> 4) % 3000
        offset = ((s >> 12) % 40001) - 20000
        wins.append((128, 3, k + 100, amp, walk, offset, 3 + k % 29))
    _compare(_spec(), wins, check_dom=False)
