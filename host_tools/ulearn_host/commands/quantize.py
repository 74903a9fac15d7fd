"""`ulearn quantize M.pt --data D --out M.mpy`: post-training int8 quantization of a float CNN.

Takes the float model `ulearn train --model cnn` saved beside its blob (`M.pt`), calibrates the
activation ranges on the training data, writes the int8 blob (and the `.tflite` reference beside
it) and reports float vs int8 test accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("float_model", help="float CNN checkpoint (.pt) written by `ulearn train --model cnn`")
    parser.add_argument("--data", default=None,
                        help="dataset name or .npz: calibration (train split) and test accuracy "
                             "(default: the dataset the model was trained on)")
    parser.add_argument("--out", default=None, help="int8 model to write (.mpy, .py or raw blob); "
                        "default: only report")
    parser.add_argument("--calib", type=int, default=1000, help="calibration examples (default 1000)")
    parser.add_argument("--percentile", type=float, default=None,
                        help="activation range percentile of the calibration values (default 99.99; 100 = min/max)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset split and calibration sample")
    parser.add_argument("--arch", default=None, help="mpy-cross -march for the .mpy")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line")


def run(args: argparse.Namespace) -> int:
    from ..data import load_dataset
    from ..nn import export
    from ..quantize import CALIB_PERCENTILE, quantize_net
    from ..train import cnn
    net, ck = cnn.load_float(args.float_model)
    data = args.data or ck.get("dataset")
    if not data:
        raise UlearnError("the checkpoint does not name its dataset: pass --data")
    ds = load_dataset(data, seed=args.seed)
    if tuple(ds.X.shape[1:]) != tuple(net.input_shape):
        raise UlearnError(f"{args.float_model} takes inputs {tuple(net.input_shape)} but {ds.name} has "
                          f"{tuple(ds.X.shape[1:])}: quantize with the data the model was trained on")
    if args.calib < 1:
        raise UlearnError("--calib needs at least 1 example")
    rng = np.random.default_rng(args.seed)
    calib = ds.X[rng.permutation(len(ds.X))[:args.calib]]
    name = Path(args.out).stem if args.out else Path(args.float_model).stem
    pct = CALIB_PERCENTILE if args.percentile is None else args.percentile
    if not 50.0 < pct <= 100.0:
        raise UlearnError("--percentile must lie in (50, 100]")
    model = quantize_net(net, calib, classes=list(ds.classes), name=name, max_calib=args.calib, percentile=pct)
    float_acc = float((net.predict_proba(ds.X_test).argmax(1) == ds.y_test).mean())
    int8_acc = float((cnn.int8_predict(model, ds.X_test).argmax(1) == ds.y_test).mean())
    report = {"n": len(ds.X_test), "float_accuracy": round(float_acc, 6), "int8_accuracy": round(int8_acc, 6),
              "delta_points": round(100 * (int8_acc - float_acc), 3), "params": model.params(),
              "calibration": len(calib), "blob_bytes": len(export.to_blob(model))}
    if args.out:
        paths = cnn.export_all(model, args.out, args.arch)
        report["wrote"] = [str(p) for p in paths.values()]
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(f"{ds.name}: {report['n']} test examples, calibration on {report['calibration']}")
        print(f"  float accuracy {float_acc:.4f}, int8 accuracy {int8_acc:.4f} "
              f"({report['delta_points']:+.2f} points)")
        print(f"  {report['params']} parameters, blob {report['blob_bytes']} bytes")
        for p in report.get("wrote", []):
            print(f"  wrote {p}")
    return 0
