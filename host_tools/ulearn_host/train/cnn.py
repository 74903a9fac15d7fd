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

import math
from typing import Any

import numpy as np

from ..errors import UlearnError

DROPOUT = 0.25
DEFAULT_EPOCHS = {"timeseries": 60, "image": 40}
BATCH = 32
LR = 3e-3


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
            for spec, mod in zip(self.arch, self.mods):
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
            for i, (spec, mod, (before, after)) in enumerate(zip(self.arch, self.mods, self.shapes)):
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


def _augment(torch, xb, gen, one_d: bool):
    """Training-time augmentation for windows: random amplitude scaling, shift and a little noise."""
    if not one_d:
        return xb
    n = xb.shape[0]
    scale = 1.0 + 0.1 * (torch.rand(n, 1, 1, generator=gen) * 2 - 1)
    shift = int(torch.randint(-8, 9, (1,), generator=gen))
    xb = torch.roll(xb * scale, shifts=shift, dims=1)
    return xb + 0.02 * xb.std() * torch.randn(xb.shape, generator=gen)


def fit(net, X: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, lr: float = LR,
        batch: int = BATCH, progress: bool = False) -> list[float]:
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
            xb = _augment(torch, Xt[idx], gen, net.one_d)
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        losses.append(total / len(Xt))
    net.eval()
    return losses
