"""`ulearn bench nn` (accuracy part): train the default CNN on each dataset, quantize, export, and print
float vs int8 test accuracy, parameters, blob bytes per parameter, and bit-exactness of the numpy
reference, TFLite Micro and the device runtime in MicroPython. Measured, never asserted.

Targets (issue 4): BasicMotions int8 >= 95 %, digits int8 >= 97 %, int8 - float >= -0.5 points,
fan model <= 10,500 parameters, blob <= 1.1 bytes per parameter plus header, 100 % bit-exact.
"""

from __future__ import annotations

import argparse
import time

DATASETS = ("basicmotions", "digits", "fan-sim")
TARGET_INT8 = {"basicmotions": 0.95, "digits": 0.97}


def blob_split(blob: bytes) -> tuple[int, int]:
    """(payload bytes: weights, bias, multipliers, shifts; everything else: header, META, layer table, plan)."""
    from ulearn import blob as fmt
    from ulearn.nn import format as nnfmt
    b = fmt.Blob(blob)
    tags = [getattr(nnfmt, name) for name in ("TAG_WEIGHTS", "TAG_BIAS", "TAG_MULT", "TAG_SHIFT")]
    payload = sum(len(b.section(t)) for t in tags if b.has(t))
    return payload, len(blob) - payload


def measure(name: str, seed: int = 0, device_examples: int | None = None, epochs: int | None = None) -> dict:
    """Train, quantize and check one dataset; returns the measured numbers."""
    from ..data import load_dataset
    from ..nn import export
    from ..tflite.micro import MicroReference
    from ..tflite.writer import to_tflite
    from ..train import cnn
    ds = load_dataset(name, seed=seed)
    res = cnn.train_dataset(ds, epochs=epochs, seed=seed, name=name)
    blob = export.to_blob(res.model)
    q = res.model.quantize_input(ds.X_test)
    t0 = time.perf_counter()
    tflm = MicroReference(to_tflite(res.model)).run_batch(q)
    tflm_s = time.perf_counter() - t0
    ref = res.int8_outputs
    from ..nn import reference
    tracer = MicroReference(to_tflite(res.model), preserve_all_tensors=True)
    same = total = 0
    for x in q[:50]:
        _, ours = reference.run(res.model, x, trace=True)
        for a, b in zip(ours, tracer.run_trace(x), strict=True):
            same += int((a.reshape(-1) == b).sum())
            total += int(b.size)
    n_dev = len(q) if device_examples is None else min(device_examples, len(q))
    dev, heap, backend = cnn.run_unixport(blob, q[:n_dev], ref.shape[1])
    payload, header = blob_split(blob)
    params = res.model.params()
    return {
        "dataset": name, "simulated": bool(ds.simulated), "n_test": len(ds.X_test), "epochs": res.epochs,
        "train_seconds": round(res.seconds, 2),
        "float_accuracy": round(res.float_accuracy, 4), "int8_accuracy": round(res.int8_accuracy, 4),
        "delta_points": round(100 * (res.int8_accuracy - res.float_accuracy), 2),
        "target_int8": TARGET_INT8.get(name), "params": params, "macs": res.model.macs(),
        "blob_bytes": len(blob), "payload_bytes": payload, "header_bytes": header,
        "bytes_per_param": round(payload / params, 4),
        "tflm_bit_exact": float((tflm == ref).mean()), "tflm_outputs": int(tflm.size),
        "tflm_layers_bit_exact": same / max(1, total), "tflm_layer_values": total,
        "tflm_us_per_inference": round(1e6 * tflm_s / max(1, len(q)), 1),
        "micropython_bit_exact": float((dev == ref[:n_dev]).mean()), "micropython_examples": n_dev,
        "micropython_backend": backend, "micropython_load_heap": heap["peak"],
        "micropython_retained_heap": heap["retained"],
    }


def run(args: argparse.Namespace) -> dict:
    """Print one table row per dataset; returns {dataset: numbers}."""
    quick = bool(getattr(args, "quick", False))
    results = {}
    print(f"{'dataset':<13}{'float':>8}{'int8':>8}{'delta':>8}{'target':>8}{'params':>8}{'MACs':>8}"
          f"{'blob B':>8}{'B/param':>8}{'hdr B':>7}{'TFLM=':>7}{'layers=':>8}{'MPY=':>7}{'heap':>8}{'kept':>7}")
    for name in DATASETS:
        r = measure(name, device_examples=20 if quick else None)
        results[name] = r
        target = f"{100 * r['target_int8']:.0f}%" if r["target_int8"] else "-"
        print(f"{name + (' (sim)' if r['simulated'] else ''):<13}{100 * r['float_accuracy']:>7.2f}%"
              f"{100 * r['int8_accuracy']:>7.2f}%{r['delta_points']:>+8.2f}{target:>8}{r['params']:>8}"
              f"{r['macs']:>8}{r['blob_bytes']:>8}{r['bytes_per_param']:>8.3f}{r['header_bytes']:>7}"
              f"{100 * r['tflm_bit_exact']:>6.1f}%{100 * r['tflm_layers_bit_exact']:>7.1f}%"
              f"{100 * r['micropython_bit_exact']:>6.1f}%"
              f"{r['micropython_load_heap']:>8}{r['micropython_retained_heap']:>7}", flush=True)
    fan = results["fan-sim"]
    print(f"fan model: {fan['params']} parameters (target <= 10500), blob payload {fan['bytes_per_param']:.3f} "
          f"bytes/parameter + {fan['header_bytes']} bytes of header/META/layer table/plan (target <= 1.1 + header)")
    print("TFLM= / MPY=: share of int8 test outputs identical to the numpy reference (TFLite Micro on every "
          "test example; the MicroPython runtime on "
          + ", ".join(f"{r['micropython_examples']}" for r in results.values()) + " examples); layers=: every "
          "layer's output, TFLite Micro keeping all tensors, first 50 test examples; heap: bytes allocated "
          "(gc off, so an upper bound of the peak) by load + first inference in MicroPython, raw blob read "
          "included; kept: bytes the loaded model holds after a collection")
    worst = min(r["delta_points"] for r in results.values())
    print(f"int8 - float: worst {worst:+.2f} points (target >= -0.5)")
    return results


if __name__ == "__main__":  # python -m ulearn_host.bench.nn_accuracy
    run(argparse.Namespace(quick=False))
