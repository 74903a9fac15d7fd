"""Run an SVM blob over int16 feature vectors inside MicroPython (unix port) or on a board.

One script, the same on both: it loads the blob, measures the heap the loaded model holds, predicts
every vector and prints one JSON line with predictions (class or score), and heap figures.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .. import unixport
from ..errors import UlearnError

SCRIPT = r"""
import gc, json, sys
from array import array
import micropython
import ulearn
from ulearn import blob, backend
from ulearn.svm import model, qmath
from ulearn.features import spec, extract
try:
    from ulearn.svm import _sviper
except (ImportError, SyntaxError):
    pass
gc.collect()
base = gc.mem_alloc()
m = ulearn.load({blob!r})
gc.collect()
load_heap = gc.mem_alloc() - base
d = m.n_features
x = array('h', bytes(2 * d))
out = array('i', bytes(4 * 16))
preds = []
with open({feats!r}, 'rb') as f:
    while f.readinto(x) == 2 * d:
        preds.append(m.predict(x, out))
gc.collect()
used = gc.mem_alloc() - base
print(json.dumps({{"preds": preds, "load_heap": load_heap, "heap_after": used, "path": m.path,
                  "backend": ulearn.backend()}}))
"""


def run_model(blob: bytes, F: np.ndarray, heap: str = "256k", compiled: bool = False, port: str | None = None,
              env: dict | None = None) -> dict:
    """Predictions of the blob on int16 features F (n, D) computed by the device code, plus heap use."""
    feats = np.ascontiguousarray(np.asarray(F, dtype="<i2")).tobytes()
    if port:
        from ulearn_host.board import Board  # the lead's board API
        with Board(port, soft_reset=True) as b:  # a clean heap, as after a reset
            b.put(blob, "svm_eval.ulb")
            b.put(feats, "svm_eval.bin")
            out = b.exec(SCRIPT.format(blob="svm_eval.ulb", feats="svm_eval.bin"))
    else:
        with tempfile.TemporaryDirectory(prefix="ulearn-svm-") as tmp:
            Path(tmp, "m.ulb").write_bytes(blob)
            Path(tmp, "f.bin").write_bytes(feats)
            out = unixport.run(SCRIPT.format(blob="m.ulb", feats="f.bin"), heap=heap, compiled=compiled,
                               cwd=Path(tmp), env=env).stdout
    line = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        return json.loads(line)
    except ValueError:
        raise UlearnError(f"the device run printed no result:\n{out}") from None
