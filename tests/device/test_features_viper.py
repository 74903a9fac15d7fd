"""The viper feature path (one viper call per window) gives the pure-Python integers bit for bit.

Runs inside MicroPython (source and .mpy; under CPython viper is absent and the tests skip) and, via
tests/test_features_viper32.py, inside a 32-bit MicroPython (32-bit viper words, as on Cortex-M).
Windows are generated here (sines, random walks, noise, spikes, constant and near-full-scale axes),
so the file needs no data files.
"""

import math
from array import array

from devtest import allocated, micropython_only, raises, skip

ALL = ["mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band"]

SPECS = (
    {"window": 128, "axes": 3, "nfft": 128, "features": ALL, "bands": [[1, 7], [7, 16], [16, 32], [32, 65]],
     "magnitude": 3},
    {"window": 100, "axes": 6, "nfft": 128, "features": ALL, "bands": [[4, 13], [13, 32], [32, 65]], "magnitude": 3},
    {"window": 8, "axes": 1, "nfft": 8, "features": ["mean", "dom", "centroid", "band"], "bands": [[1, 5]],
     "magnitude": 1},
    {"window": 256, "axes": 2, "nfft": 256, "features": ALL, "bands": [[1, 2], [2, 129]], "magnitude": 2,
     "allow_saturated": True},
    {"window": 50, "axes": 4, "nfft": 0, "features": ["std", "rms", "skew", "kurt", "zcr", "ptp", "min"]},
    {"window": 64, "axes": 3, "nfft": 256, "features": ["band", "kurt", "dom", "rms", "centroid"],
     "bands": [[1, 2], [2, 3], [3, 129], [100, 129]], "magnitude": 3},
)


class _Rng:
    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


def _spec(d):
    from ulearn.features.spec import FeatureSpec
    return FeatureSpec(dict(d, version=1, rate_hz=100.0, hop=d["window"]))


def _windows(spec, rng, count):
    """`count` consecutive windows in one 'h' buffer, each axis a different kind of signal."""
    t = spec.window
    c_n = spec.axes
    top = 32767 if spec.allow_saturated else 32766
    low = -32768 if spec.allow_saturated else -32766
    x = array("h", bytes(2 * t * c_n * count))
    for w in range(count):
        for c in range(c_n):
            kind = rng.next(6)
            amp = (0, 1, 40, 900, 7000, 30000)[rng.next(6)]
            centre = (0, 0, 250, -3000, 20000, -31000)[rng.next(6)]
            cycles = 1 + rng.next(t // 2)
            walk = 0
            for i in range(t):
                if kind == 0:
                    v = amp * math.sin(2 * math.pi * cycles * i / t)
                elif kind == 1:
                    walk += rng.next(2 * amp + 1) - amp
                    v = walk / 4
                elif kind == 2:
                    v = rng.next(2 * amp + 1) - amp
                elif kind == 3:
                    v = amp if i % 13 == 5 else 0
                elif kind == 4:
                    v = amp * math.sin(2 * math.pi * cycles * i / t) + rng.next(amp // 8 + 1)
                else:
                    v = amp if (i * cycles // t) % 2 else -amp
                v = int(v) + centre
                x[(w * t + i) * c_n + c] = top if v > top else (low if v < low else v)
    return x


def _extractors(d):
    from ulearn.features.extract import Extractor
    spec = _spec(d)
    try:
        vp = Extractor(spec, path="viper")
    except ImportError as e:
        skip("viper not available here: %s" % e)
    return Extractor(spec, path="python"), vp


def test_viper_equals_python_on_varied_windows():
    rng = _Rng(2024)
    for k in range(len(SPECS)):
        py, vp = _extractors(SPECS[k])
        count = 6 if SPECS[k]["window"] >= 128 else 10
        x = _windows(py.spec, rng, count)
        a = array("h", bytes(2 * py.n_features))
        b = array("h", bytes(2 * py.n_features))
        for w in range(count):
            py.compute(x, a, w * py.spec.window)
            vp.compute(x, b, w * py.spec.window)
            assert list(a) == list(b), (k, w, [(i, a[i], b[i]) for i in range(len(a)) if a[i] != b[i]])


def test_viper_equals_python_on_extremes():
    # constant axes (std 0), one-count steps, full-scale square waves and the int16 limits
    py, vp = _extractors(SPECS[3])
    t = py.spec.window
    a = array("h", bytes(2 * py.n_features))
    b = array("h", bytes(2 * py.n_features))
    cases = ((0, 0), (-32768, -32768), (32767, 32767), (-32768, 32767), (5, 6), (-1, 0), (-20000, 20000))
    for lo, hi in cases:
        x = array("h", bytes(4 * t))
        for i in range(t):
            x[2 * i] = hi if (i // 3) % 2 else lo
            x[2 * i + 1] = lo if i < t // 2 else hi
        py.compute(x, a)
        vp.compute(x, b)
        assert list(a) == list(b), (lo, hi)


def test_viper_refuses_saturated_windows_like_python():
    py, vp = _extractors(SPECS[0])
    x = _windows(py.spec, _Rng(5), 1)
    out = array("h", bytes(2 * py.n_features))
    for pos, v in ((3 * 40 + 1, 32767), (3 * 7 + 2, -32767), (3 * 100, -32768)):
        y = array("h", x)
        y[pos] = v
        with raises(ValueError, "saturated") as e1:
            py.compute(y, out)
        with raises(ValueError, "saturated") as e2:
            vp.compute(y, out)
        assert str(e1.value) == str(e2.value), (str(e1.value), str(e2.value))
    with raises(ValueError, "window: need"):
        vp.compute(array("h", bytes(2 * 127 * 3)), out)


def test_viper_path_allocates_nothing_per_window():
    micropython_only("gc.mem_alloc counts heap bytes only in MicroPython")
    for k in (0, 4):
        _, vp = _extractors(SPECS[k])
        x = _windows(vp.spec, _Rng(9), 2)
        out = array("h", bytes(2 * vp.n_features))
        off = vp.spec.window
        assert allocated(lambda vp=vp, x=x, out=out, off=off: vp.compute(x, out, off), 10) == 0, k
