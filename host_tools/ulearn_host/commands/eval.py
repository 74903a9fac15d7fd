"""`ulearn eval M.mpy --data D [--port P]`: evaluate a model, print one JSON line."""

from __future__ import annotations

import argparse
import importlib
import json

from ulearn import blob as fmt

from ..blob import load_blob_bytes

# blob kind -> trainer module whose evaluate(args, blob_bytes) returns the result dict
_EVALUATORS = {
    fmt.KIND_CNN: "ulearn_host.train.cnn",
    fmt.KIND_LINEAR_SVM: "ulearn_host.train.svm",
    fmt.KIND_RBF_SVM: "ulearn_host.train.svm",
    fmt.KIND_ONECLASS_SVM: "ulearn_host.train.svm",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file (.mpy, .py, .ulb)")
    parser.add_argument("--data", required=True, help="dataset name or .npz (the test part is used)")
    parser.add_argument("--port", default=None, help="also run on this board (serial device or virtual board)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate at most N test examples")


def run(args: argparse.Namespace) -> int:
    blob = load_blob_bytes(args.model)
    kind = fmt.Blob(blob).kind
    evaluator = importlib.import_module(_EVALUATORS[kind])
    result = evaluator.evaluate(args, blob)
    print(json.dumps(result, sort_keys=True))
    return 0
