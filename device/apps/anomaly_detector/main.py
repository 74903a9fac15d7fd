"""anomaly_detector: collect normal windows, train a one-class SVM on the device, flag anomalies.

    from anomaly_detector.main import main, Detector, WindowFile, Replay, Live
    main("learn", spec="anomaly_spec.json", n=40)        # on a board: live sensor of board.json
    main("detect", spec=None, seconds=60)                # prints one status line per window
    d = Detector(spec)                                   # a ulearn.features FeatureSpec (or its dict)
    d.learn(WindowFile("normal.bin", spec), n=40)        # learn mode: collect, train in situ, save
    d.detect(WindowFile("live.bin", spec))               # detect mode: score and flag every window
    d.status()

Learn mode computes each window's features and appends them to a file on flash (`feat_path`), so
training can make several passes with a heap that does not grow with the number of windows:
pass 1 fits the scaler, then `epochs` SGD passes (ulearn.svm.train.OneClassTrainer), then a
calibration pass sets the threshold from the training scores: with s_k the k-th lowest score
(k = clamp(n // 50, 1, 8)) and s_max the highest, threshold = s_k - (s_max - s_k) // 10. The model
is saved atomically (ulearn.svm.store) and reloaded by detect mode after a reset.

Status lines on the REPL start with ``anomaly_detector:``. Sources give windows of int16 counts:
``WindowFile`` (consecutive T*C windows in a file), ``Replay`` (a recording of interleaved
samples, windowed with the spec's hop by ulearn.features.window.Windower) and ``Live`` (the
sensor of the board profile, through ulearn.sensors). Any object with `next() -> bool`, `buf` and
`offset()` works.
"""

import os
from array import array

import ulearn
from ulearn.features.extract import Extractor
from ulearn.features.spec import FeatureSpec
from ulearn.features.window import Windower
from ulearn.svm.train import MIN_WINDOWS, OneClassTrainer

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_KEEP = const(8)      # lowest training scores kept for the threshold


def _say(msg):
    print("anomaly_detector: " + msg)


class WindowFile:
    """Windows stored back to back in a file (T*C int16 little-endian each)."""

    def __init__(self, path, spec):
        self._f = open(path, "rb")
        self.buf = array("h", bytes(2 * spec.window * spec.axes))
        self._n = 2 * len(self.buf)

    def next(self):
        """Read the next window into `buf`; False at the end of the file."""
        if self._f.readinto(self.buf) == self._n:
            return True
        self._f.close()
        return False

    def offset(self):
        return 0


class Replay:
    """A recording of interleaved int16 samples, cut into overlapping windows (spec's hop)."""

    def __init__(self, path, spec):
        self._f = open(path, "rb")
        self._w = Windower.for_spec(spec)
        self._s = array("h", bytes(2 * spec.axes))
        self._n = 2 * spec.axes
        self.buf = self._w.buf

    def next(self):
        while self._f.readinto(self._s) == self._n:
            if self._w.push(self._s):
                return True
        self._f.close()
        return False

    def offset(self):
        return self._w.offset()


class Live:
    """Windows from the sensor of a board profile (dict or JSON path), for `seconds` (None: forever).

    Samples go through the sensor layer (Sampler -> Ring -> Windows, with the spec's hop); the
    sensor must deliver the spec's number of axes, as int16 counts.
    """

    def __init__(self, spec, profile="board.json", seconds=None):
        import json
        import time
        from data_logger.main import open_sensor
        from ulearn.sensors.ring import Ring, Windows
        from ulearn.sensors.sampler import Sampler
        if isinstance(profile, str):
            try:
                with open(profile) as f:
                    profile = json.load(f)
            except OSError:
                raise OSError("no board profile at %r: run `ulearn push --board NAME`" % profile) from None
        self.sensor = open_sensor(profile)
        if self.sensor.channels != spec.axes:
            raise ValueError("the feature spec wants %d axes, the sensor gives %d" % (spec.axes, self.sensor.channels))
        ring = Ring(max(4 * spec.window, 4 * self.sensor.max_burst), spec.axes)
        self.windows = Windows(ring, spec.window, spec.hop)
        self.sampler = Sampler(self.sensor, ring)
        self.buf = array("h", bytes(2 * spec.window * spec.axes))
        self._time = time
        self._ms = None if seconds is None else int(seconds * 1000)
        self._t0 = None

    def next(self):
        """Wait for the next window (polling the sensor); False once `seconds` have passed."""
        t = self._time
        if self._t0 is None:
            self._t0 = t.ticks_ms()
            self.sampler.start()
        while self.windows.take(self.buf) < 0:
            if self._ms is not None and t.ticks_diff(t.ticks_ms(), self._t0) > self._ms:
                self.sampler.stop()
                return False
            if not self.sampler.poll():
                t.sleep_ms(1)
        return True

    def offset(self):
        return 0


class Detector:
    """Learn and detect modes around one feature spec and one saved model file."""

    def __init__(self, spec, model_path="anomaly.ulb", feat_path="anomaly.feat", n_rff=64, nu=0.1,
                 gamma=0.1, epochs=10, seed=1):
        """`gamma` is relative: the RBF gamma is gamma / n_features on standardized features."""
        self.spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec(spec)
        self.fx = Extractor(self.spec)
        self.feats = array("h", bytes(2 * self.spec.n_features))
        self.model_path = model_path
        self.feat_path = feat_path
        self.n_rff = n_rff
        self.nu = nu
        self.gamma = gamma / self.spec.n_features
        self.epochs = epochs
        self.seed = seed
        self.model = None
        self.mode = "idle"
        self.windows = 0
        self.anomalies = 0
        self.rejected = 0

    # ---- learn mode
    def learn(self, source, n):
        """Collect `n` normal windows from `source`, train, calibrate, save; returns the threshold."""
        self.mode = "learn"
        got = 0
        with open(self.feat_path, "wb") as f:
            while got < n and source.next():
                try:
                    self.fx.compute(source.buf, self.feats, source.offset())
                except ValueError as e:
                    self.rejected += 1
                    _say("window skipped: %s" % e)
                    continue
                f.write(self.feats)
                got += 1
                if got % 10 == 0 or got == n:
                    _say("learn %d/%d windows" % (got, n))
        if got < MIN_WINDOWS:
            raise ValueError("too few windows to train: %d collected, need at least %d; collect "
                             "more normal data" % (got, MIN_WINDOWS))
        return self.train(got)

    def _each(self):
        with open(self.feat_path, "rb") as f:
            while f.readinto(self.feats) == 2 * len(self.feats):
                yield self.feats

    def train(self, n):
        """Train on the `n` feature vectors stored in feat_path (pass 1 scaler, then SGD epochs)."""
        t = OneClassTrainer(self.spec.n_features, n_rff=self.n_rff, nu=self.nu, gamma=self.gamma,
                            seed=self.seed, spec=self.spec)
        for x in self._each():
            t.observe(x)
        t.freeze()
        for e in range(self.epochs):
            for x in self._each():
                t.partial_fit(x)
        m = t.model()
        thr = self.calibrate(m, n)
        size = m.save(self.model_path)
        self.model = m
        _say("trained on %d windows (%d epochs), threshold %d, saved %s (%d bytes)"
             % (n, self.epochs, thr, self.model_path, size))
        return thr

    def calibrate(self, m, n):
        """Set the model's threshold from its scores on the training windows (see module doc)."""
        k = max(1, min(_KEEP, n // 50))
        low = array("i", [2147483647] * k)
        top = -2147483647
        for x in self._each():
            s = m.predict(x)
            if s > top:
                top = s
            if s < low[k - 1]:
                i = k - 1
                while i > 0 and low[i - 1] > s:
                    low[i] = low[i - 1]
                    i -= 1
                low[i] = s
        thr = low[k - 1] - (top - low[k - 1]) // 10
        m.set_threshold(thr)
        return thr

    # ---- detect mode
    def load(self):
        """Load the saved model (after a reset); ValueError when it was made for another spec."""
        from ulearn.svm import store
        store.recover(self.model_path)
        m = ulearn.load(self.model_path)
        m.check_features(self.spec)
        self.model = m
        return m

    def detect(self, source, limit=None, quiet=False, report=None):
        """Score windows from `source`; prints one status line per window; returns (windows, anomalies).

        `report(index, score, is_anomaly)` is called for every scored window when given.
        """
        self.mode = "detect"
        m = self.model or self.load()
        while (limit is None or self.windows < limit) and source.next():
            try:
                self.fx.compute(source.buf, self.feats, source.offset())
            except ValueError as e:
                self.rejected += 1
                _say("window %d rejected: %s" % (self.windows, e))
                continue
            s = m.predict(self.feats)
            bad = m.is_anomaly(s)
            if bad:
                self.anomalies += 1
            if report is not None:
                report(self.windows, s, bad)
            if not quiet:
                _say("window %d score %d %s" % (self.windows, s, "ANOMALY" if bad else "ok"))
            self.windows += 1
        return self.windows, self.anomalies

    def status(self):
        """Print and return the state: mode, windows seen, anomalies, rejected, threshold."""
        thr = self.model.threshold if self.model is not None else None
        _say("mode %s, %d windows, %d anomalies, %d rejected, threshold %s"
             % (self.mode, self.windows, self.anomalies, self.rejected, thr))
        return {"mode": self.mode, "windows": self.windows, "anomalies": self.anomalies,
                "rejected": self.rejected, "threshold": thr}

    def forget(self):
        """Remove the stored training features (the saved model stays)."""
        try:
            os.remove(self.feat_path)
        except OSError:
            pass


def main(mode="detect", spec="anomaly_spec.json", n=40, seconds=None, profile="board.json", replay=None,
         model_path="anomaly.ulb", quiet=False):
    """Run the app: `mode` "learn" (collect `n` normal windows, train, save) or "detect" (score windows
    for `seconds`, None = forever). Windows come from `replay` (a sample recording) when given, else
    from the live sensor of `profile`. `spec` is a FeatureSpec, its dict or a JSON file; in detect
    mode the model's own spec is used when `spec` is None. Returns the status dict.
    """
    import json
    if spec is None:
        spec = ulearn.load(model_path).spec()
    elif isinstance(spec, str):
        with open(spec) as f:
            spec = FeatureSpec(json.load(f))
    elif not isinstance(spec, FeatureSpec):
        spec = FeatureSpec(spec)
    source = Replay(replay, spec) if replay else Live(spec, profile, seconds if mode == "detect" else None)
    d = Detector(spec, model_path=model_path)
    if mode == "learn":
        d.learn(source, n)
        d.forget()
    elif mode == "detect":
        d.detect(source, quiet=quiet)
    else:
        raise ValueError("mode %r: use 'learn' or 'detect'" % (mode,))
    return d.status()
