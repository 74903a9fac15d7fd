"""anomaly_detector sources and modes on generated data (CPython and MicroPython)."""

from array import array

from devtest import on_micropython, raises

SPEC = {"version": 1, "window": 32, "axes": 2, "rate_hz": 50.0, "hop": 16, "nfft": 32,
        "features": ["mean", "std", "ptp", "centroid"]}


def _path(name):
    if on_micropython:
        return name
    import tempfile
    return tempfile.mkdtemp(prefix="ulearn-app-") + "/" + name


def _samples(n, seed=3, amp=400):
    x = array("h", bytes(4 * n))
    s = seed
    for i in range(2 * n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        x[i] = ((s >> 16) % (2 * amp)) - amp + (i % 2) * 50
    return x


def test_replay_cuts_overlapping_windows_like_the_spec_says():
    from anomaly_detector.main import Replay
    from ulearn.features.extract import Extractor
    from ulearn.features.spec import FeatureSpec
    spec = FeatureSpec(SPEC)
    x = _samples(80)
    path = _path("rec.raw")
    with open(path, "wb") as f:
        f.write(x)
    src = Replay(path, spec)
    fx = Extractor(spec, path="python")
    a = array("h", bytes(2 * spec.n_features))
    b = array("h", bytes(2 * spec.n_features))
    starts = []
    while src.next():
        fx.compute(src.buf, a, src.offset())
        start = 16 * len(starts)
        fx.compute(x, b, start)                 # the same 32 samples straight from the recording
        assert list(a) == list(b), start
        starts.append(start)
    assert starts == [0, 16, 32, 48]


def test_learn_detect_status_and_bad_input():
    from anomaly_detector.main import Detector, WindowFile
    from ulearn.features.spec import FeatureSpec
    spec = FeatureSpec(SPEC)
    normal = _path("normal.bin")
    with open(normal, "wb") as f:
        for k in range(12):
            f.write(_samples(32, seed=k + 1))
    model = _path("m.ulb")
    d = Detector(spec, model_path=model, feat_path=model + ".feat", n_rff=16, epochs=3)
    with raises(ValueError, "too few windows"):
        d.learn(WindowFile(normal, spec), n=5)
    d.learn(WindowFile(normal, spec), n=12)
    odd = _path("odd.bin")
    with open(odd, "wb") as f:
        for k in range(4):
            f.write(_samples(32, seed=k + 50, amp=4000))      # ten times the vibration
        f.write(array("h", [32767] * 64))                      # a saturated window: rejected
    d2 = Detector(spec, model_path=model, feat_path=model + ".feat")
    seen, flagged = d2.detect(WindowFile(odd, spec), quiet=True)
    st = d2.status()
    assert seen == 4 and flagged == 4 and st["rejected"] == 1 and st["mode"] == "detect"
