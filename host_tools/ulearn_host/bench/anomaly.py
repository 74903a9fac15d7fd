"""The anomaly-detector demo: in-situ training in MicroPython on real or simulated windows.

The app (device/apps/anomaly_detector) runs unchanged in the MicroPython unix port (or on a board
with `port`): it learns from the training windows of the normal classes, then scores every test
window. Detection rate = flagged share of the test windows of the `flag` classes; false-alarm
rate = flagged share of the normal test windows.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .. import features as feat
from .. import unixport
from ..data import load_dataset
from ..train.svm import feature_spec

DEMOS = {
    "basicmotions": {"normal": ["standing", "walking"], "flag": ["running", "badminton"], "epochs": 10,
                     "gamma": 0.1},
    "fan-sim": {"normal": ["on"], "flag": ["clogged", "friction"], "epochs": 3, "gamma": 0.5},
}

LEARN = """
import json
from anomaly_detector.main import Detector, WindowFile
from ulearn.features.spec import FeatureSpec
spec = FeatureSpec(json.loads(open('spec.json').read()))
d = Detector(spec, epochs={epochs}, n_rff={n_rff}, gamma={gamma})
d.learn(WindowFile('normal.bin', spec), n={n})
print(json.dumps({{"threshold": d.model.threshold}}))
"""

DETECT = """
import json, gc
from anomaly_detector.main import Detector, WindowFile
from ulearn.features.spec import FeatureSpec
spec = FeatureSpec(json.loads(open('spec.json').read()))
d = Detector(spec)
scores = []
d.detect(WindowFile('test.bin', spec), quiet=True, report=lambda i, s, bad: scores.append(s))
d.status()
print(json.dumps({"threshold": d.model.threshold, "scores": scores}))
"""


def prepare(dataset: str, folder: Path, seed: int = 0) -> dict:
    """Write spec.json, normal.bin (training windows of the normal classes) and test.bin to `folder`."""
    demo = DEMOS[dataset]
    ds = load_dataset(dataset, seed=seed)
    spec = feature_spec(ds, "insitu")
    normal = [ds.classes.index(c) for c in demo["normal"]]
    Xn = ds.X[np.isin(ds.y, normal)]
    (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
    (folder / "normal.bin").write_bytes(feat.quantize(Xn, spec).astype("<i2").tobytes())
    (folder / "test.bin").write_bytes(feat.quantize(ds.X_test, spec).astype("<i2").tobytes())
    return {"ds": ds, "spec": spec, "n": len(Xn), "normal": normal,
            "flag": [ds.classes.index(c) for c in demo["flag"]]}


def last_json(text: str) -> dict:
    return json.loads([ln for ln in text.splitlines() if ln.startswith("{")][-1])


def rates(info: dict, scores: list[int], threshold: int) -> dict:
    ds = info["ds"]
    s = np.asarray(scores)
    flagged = s < threshold
    y = ds.y_test
    return {"detection_rate": float(flagged[np.isin(y, info["flag"])].mean()),
            "false_alarm_rate": float(flagged[np.isin(y, info["normal"])].mean()),
            "flagged_per_class": {ds.classes[c]: float(flagged[y == c].mean()) for c in np.unique(y)},
            "n_train": info["n"], "n_test": int(len(s))}


def run_demo(dataset: str, n_rff: int = 64, compiled: bool = True, env: dict | None = None) -> dict:
    """Learn then detect in two separate MicroPython processes (the model is reloaded from 'flash')."""
    with tempfile.TemporaryDirectory(prefix="ulearn-anomaly-") as tmp:
        folder = Path(tmp)
        info = prepare(dataset, folder)
        epochs = DEMOS[dataset]["epochs"]
        learn = unixport.run(LEARN.format(epochs=epochs, n_rff=n_rff, n=info["n"], gamma=DEMOS[dataset]["gamma"]),
                             cwd=folder,
                             compiled=compiled, env=env, timeout=600).stdout
        det = last_json(unixport.run(DETECT, cwd=folder, compiled=compiled, env=env, timeout=600).stdout)
        out = rates(info, det["scores"], det["threshold"])
        out.update(dataset=dataset, threshold=det["threshold"], learn_threshold=last_json(learn)["threshold"],
                   simulated=bool(info["ds"].simulated), n_features=info["spec"].n_features)
        return out
