"""`ulearn train --model cnn`: a small CNN trained in PyTorch (CPU), quantized to int8, exported as a blob.

Default architectures (see docs/cnn.md):

* time series windows ``(T, C)`` (fan-sim 128 x 3, BasicMotions 100 x 6)::

      conv1d 16 x k5 relu -> max_pool1d 2 -> conv1d 16 x k5 relu -> max_pool1d p -> flatten
      -> dropout 0.25 -> dense 16 relu -> dense n_classes -> softmax

  (``p`` = 2, larger only when a long window would make the flattened vector exceed 480 values;
  fan-sim: 9,060 parameters, BasicMotions: 7,508).
* images ``(H, W, C)`` (digits 8 x 8 x 1)::

      conv2d 16 x 3x3 same relu -> conv2d 32 x 3x3 relu -> max_pool2d 2 -> flatten -> dropout 0.25
      -> dense n_classes -> softmax

Inputs are standardized per channel (training mean/std) before the network; the int8 input
quantization applies to the standardized values, and the blob's feature spec carries the mean/std
so the board does the same at the edge.

`evaluate(args, blob)` is what `ulearn eval` calls for CNN blobs.
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UlearnError
from ..metrics import confusion_result

DROPOUT = 0.25
DEFAULT_EPOCHS = {"timeseries": 60, "image": 40}
BATCH = 32
LR = 3e-3
AUG_LOG_GAIN = 0.35  # time-series windows: vibration gain exp(U(-0.35, 0.35)) ~ 0.70 .. 1.42 about the mean


def default_arch(input_shape: tuple[int, ...], n_classes: int) -> list[dict[str, Any]]:
    """The documented default architecture for an input shape: (T, C) windows or (H, W, C) images."""
    if len(input_shape) == 2:
        t = int(input_shape[0])
        after = ((t - 4) // 2) - 4
        if after < 2:
            raise UlearnError(f"windows of {t} samples are too short for the default CNN (needs >= 14)")
        pool = max(2, math.ceil(after * 16 / 480))
        return [
            {"op": "conv1d", "filters": 16, "kernel": 5, "act": "relu"},
            {"op": "max_pool1d", "size": 2},
            {"op": "conv1d", "filters": 16, "kernel": 5, "act": "relu"},
            {"op": "max_pool1d", "size": pool},
            {"op": "flatten"},
            {"op": "dropout", "rate": DROPOUT},
            {"op": "dense", "units": 16, "act": "relu"},
            {"op": "dense", "units": n_classes},
            {"op": "softmax"},
        ]
    if len(input_shape) == 3:
        return [
            {"op": "conv2d", "filters": 16, "kernel": [3, 3], "padding": "same", "act": "relu"},
            {"op": "conv2d", "filters": 32, "kernel": [3, 3], "act": "relu"},
            {"op": "max_pool2d", "size": [2, 2]},
            {"op": "flatten"},
            {"op": "dropout", "rate": DROPOUT},
            {"op": "dense", "units": n_classes},
            {"op": "softmax"},
        ]
    raise UlearnError(f"the CNN takes (T, C) windows or (H, W, C) images, not shape {tuple(input_shape)}")


def _pair(v, one_d: bool) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[1])) if len(v) == 2 else (1, int(v[0]))
    return (1, int(v)) if one_d else (int(v), int(v))


def _torch():
    try:
        import torch
    except ImportError as e:
        raise UlearnError("`ulearn train --model cnn` needs PyTorch: run `make setup` or "
                          "`pip install 'ulearn[cnn]'`") from e
    return torch


def build_net(arch: list[dict[str, Any]], input_shape: tuple[int, ...], n_classes: int,
              mean: np.ndarray | None = None, std: np.ndarray | None = None, seed: int = 0):
    """A FloatNet for `arch` (list of layer dicts) on inputs of `input_shape` ((T, C) or (H, W, C))."""
    torch = _torch()
    nn = torch.nn

    class FloatNet(nn.Module):
        """A sequential float CNN, channel-last at its edges, NCHW inside (1-D ops use H = 1).

        ``forward(x)`` takes raw inputs (n, T, C) or (n, H, W, C) and returns logits; the per-channel
        standardization (mean, std) is part of the network. Flatten orders values (H, W, C), as the
        ulearn IR and TFLite do.
        """

        def __init__(self) -> None:
            super().__init__()
            self.arch = [dict(a) for a in arch]
            self.input_shape = tuple(int(s) for s in input_shape)
            self.n_classes = n_classes
            self.one_d = len(self.input_shape) == 2
            c = self.input_shape[-1]
            self.register_buffer("mean", torch.tensor(np.zeros(c) if mean is None else mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(np.ones(c) if std is None else std, dtype=torch.float32))
            h, w = (1, self.input_shape[0]) if self.one_d else self.input_shape[:2]
            shape: tuple[int, ...] = (c, h, w)
            self.mods = nn.ModuleList()
            self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
            for spec in self.arch:
                op = spec["op"]
                before = shape
                if op in ("conv1d", "conv2d", "depthwise_conv2d"):
                    k = _pair(spec.get("kernel", 3), self.one_d)
                    s = _pair(spec.get("stride", 1), self.one_d)
                    d = _pair(spec.get("dilation", 1), self.one_d)
                    pad = spec.get("padding", "valid")
                    if pad == "same" and s != (1, 1):
                        raise UlearnError("padding 'same' is supported with stride 1 only")
                    cin = shape[0]
                    if op == "depthwise_conv2d":
                        cout, groups = cin * int(spec.get("multiplier", 1)), cin
                    else:
                        cout, groups = int(spec["filters"]), 1
                    conv = nn.Conv2d(cin, cout, k, stride=s, dilation=d, groups=groups,
                                     padding="same" if pad == "same" else 0, bias=True)
                    mods = [conv]
                    if spec.get("bn"):
                        mods.append(nn.BatchNorm2d(cout))
                    self.mods.append(nn.Sequential(*mods))
                    from ..nn import ir
                    shape = (cout, ir.conv_out_size(shape[1], k[0], s[0], d[0], pad),
                             ir.conv_out_size(shape[2], k[1], s[1], d[1], pad))
                elif op in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"):
                    k = _pair(spec.get("size", 2), self.one_d)
                    s = _pair(spec.get("stride", spec.get("size", 2)), self.one_d)
                    cls = nn.MaxPool2d if op.startswith("max") else nn.AvgPool2d
                    self.mods.append(cls(k, s))
                    shape = (shape[0], (shape[1] - k[0]) // s[0] + 1, (shape[2] - k[1]) // s[1] + 1)
                elif op == "flatten":
                    self.mods.append(nn.Identity())
                    shape = (int(np.prod(shape)),)
                elif op == "dropout":
                    self.mods.append(nn.Dropout(float(spec.get("rate", DROPOUT))))
                elif op == "dense":
                    if len(shape) != 1:
                        raise UlearnError("a dense layer needs a flatten before it")
                    units = int(spec["units"])
                    mods = [nn.Linear(shape[0], units)]
                    if spec.get("bn"):
                        mods.append(nn.BatchNorm1d(units))
                    self.mods.append(nn.Sequential(*mods))
                    shape = (units,)
                elif op == "softmax":
                    self.mods.append(nn.Identity())
                else:
                    raise UlearnError(f"unknown layer {op!r} in the CNN architecture")
                if min(shape) < 1:
                    raise UlearnError(f"layer {op} leaves an empty output for input {self.input_shape}")
                self.shapes.append((before, shape))
            if shape != (n_classes,):
                raise UlearnError(f"the architecture ends with shape {shape}, expected ({n_classes},)")

        def forward(self, x, collect: list | None = None):
            x = (x - self.mean) / self.std
            x = x.unsqueeze(1).permute(0, 3, 1, 2) if self.one_d else x.permute(0, 3, 1, 2)
            for spec, mod in zip(self.arch, self.mods, strict=True):
                op = spec["op"]
                if op == "flatten":
                    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
                elif op == "softmax":
                    if collect is None:
                        continue  # training uses logits
                    x = torch.softmax(x, dim=1)
                else:
                    x = mod(x)
                act = spec.get("act")
                if act == "relu":
                    x = torch.relu(x)
                elif act == "relu6":
                    x = torch.clamp(x, 0.0, 6.0)
                elif act not in (None, "none"):
                    raise UlearnError(f"unknown activation {act!r} (relu, relu6 or none)")
                if collect is not None:
                    collect.append(x)
            return x

        def params(self) -> int:
            """Trainable parameters (BatchNorm folds away and is not counted)."""
            n = 0
            for mod in self.mods:
                for sub in mod.modules():
                    if isinstance(sub, (nn.Conv2d, nn.Linear)):
                        n += sum(p.numel() for p in sub.parameters())
            return n

        def float_layers(self, X: np.ndarray):
            """The network as quantize.FloatLayer list (IR layouts) with calibration outputs on X.

            Returns (layers, standardized inputs)."""
            from ..quantize import FloatLayer, fold_batchnorm
            self.eval()
            outs: list = []
            with torch.no_grad():
                xt = torch.tensor(np.asarray(X, np.float32))
                self.forward(xt, collect=outs)
                normalized = ((xt - self.mean) / self.std).numpy()
            layers = []
            for i, (spec, mod, (before, after)) in enumerate(zip(self.arch, self.mods, self.shapes, strict=True)):
                op = spec["op"]
                ir_in = self._ir_shape(before)
                ir_out = self._ir_shape(after)
                out = outs[i].numpy()
                if op == "dropout":
                    continue
                if op in ("conv1d", "conv2d", "depthwise_conv2d", "dense"):
                    lin = mod[0]
                    w = lin.weight.detach().numpy().astype(np.float64)
                    b = lin.bias.detach().numpy().astype(np.float64)
                    if len(mod) > 1:
                        bn = mod[1]
                        w, b = fold_batchnorm(w, b, bn.weight.detach().numpy(), bn.bias.detach().numpy(),
                                              bn.running_mean.numpy(), bn.running_var.numpy(), bn.eps)
                    if op == "dense":
                        wir = w
                        fl = FloatLayer(op, ir_in, ir_out, wir, b, spec.get("act"), output=out, name=f"dense_{i}")
                    else:
                        if op == "depthwise_conv2d":   # torch (C*M, 1, KH, KW) -> (1, KH, KW, C*M)
                            wir = w.transpose(1, 2, 3, 0)
                        elif op == "conv1d":           # (O, I, 1, K) -> OWI
                            wir = w[:, :, 0, :].transpose(0, 2, 1)
                        else:                          # (O, I, KH, KW) -> OHWI
                            wir = w.transpose(0, 2, 3, 1)
                        fl = FloatLayer(op, ir_in, ir_out, wir, b, spec.get("act"),
                                        kernel=tuple(lin.kernel_size), stride=tuple(lin.stride),
                                        dilation=tuple(lin.dilation), padding=spec.get("padding", "valid"),
                                        depth_multiplier=int(spec.get("multiplier", 1)), output=out,
                                        name=f"{op}_{i}")
                elif op in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"):
                    k = _pair(spec.get("size", 2), self.one_d)
                    s = _pair(spec.get("stride", spec.get("size", 2)), self.one_d)
                    fl = FloatLayer(op, ir_in, ir_out, kernel=k, stride=s, name=f"{op}_{i}")
                elif op == "flatten":
                    fl = FloatLayer("reshape", ir_in, ir_out, name=f"flatten_{i}")
                elif op == "softmax":
                    fl = FloatLayer("softmax", ir_in, ir_out, name=f"softmax_{i}")
                else:  # pragma: no cover
                    raise UlearnError(f"cannot export layer {op!r}")
                layers.append(fl)
            return layers, normalized

        def _ir_shape(self, chw: tuple[int, ...]) -> tuple[int, ...]:
            if len(chw) == 1:
                return chw
            c, h, w = chw
            return (w, c) if self.one_d else (h, w, c)

        def predict_proba(self, X: np.ndarray, batch: int = 512) -> np.ndarray:
            """Float class probabilities for raw inputs X."""
            self.eval()
            res = []
            with torch.no_grad():
                for i in range(0, len(X), batch):
                    logits = self.forward(torch.tensor(np.asarray(X[i:i + batch], np.float32)))
                    res.append(torch.softmax(logits, dim=1).numpy())
            return np.concatenate(res) if res else np.zeros((0, self.n_classes), np.float32)

    torch.manual_seed(seed)
    return FloatNet()


def _augment(torch, xb, gen):
    """Window amplitude augmentation: the variation about each window's per-channel mean is scaled by a
    random gain in [0.7, 1.4] (a sensor mounted more or less firmly); the mean (gravity, posture) stays."""
    g = AUG_LOG_GAIN
    mean = xb.mean(dim=1, keepdim=True)
    gain = torch.exp(torch.empty(xb.shape[0], 1, 1).uniform_(-g, g, generator=gen))
    return mean + gain * (xb - mean)


def fit(net, X: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, lr: float = LR,
        batch: int = BATCH, progress: bool = False, augment: bool = True) -> list[float]:
    """Train `net` (Adam, cross-entropy, cosine learning rate); returns the loss per epoch."""
    torch = _torch()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.tensor(np.asarray(X, np.float32))
    yt = torch.tensor(np.asarray(y, np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    iterator = range(epochs)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="train", unit="epoch", leave=False)
    for _ in iterator:
        net.train()
        perm = torch.randperm(len(Xt), generator=gen)
        total = 0.0
        for i in range(0, len(Xt), batch):
            idx = perm[i:i + batch]
            if len(idx) < 2:
                continue
            xb = Xt[idx]
            if augment and net.one_d:
                xb = _augment(torch, xb, gen)
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        losses.append(total / len(Xt))
    net.eval()
    return losses


# -- the pipeline: dataset -> float net -> int8 IR --------------------------------------------------

@dataclass
class Trained:
    """What `train_dataset` produces: the float net, its int8 IR and their test accuracies."""

    net: Any
    model: Any  # ulearn_host.nn.ir.Model
    float_accuracy: float
    int8_accuracy: float
    seconds: float
    epochs: int
    int8_outputs: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def standardization(ds) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-channel (mean, std) of the training windows; images (already in [0, 1]) are left as they are."""
    if ds.kind == "image":
        return None, None
    axes = tuple(range(ds.X.ndim - 1))
    std = ds.X.std(axis=axes).astype(np.float64)
    return ds.X.mean(axis=axes).astype(np.float64), np.where(std > 1e-6, std, 1.0)


def int8_predict(model, X: np.ndarray) -> np.ndarray:
    """int8 outputs (n, outputs) of the IR model on float inputs X, through the numpy reference."""
    from ..nn import reference
    q = model.quantize_input(X)
    return reference.run_batch(model, q).reshape(len(X), -1)


def train_dataset(ds, epochs: int | None = None, seed: int = 0, arch: list[dict] | None = None,
                  name: str = "model", progress: bool = False, max_calib: int = 1000) -> Trained:
    """Train the default (or given) CNN on a Dataset, quantize it with the training data as calibration
    set, and measure float and int8 (numpy reference) test accuracy."""
    from ..quantize import quantize_net
    start = time.time()
    shape = tuple(int(s) for s in ds.X.shape[1:])
    arch = arch or default_arch(shape, ds.n_classes)
    mean, std = standardization(ds)
    net = build_net(arch, shape, ds.n_classes, mean, std, seed=seed)
    epochs = int(epochs or DEFAULT_EPOCHS.get(ds.kind, 40))
    fit(net, ds.X, ds.y, epochs, seed=seed, progress=progress)
    float_acc = float((net.predict_proba(ds.X_test).argmax(1) == ds.y_test).mean())
    rng = np.random.default_rng(seed)
    calib = ds.X[rng.permutation(len(ds.X))[:max_calib]]
    model = quantize_net(net, calib, classes=list(ds.classes), name=name)
    model.input_unit = ds.units
    out = int8_predict(model, ds.X_test)
    int8_acc = float((out.argmax(1) == ds.y_test).mean())
    return Trained(net, model, float_acc, int8_acc, time.time() - start, epochs, out)


def save_float(net, path: str | Path, extra: dict | None = None) -> Path:
    """Save the float network (architecture, shapes, standardization, weights) as a torch checkpoint."""
    torch = _torch()
    path = Path(path)
    torch.save({"format": "ulearn-cnn-float-1", "arch": net.arch, "input_shape": list(net.input_shape),
                "n_classes": net.n_classes, "state_dict": net.state_dict(), **(extra or {})}, path)
    return path


def load_float(path: str | Path):
    """(net, checkpoint dict) from a checkpoint written by save_float."""
    torch = _torch()
    try:
        ck = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise UlearnError(f"cannot read the float model {path}: {e}; train one with "
                          "`ulearn train --model cnn`") from None
    if not isinstance(ck, dict) or ck.get("format") != "ulearn-cnn-float-1":
        raise UlearnError(f"{path} is not a ulearn float CNN checkpoint (written by `ulearn train --model cnn`)")
    net = build_net(ck["arch"], tuple(ck["input_shape"]), int(ck["n_classes"]))
    net.load_state_dict(ck["state_dict"])
    net.eval()
    return net, ck


def export_all(model, out: str | Path, arch: str | None = None) -> dict[str, Path]:
    """Write the model blob (`out`: .mpy/.py/raw, with .ulb beside) and the `.tflite` reference beside it."""
    from ..nn import export
    from ..tflite.writer import to_tflite
    out = Path(out)
    paths = {"model": export.save(model, out, arch)}
    if out.suffix in (".mpy", ".py"):
        paths["blob"] = out.with_suffix(".ulb")
    tfl = out.with_suffix(".tflite")
    from ..blob import atomic_write
    atomic_write(tfl, to_tflite(model, description=f"ulearn {model.name}"))
    paths["tflite"] = tfl
    return paths


def train(args: argparse.Namespace) -> int:
    """`ulearn train --model cnn --data D --out M.mpy`: train, quantize, export; prints a summary."""
    from ..data import load_dataset
    from ..nn import export
    ds = load_dataset(args.data, seed=args.seed)
    out = Path(args.out)
    print(f"training the int8 CNN on {ds.name} ({'SIMULATED' if ds.simulated else 'recorded'} data, "
          f"{len(ds.X)} train / {len(ds.X_test)} test, input {tuple(ds.X.shape[1:])})", flush=True)
    res = train_dataset(ds, epochs=args.epochs, seed=args.seed, name=out.stem, progress=True)
    paths = export_all(res.model, out, getattr(args, "arch", None))
    save_float(res.net, out.with_suffix(".pt"), {"dataset": str(args.data), "seed": args.seed,
                                                 "classes": list(ds.classes),
                                                 "float_accuracy": res.float_accuracy})
    blob = export.to_blob(res.model)
    print(f"  {res.epochs} epochs in {res.seconds:.1f} s; {res.model.params()} parameters, "
          f"{res.model.macs()} MACs")
    print(f"  test accuracy: float {res.float_accuracy:.4f}, int8 {res.int8_accuracy:.4f} "
          f"({100 * (res.int8_accuracy - res.float_accuracy):+.2f} points)")
    print(f"  wrote {paths['model']} ({len(blob)} byte blob), {paths['tflite']} (TFLite reference), "
          f"{out.with_suffix('.pt')} (float model)")
    return 0


# -- evaluation: host reference, TFLite Micro, the device runtime in MicroPython, a board ---------

_DEVICE_RUN = """\
import gc, array, ulearn
try:
    import ulearn.nn.model
except ImportError:
    pass
gc.collect()
gc.disable()
_a0 = gc.mem_alloc()
m = ulearn.load({blob!r})
x = array.array('b', bytes({n_in}))
out = array.array('b', bytes({n_out}))
fi = open({inputs!r}, 'rb')
fo = open({outputs!r}, 'wb')
n = 0
while fi.readinto(x) == {n_in}:
    m.predict(x, out)
    if n == 0:
        _a1 = gc.mem_alloc()
        gc.enable()
    fo.write(out)
    n += 1
fi.close()
fo.close()
gc.collect()
print('ULEARN-EVAL', n, _a1 - _a0, gc.mem_alloc() - _a0, m.info().get('backend', '?'))
"""


def device_code(blob_path: str, inputs: str, outputs: str, n_in: int, n_out: int) -> str:
    """MicroPython code that loads a blob, runs every int8 input of a file and writes the outputs."""
    return _DEVICE_RUN.format(blob=blob_path, inputs=inputs, outputs=outputs, n_in=n_in, n_out=n_out)


def _parse_device(stdout: str) -> tuple[int, dict, str]:
    for line in stdout.splitlines():
        if line.startswith("ULEARN-EVAL "):
            _, n, peak, retained, backend = line.split()
            return int(n), {"peak": int(peak), "retained": int(retained)}, backend
    raise UlearnError(f"the device run printed no result:\n{stdout[-2000:]}")


def run_unixport(blob: bytes, q: np.ndarray, n_out: int, heap: str = "256k",
                 compiled: bool = False) -> tuple[np.ndarray, dict, str]:
    """The device runtime (lib/ulearn/nn) inside the MicroPython unix port on int8 inputs `q` (n, ...).

    Returns (outputs int8 (n, n_out), heap {"peak": bytes allocated with the gc off by load + first
    inference (an upper bound of the peak), "retained": bytes still held by the model after a
    collection}, backend name)."""
    import tempfile

    from .. import unixport
    with tempfile.TemporaryDirectory(prefix="ulearn-eval-") as tmp:
        d = Path(tmp)
        (d / "model.ulb").write_bytes(blob)
        (d / "inputs.bin").write_bytes(np.ascontiguousarray(q, np.int8).tobytes())
        n_in = int(np.prod(q.shape[1:]))
        res = unixport.run(device_code("model.ulb", "inputs.bin", "outputs.bin", n_in, n_out),
                           heap=heap, compiled=compiled, cwd=d)
        n, peak, backend = _parse_device(res.stdout)
        out = np.frombuffer((d / "outputs.bin").read_bytes(), np.int8).reshape(n, n_out)
    return out, peak, backend


def run_board(port: str, blob: bytes, q: np.ndarray, n_out: int) -> tuple[np.ndarray, dict, str]:
    """Like run_unixport, on a board (ulearn must be pushed to it): files go to /ulearn_eval/."""
    from ..board import Board
    n_in = int(np.prod(q.shape[1:]))
    with Board(port, soft_reset=True) as b:  # a clean heap, as after a reset
        b.put(blob, "ulearn_eval/model.ulb")
        b.put(np.ascontiguousarray(q, np.int8).tobytes(), "ulearn_eval/inputs.bin")
        stdout = b.exec(device_code("ulearn_eval/model.ulb", "ulearn_eval/inputs.bin",
                                    "ulearn_eval/outputs.bin", n_in, n_out), timeout=600)
        n, peak, backend = _parse_device(stdout)
        out = np.frombuffer(b.get("ulearn_eval/outputs.bin"), np.int8).reshape(n, n_out)
    return out, peak, backend


def model_from_blob(blob: bytes):
    """The IR of a CNN blob, with the input standardization from META when the reader left it out."""
    from ulearn import blob as fmt

    from ..nn import export
    model = export.from_blob(blob)
    meta = fmt.Blob(blob).meta()
    if getattr(model, "input_mean", None) is None and meta.get("input_mean") is not None:
        model.input_mean = list(meta["input_mean"])
        model.input_std = list(meta["input_std"])
    return model


def evaluate(args: argparse.Namespace, blob: bytes) -> dict:
    """`ulearn eval M.mpy --data D [--port P]` for CNN blobs: one dict (printed as a JSON line).

    accuracy: int8 test accuracy of the numpy reference; float_accuracy: the float model saved beside
    the blob (`M.pt`), if there; bit_exact: the numpy reference, TFLite Micro (the model written as
    .tflite) and the device runtime in MicroPython (and on the board with --port) give identical bytes.
    """
    from ..data import load_dataset
    from ..tflite.micro import MicroReference
    from ..tflite.writer import to_tflite
    model = model_from_blob(blob)
    pt = Path(args.model).with_suffix(".pt")
    net, ck = load_float(pt) if pt.exists() else (None, {})
    # the split seed the model was trained with (an .npz without a test split is split by seed)
    seed = getattr(args, "seed", None)
    ds = load_dataset(args.data, seed=int(ck.get("seed", 0) if seed is None else seed))
    X, y = ds.X_test, ds.y_test
    if getattr(args, "limit", None):
        X, y = X[:args.limit], y[:args.limit]
    if tuple(X.shape[1:]) != tuple(model.input_shape):
        raise UlearnError(f"the model takes inputs of shape {tuple(model.input_shape)} but {ds.name} has "
                          f"{tuple(X.shape[1:])}; evaluate it on the data it was trained for")
    q = model.quantize_input(X)
    ref = int8_predict(model, X)
    n_out = ref.shape[1]
    result: dict[str, Any] = {"n": len(X), "accuracy": round(float((ref.argmax(1) == y).mean()), 6),
                              "float_accuracy": None, "params": model.params(), "blob_bytes": len(blob)}
    if net is not None and tuple(net.input_shape) == tuple(model.input_shape):
        result["float_accuracy"] = round(float((net.predict_proba(X).argmax(1) == y).mean()), 6)
    tflm = MicroReference(to_tflite(with_weight_scales(model))).run_batch(q)
    checks = {"tflite_micro": bool(np.array_equal(tflm, ref))}
    dev, peak, backend = run_unixport(blob, q, n_out)
    checks["micropython"] = bool(np.array_equal(dev, ref))
    result["peak_heap"] = peak["peak"]
    result["retained_heap"] = peak["retained"]
    result["backend"] = backend
    if getattr(args, "port", None):
        board, bpeak, bbackend = run_board(args.port, blob, q, n_out)
        checks["board"] = bool(np.array_equal(board, ref))
        result["board_accuracy"] = round(float((board.argmax(1) == y).mean()), 6)
        result["board_peak_heap"] = bpeak["peak"]
        result["board_backend"] = bbackend
    result.update(confusion_result(y, ref.argmax(1), model.classes or [str(i) for i in range(ref.shape[1])]))
    result["bit_exact"] = all(checks.values())
    result["bit_exact_checks"] = checks
    return result


def with_weight_scales(model):
    """The model with float32 weight scales for `.tflite` export: a blob stores only multiplier and
    shift, so each scale is recovered as a float32 whose TFLite multiplier is exactly the stored one."""
    from ..nn import ir
    for layer in model.layers:
        if layer.op not in ir.WEIGHTED_OPS or layer.weight_scales is not None:
            continue
        s_in = float(np.float32(layer.input_scale))
        s_out = float(np.float32(layer.output_scale))
        scales = []
        for m, sh in zip(layer.multiplier, layer.shift, strict=True):
            guess = np.float32(int(m) * 2.0 ** (int(sh) - 31) * s_out / s_in)
            cand = guess
            want = (int(m), int(sh))
            for step in range(64):
                if ir.quantize_multiplier(s_in * float(cand) / s_out) == want:
                    break
                cand = _nudge(guess, step + 1)
            else:
                raise UlearnError(f"layer {layer.name or layer.op}: no float32 weight scale reproduces "
                                  f"multiplier {int(m)}, shift {int(sh)}")
            scales.append(cand)
        layer.weight_scales = np.array(scales, np.float32)
    return model


def _nudge(x: np.float32, k: int) -> np.float32:
    """The k-th float32 neighbour of x, alternating up and down (1 -> +1 ulp, 2 -> -1 ulp, 3 -> +2 ...)."""
    direction = np.float32(np.inf) if k % 2 else np.float32(-np.inf)
    v = np.float32(x)
    for _ in range((k + 1) // 2):
        v = np.nextafter(v, direction)
    return v
