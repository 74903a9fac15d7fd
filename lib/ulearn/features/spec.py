"""The feature spec: one small description of a feature pipeline, shared by host and device.

It lives in the FEAT section of a model blob (JSON) or alone in a KIND_FEATURE_SPEC blob, so the
host trainer (``ulearn_host.features``) and the device (``ulearn.features.extract``) compute the
same features. Fields (all required unless noted)::

    version    1
    window     T, samples per window (8..256)
    axes       C, channels per sample (1..16); samples are interleaved: x[t*C + c]
    rate_hz    sample rate in Hz (float, documentation and Hz conversions only)
    hop        samples between window starts (1..T); T - hop samples overlap
    nfft       FFT size: a power of two, T <= nfft <= 256 (the window is zero padded); 0 = no FFT
    features   names, in output order, each computed for every channel:
               mean std rms min max ptp   int16 in input counts
               skew kurt                  Q8 (value * 256)
               zcr                        Q15 fraction of sample pairs whose sign (about the mean) changes
               dom centroid               Q4 FFT bins (Hz = value / 16 * rate_hz / nfft)
               band                       RMS amplitude (input counts) in each of `bands`, one output per band
    bands      (optional) [[k0, k1], ...] FFT bin ranges [k0, k1), 1 <= k0 < k1 <= nfft/2 + 1
    magnitude  (optional) m in 0..3: add a channel |(x_0 .. x_{m-1})| computed per sample
    in_scale   (optional) counts per physical unit for each axis (float samples -> int16)
    axis_names (optional) names of the axes
    allow_saturated (optional, default false) accept windows that touch +-32767

Output: ``n_features = channels * per_channel`` int16 values, channel-major (all features of
channel 0, then channel 1, ...; the magnitude channel last).
"""

from ulearn.blob import TAG_FEATURES

FEATURE_NAMES = ("mean", "std", "rms", "min", "max", "ptp", "skew", "kurt", "zcr", "dom", "centroid", "band")
SPECTRAL = ("dom", "centroid", "band")
MAX_WINDOW = 256
MAX_NFFT = 256


def _fail(what):
    raise ValueError("feature spec: %s" % what)


class FeatureSpec:
    """A validated feature spec (see the module docstring); `d` is its dict (e.g. parsed FEAT JSON)."""

    def __init__(self, d):
        if not isinstance(d, dict):
            _fail("expected a JSON object, got %s" % type(d).__name__)
        if d.get("version", 1) != 1:
            _fail("version %r is not understood by this ulearn (1): update ulearn" % d.get("version"))
        for key in ("window", "axes", "rate_hz", "hop", "nfft", "features"):
            if key not in d:
                _fail("missing field %r" % key)
        t, c, hop, n = d["window"], d["axes"], d["hop"], d["nfft"]
        if not (isinstance(t, int) and 8 <= t <= MAX_WINDOW):
            _fail("window = %r, need an int in 8..%d" % (t, MAX_WINDOW))
        if not (isinstance(c, int) and 1 <= c <= 16):
            _fail("axes = %r, need an int in 1..16" % (c,))
        if not (isinstance(hop, int) and 1 <= hop <= t):
            _fail("hop = %r, need an int in 1..window" % (hop,))
        feats = tuple(d["features"])
        if not feats:
            _fail("features is empty")
        for f in feats:
            if f not in FEATURE_NAMES:
                _fail("unknown feature %r (known: %s)" % (f, " ".join(FEATURE_NAMES)))
        spectral = False
        for f in feats:
            if f in SPECTRAL:
                spectral = True
        if spectral or n:
            if not (isinstance(n, int) and t <= n <= MAX_NFFT and n & (n - 1) == 0):
                _fail("nfft = %r, need a power of two in window..%d" % (n, MAX_NFFT))
        bands = [tuple(b) for b in d.get("bands", ())]
        if "band" in feats and not bands:
            _fail("feature 'band' needs a non-empty 'bands' list")
        for b in bands:
            if len(b) != 2 or not (1 <= b[0] < b[1] <= n // 2 + 1):
                _fail("band %r must be [k0, k1) bins with 1 <= k0 < k1 <= nfft/2 + 1" % (b,))
        m = d.get("magnitude", 0)
        if not (isinstance(m, int) and 0 <= m <= 3 and m <= c):
            _fail("magnitude = %r, need 0..min(3, axes)" % (m,))
        scale = d.get("in_scale")
        if scale is not None and len(scale) != c:
            _fail("in_scale has %d values for %d axes" % (len(scale), c))
        self.window = t
        self.axes = c
        self.hop = hop
        self.nfft = n if spectral or n else 0
        self.rate_hz = float(d["rate_hz"])
        self.features = feats
        self.bands = bands
        self.magnitude = m
        self.in_scale = list(scale) if scale is not None else None
        self.axis_names = list(d.get("axis_names", ()))
        self.allow_saturated = bool(d.get("allow_saturated", False))
        self.channels = c + (1 if m else 0)
        per = 0
        for f in feats:
            per += len(bands) if f == "band" else 1
        self.per_channel = per
        self.n_features = self.channels * per
        self._dict = d

    def to_dict(self):
        """The spec as a dict (what is stored in FEAT)."""
        return self._dict

    def same_as(self, other):
        """True when `other` (FeatureSpec or dict) describes the same pipeline."""
        od = other.to_dict() if isinstance(other, FeatureSpec) else other
        mine = self._dict
        for key in ("window", "axes", "hop", "nfft", "features", "bands", "magnitude", "in_scale"):
            a = mine.get(key)
            b = od.get(key)
            if key in ("features", "bands") or (key == "in_scale" and a is not None):
                a = list(a or ())
                b = list(b or ())
                if key == "bands":
                    a = [list(x) for x in a]
                    b = [list(x) for x in b]
            if a != b:
                return False
        return True

    def feature_names(self):
        """Names of the n_features outputs, e.g. 'acc_x.mean', 'mag.band2'."""
        names = []
        axes = self.axis_names or ["ch%d" % i for i in range(self.axes)]
        if self.magnitude:
            axes = list(axes) + ["mag"]
        for a in axes:
            for f in self.features:
                if f == "band":
                    for i in range(len(self.bands)):
                        names.append("%s.band%d" % (a, i))
                else:
                    names.append("%s.%s" % (a, f))
        return names


def parse(data):
    """A FeatureSpec from JSON bytes/str or a dict; ValueError saying what is wrong."""
    if isinstance(data, dict):
        return FeatureSpec(data)
    import json
    if not isinstance(data, str):
        data = bytes(data).decode()
    try:
        d = json.loads(data)
    except ValueError as e:
        raise ValueError("feature spec: not valid JSON (%s)" % e)
    return FeatureSpec(d)


def from_blob(blob, source, path=None):
    """The feature extractor of a KIND_FEATURE_SPEC blob (or of any blob's FEAT section)."""
    from ulearn.features.extract import Extractor
    try:
        spec = parse(blob.section(TAG_FEATURES))
    except ValueError as e:
        from ulearn.blob import BlobError
        raise BlobError("%s: %s; export the model again with this ulearn" % (source, e))
    return Extractor(spec, path=path)
