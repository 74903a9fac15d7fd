"""Pictures of data and results: signals, spectra, spectrograms, features, confusion, scores, layer costs.

Every `plot_*` function returns a matplotlib Figure; `save(fig, path)` writes a PNG. Figures are made
without pyplot (plain `matplotlib.figure.Figure`, Agg canvas), so nothing needs a display; pass
`interactive=True` to get a pyplot figure that `show()` can open in a window.

Inputs (what `ulearn plot` reads):
- a `Dataset` (from `ulearn_host.data.load_dataset`: a name or an .npz with X (n, T, C));
- a continuous recording: an (N, C) array with a sample rate (e.g. `python -m ulearn_host.data
  simulate` writes one to an .npz with key X);
- JSON results: a confusion matrix under "confusion" (or "confusion_matrix") with "classes"; decision
  scores under "scores" with an optional "threshold" and "rate_hz"; per-layer costs as a list of
  objects under "layers", each with a name ("name", "layer" or "type") and numbers whose keys end in
  `_us`, `_ms` or `cycles` (time) and `bytes` (memory). The keys may sit at any depth, so the output of
  `ulearn eval` and `ulearn bench --json` can be passed as is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .data import Dataset
from .errors import UlearnError
from .metrics import confusion_from_labels  # noqa: F401 (part of this module's API)

FEATURES = ("mean", "std", "ptp", "dominant_hz", "centroid_hz", "zero_cross_rate")
"""Per-channel window features `plot_features` can show."""

_CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")


def _figure(interactive: bool, w: float, h: float) -> Figure:
    if interactive:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=(w, h), layout="constrained")
    return Figure(figsize=(w, h), layout="constrained")


def _color(k: int) -> str:
    return _CLASS_COLORS[k % len(_CLASS_COLORS)]


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write the figure as a PNG (parent folders are created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi, format="png")
    return p


def show() -> None:
    """Open every interactive figure in a window (needs a GUI backend) and wait until they are closed."""
    import matplotlib.pyplot as plt

    plt.show()


def _class_ids(ds: Dataset, classes: Sequence[str] | None) -> list[int]:
    if not classes:
        return list(range(ds.n_classes))
    out = []
    for c in classes:
        if c in ds.classes:
            out.append(ds.classes.index(c))
        elif str(c).isdigit() and int(c) < ds.n_classes:
            out.append(int(c))
        else:
            raise UlearnError(f"{ds.name} has no class {c!r}; classes are {', '.join(ds.classes)}")
    return out


def _need_timeseries(ds: Dataset, what: str) -> None:
    if ds.kind != "timeseries":
        raise UlearnError(f"{what} needs time series; {ds.name} holds {ds.kind}s (try `ulearn plot signals`)")


def plot_signals(ds: Dataset, classes: Sequence[str] | None = None, index: int = 0,
                 interactive: bool = False) -> Figure:
    """One example per class: every channel against time (images: a row of pictures per class).

    index: which example of each class (0 = the first in the training split).
    """
    ids = _class_ids(ds, classes)
    if ds.kind == "image":
        shown = 8
        fig = _figure(interactive, 1.1 * shown, 1.2 * len(ids) + 0.6)
        axes = fig.subplots(len(ids), shown, squeeze=False)
        for r, k in enumerate(ids):
            examples = ds.X[ds.y == k]
            for c in range(shown):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if index + c < len(examples):
                    ax.imshow(examples[index + c, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
                if c == 0:
                    ax.set_ylabel(ds.classes[k])
        fig.suptitle(f"{ds.name}: examples per class")
        return fig
    fig = _figure(interactive, 10, 2.0 * len(ids) + 0.8)
    axes = fig.subplots(len(ids), 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(ds.X.shape[1]) / (ds.rate_hz or 1.0)
    for ax, k in zip(axes, ids, strict=True):
        examples = ds.X[ds.y == k]
        if index >= len(examples):
            raise UlearnError(f"{ds.name}: class {ds.classes[k]} has only {len(examples)} training examples")
        for c, name in enumerate(ds.channels):
            ax.plot(t, examples[index, :, c], lw=1.0, label=name)
        ax.set_title(ds.classes[k], loc="left", fontsize=10)
        ax.set_ylabel(ds.units or "value")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", ncol=min(6, len(ds.channels)), fontsize=8)
    axes[-1].set_xlabel("time (s)" if ds.rate_hz else "sample")
    fig.suptitle(f"{ds.name}{' (SIMULATED)' if ds.simulated else ''}: one window per class")
    return fig


def plot_recording(x: np.ndarray, rate_hz: float | None, channels: Sequence[str] | None = None,
                   title: str = "recording", units: str = "", interactive: bool = False) -> Figure:
    """A continuous (N, C) recording: one panel per channel against time."""
    x = _as_recording(x)
    names = list(channels or [f"ch{i}" for i in range(x.shape[1])])
    fig = _figure(interactive, 10, 1.6 * x.shape[1] + 0.8)
    axes = fig.subplots(x.shape[1], 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(len(x)) / (rate_hz or 1.0)
    for c, ax in enumerate(axes):
        ax.plot(t, x[:, c], lw=0.7, color=_color(c))
        ax.set_ylabel(f"{names[c]}" + (f"\n({units})" if units else ""))
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)" if rate_hz else "sample")
    fig.suptitle(title)
    return fig


def _as_recording(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) < 2:
        raise UlearnError(f"a recording must be a (N, C) array of samples, got shape {x.shape}")
    return x


def mean_spectra(X: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of windows X (n, T, C): Hann window, mean removed; returns (freqs Hz, (F, C))."""
    T = X.shape[1]
    w = np.hanning(T)[None, :, None]
    Xc = X - X.mean(axis=1, keepdims=True)
    p = (np.abs(np.fft.rfft(Xc * w, axis=1)) ** 2).mean(axis=0) / (w ** 2).sum()
    return np.fft.rfftfreq(T, 1.0 / rate_hz), p


def plot_spectra(ds: Dataset, classes: Sequence[str] | None = None, interactive: bool = False) -> Figure:
    """Mean power spectrum per class (dB), one panel per channel."""
    _need_timeseries(ds, "a spectrum")
    ids = _class_ids(ds, classes)
    rate = ds.rate_hz or 1.0
    C = ds.X.shape[2]
    cols = min(C, 3)
    rows = (C + cols - 1) // cols
    fig = _figure(interactive, 4.0 * cols + 1, 3.0 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k in ids:
        f, p = mean_spectra(ds.X[ds.y == k], rate)
        for c in range(C):
            axes[c].plot(f, 10 * np.log10(p[:, c] + 1e-12), color=_color(k), lw=1.2, label=ds.classes[k])
    for c in range(C):
        axes[c].set_title(ds.channels[c], fontsize=10)
        axes[c].set_xlabel("frequency (Hz)" if ds.rate_hz else "cycles/sample")
        axes[c].set_ylabel("power (dB)")
        axes[c].grid(alpha=0.3)
    for ax in axes[C:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{ds.name}: mean power spectrum per class ({ds.X.shape[1]}-sample windows)")
    return fig


def plot_spectrogram(x: np.ndarray, rate_hz: float, channel: int = 0, channel_name: str = "",
                     nfft: int = 128, title: str = "", interactive: bool = False) -> Figure:
    """Signal (top) and spectrogram (bottom) of one channel of a continuous (N, C) recording."""
    x = _as_recording(x)
    if not 0 <= channel < x.shape[1]:
        raise UlearnError(f"channel {channel} does not exist; the recording has {x.shape[1]} channels")
    sig = x[:, channel] - x[:, channel].mean()
    nfft = int(min(nfft, 2 ** int(np.log2(len(sig)))))
    if nfft < 8:
        raise UlearnError(f"a spectrogram needs at least 8 samples, got {len(sig)}")
    fig = _figure(interactive, 10, 5.5)
    ax_t, ax_f = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    t = np.arange(len(sig)) / rate_hz
    ax_t.plot(t, sig, lw=0.6)
    ax_t.set_ylabel(channel_name or f"ch{channel}")
    ax_t.grid(alpha=0.3)
    _, _, _, im = ax_f.specgram(sig, NFFT=nfft, Fs=rate_hz, noverlap=nfft * 3 // 4, cmap="magma",
                                scale="dB")
    ax_f.set_ylabel("frequency (Hz)")
    ax_f.set_xlabel("time (s)")
    fig.colorbar(im, ax=ax_f, label="power (dB)")
    fig.suptitle(title or f"spectrogram of {channel_name or f'channel {channel}'}")
    return fig


def window_features(X: np.ndarray, rate_hz: float | None) -> dict[str, np.ndarray]:
    """Simple per-window, per-channel features of X (n, T, C): each value is an (n, C) float array.

    mean, std, ptp (peak to peak) in the data's unit; dominant_hz and centroid_hz from the power
    spectrum (Hz, or cycles/sample without a rate); zero_cross_rate in crossings of the mean per sample.
    """
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=1, keepdims=True)
    p = np.abs(np.fft.rfft(Xc * np.hanning(X.shape[1])[None, :, None], axis=1)) ** 2
    f = np.fft.rfftfreq(X.shape[1], 1.0 / (rate_hz or 1.0))
    total = p.sum(axis=1)
    signs = np.signbit(Xc)
    return {
        "mean": X.mean(axis=1),
        "std": X.std(axis=1),
        "ptp": np.ptp(X, axis=1),
        "dominant_hz": f[p[:, 1:].argmax(axis=1) + 1],
        "centroid_hz": (p * f[None, :, None]).sum(axis=1) / np.where(total > 0, total, 1.0),
        "zero_cross_rate": (signs[:, 1:] != signs[:, :-1]).mean(axis=1),
    }


def plot_features(ds: Dataset, features: Sequence[str] = ("std", "dominant_hz", "centroid_hz"),
                  channels: Sequence[str] | None = None, interactive: bool = False) -> Figure:
    """Distribution of each feature per class (box plots), one panel per feature and channel."""
    _need_timeseries(ds, "feature distributions")
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise UlearnError(f"unknown feature(s) {', '.join(unknown) or '(none given)'}; "
                          f"choose from {', '.join(FEATURES)}")
    chans = list(range(ds.X.shape[2]))
    if channels:
        bad = [c for c in channels if c not in ds.channels]
        if bad:
            raise UlearnError(f"{ds.name} has no channel {bad[0]!r}; channels are {', '.join(ds.channels)}")
        chans = [ds.channels.index(c) for c in channels]
    values = window_features(ds.X, ds.rate_hz)
    fig = _figure(interactive, 2.6 * len(chans) + 1, 2.6 * len(features) + 0.6)
    axes = fig.subplots(len(features), len(chans), squeeze=False)
    for r, feat in enumerate(features):
        for col, c in enumerate(chans):
            ax = axes[r, col]
            groups = [values[feat][ds.y == k, c] for k in range(ds.n_classes)]
            box = ax.boxplot(groups, patch_artist=True, widths=0.6, flierprops={"markersize": 2})
            for k, patch in enumerate(box["boxes"]):
                patch.set_facecolor(_color(k))
                patch.set_alpha(0.6)
            ax.set_xticks(range(1, ds.n_classes + 1), ds.classes, rotation=30, fontsize=8)
            ax.grid(alpha=0.3, axis="y")
            if r == 0:
                ax.set_title(ds.channels[c], fontsize=10)
            if col == 0:
                ax.set_ylabel(feat)
    fig.suptitle(f"{ds.name}: feature distributions per class (training split)")
    return fig


def plot_confusion(matrix: Any, classes: Sequence[str] | None = None, title: str = "",
                   interactive: bool = False) -> Figure:
    """Confusion matrix with counts and row-normalized colour (row = true class, column = predicted)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise UlearnError(f"a confusion matrix must be square, got shape {m.shape}")
    names = list(classes or [str(i) for i in range(len(m))])
    if len(names) != len(m):
        raise UlearnError(f"{len(names)} class names for a {len(m)}x{len(m)} confusion matrix")
    rows = m.sum(axis=1, keepdims=True)
    frac = m / np.where(rows > 0, rows, 1)
    n = len(m)
    fig = _figure(interactive, 1.0 + 0.7 * n + 1.5, 0.8 + 0.7 * n + 0.6)
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(m) / max(m.sum(), 1)
    ax.set_title(f"{title + ': ' if title else ''}accuracy {acc:.1%} ({int(m.sum())} examples)", fontsize=10)
    fig.colorbar(im, ax=ax, label="fraction of true class", shrink=0.8)
    return fig


def plot_scores(scores: Any, threshold: float | None = 0.0, rate_hz: float | None = None,
                labels: Sequence[int] | None = None, title: str = "decision scores",
                interactive: bool = False) -> Figure:
    """Decision scores over time with the threshold; samples past the threshold are marked.

    scores: one score per window/decision (1-D). rate_hz: decisions per second (x axis in s), else index.
    labels: optional true 0/1 (normal/anomaly) per score, drawn as a shaded band.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(s) == 0 or not np.isfinite(s).all():
        raise UlearnError("scores must be a non-empty list of finite numbers")
    t = np.arange(len(s)) / rate_hz if rate_hz else np.arange(len(s))
    fig = _figure(interactive, 10, 3.8)
    ax = fig.subplots()
    if labels is not None:
        lab = np.asarray(labels).ravel()
        if len(lab) != len(s):
            raise UlearnError(f"{len(lab)} labels for {len(s)} scores")
        ax.fill_between(t, 0, 1, where=lab.astype(bool), transform=ax.get_xaxis_transform(),
                        color="#d62728", alpha=0.12, step="mid", label="true anomaly")
    ax.plot(t, s, lw=1.0, color="#1f77b4", label="score")
    if threshold is not None:
        ax.axhline(threshold, color="#d62728", ls="--", lw=1.2, label=f"threshold {threshold:g}")
        below = s < threshold
        ax.scatter(t[below], s[below], s=10, color="#d62728", zorder=3,
                   label=f"below threshold ({int(below.sum())})")
    ax.set_xlabel("time (s)" if rate_hz else "decision")
    ax.set_ylabel("decision score")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def _time_scale(key: str) -> tuple[str, float] | None:
    k = key.lower()
    if k.endswith("_us") or k == "us":
        return "us", 1.0
    if k.endswith("_ms") or k == "ms":
        return "us", 1000.0
    if k.endswith("cycles"):
        return "cycles", 1.0
    return None


def plot_layers(layers: Sequence[dict], title: str = "per-layer cost", interactive: bool = False) -> Figure:
    """Per-layer time, memory and work as horizontal bars, one panel each, one bar per numeric field.

    layers: dicts with a name ("name", "layer" or "type") and numbers; keys ending in _us/_ms/cycles are
    time, keys ending in bytes are memory, keys ending in macs are work (multiply-accumulates), e.g.
    {"name": "conv1", "latency_us": 812, "arena_bytes": 4096, "macs": 30000}.
    A panel whose values span 100x or more uses a log scale.
    """
    if not layers:
        raise UlearnError("no layers to plot: the JSON needs a list under \"layers\"")
    names = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise UlearnError(f"layer {i} is not an object: {layer!r}")
        label = layer.get("name") or layer.get("layer") or layer.get("type") or f"layer {i}"
        kind = layer.get("type") or layer.get("op")
        names.append(f"{i}: {label}" + (f" ({kind})" if kind and kind != label else ""))
    time_keys, mem_keys, work_keys = [], [], []
    for layer in layers:
        for k, v in layer.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            if _time_scale(k) and k not in time_keys:
                time_keys.append(k)
            elif k.lower().endswith("bytes") and k not in mem_keys:
                mem_keys.append(k)
            elif k.lower().endswith("macs") and k not in work_keys:
                work_keys.append(k)
    if not time_keys and not mem_keys and not work_keys:
        raise UlearnError("layers have no time (*_us, *_ms, *cycles), memory (*bytes) or work (*macs) "
                          "numbers to plot")
    panels = [(keys, what) for keys, what in ((time_keys, "time"), (mem_keys, "memory"), (work_keys, "work"))
              if keys]
    n = len(layers)
    fig = _figure(interactive, 5.0 * len(panels) + 2.0, 0.45 * n + 1.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    y = np.arange(n)
    for ax, (keys, what) in zip(axes, panels, strict=True):
        h = 0.8 / len(keys)
        unit = ""
        for j, k in enumerate(keys):
            vals = np.array([float(layer.get(k, 0) or 0) for layer in layers])
            if what == "time":
                unit, scale = _time_scale(k)  # type: ignore[misc]
                vals = vals * scale
            else:
                unit = "bytes" if what == "memory" else "MACs"
            bars = ax.barh(y - 0.4 + h * (j + 0.5), vals, height=h, label=k, color=_color(j))
            ax.bar_label(bars, fmt="%.4g", fontsize=7, padding=2)
        ax.set_xlabel(f"{what} ({unit})" if len({_time_scale(k) for k in keys}) <= 1 or what != "time"
                      else what)
        shown = np.array([float(layer.get(k, 0) or 0) for layer in layers for k in keys])
        shown = shown[shown > 0]
        if len(shown) and shown.max() / shown.min() >= 100:  # e.g. native vs pure Python: log scale
            ax.set_xscale("log")
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize=8, loc="lower right")
        ax.margins(x=0.15)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    totals = []
    for keys, _what in panels:
        for k in keys:
            totals.append(f"{k} total {sum(float(layer.get(k, 0) or 0) for layer in layers):.4g}")
    fig.suptitle(f"{title}\n" + ", ".join(totals), fontsize=10)
    return fig


# ------------------------------------------------------------------ reading results
def find_key(obj: Any, keys: Sequence[str], path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, value, parent) in a JSON tree whose key is one of `keys` (depth first)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            here = f"{path}.{k}" if path else str(k)
            if k in keys:
                yield here, v, obj
            yield from find_key(v, keys, here)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from find_key(v, keys, f"{path}[{i}]")


def _first_number(parent: dict, keys: Sequence[str]) -> float | None:
    for k in keys:
        v = parent.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def confusions_in(result: Any) -> list[tuple[str, np.ndarray, list[str] | None]]:
    """Every confusion matrix in a JSON result: (where, matrix, class names or None)."""
    found = []
    for where, value, parent in find_key(result, ("confusion", "confusion_matrix")):
        m = np.asarray(value, dtype=np.float64) if isinstance(value, list) else None
        if m is None or m.ndim != 2:
            continue
        names = parent.get("classes") or parent.get("labels")
        if not names and isinstance(result, dict):
            names = result.get("classes")
        found.append((where, m, list(names) if names else None))
    return found


def scores_in(result: Any) -> list[tuple[str, np.ndarray, float | None, float | None, list | None]]:
    """Every score series in a JSON result: (where, scores, threshold, rate_hz, labels)."""
    found = []
    for where, value, parent in find_key(result, ("scores", "decision_scores")):
        if not isinstance(value, list) or not value or not all(isinstance(v, (int, float)) for v in value):
            continue
        found.append((where, np.asarray(value, dtype=np.float64), _first_number(parent, ("threshold",)),
                      _first_number(parent, ("rate_hz", "decisions_per_s")),
                      parent.get("labels") if isinstance(parent.get("labels"), list) else None))
    return found


def _numbers(v: Any, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)


def _columns(names: list, parent: dict, key: str) -> list[dict]:
    """Per-layer rows from a columnar layout: `layers` = names, sibling lists of numbers one per layer
    (e.g. "layer_macs"), and per-backend lists under "backends" (e.g. backends.native.layer_us ->
    "native_layer_us"), as `ulearn bench nn --json` writes them."""
    n = len(names)
    rows: list[dict] = [{"name": str(name)} for name in names]
    for k, v in parent.items():
        if k != key and _numbers(v, n):
            for row, x in zip(rows, v, strict=True):
                row[k] = x
    backends = parent.get("backends")
    if isinstance(backends, dict):
        for b, d in backends.items():
            for k, v in (d.items() if isinstance(d, dict) else ()):
                if _numbers(v, n):
                    for row, x in zip(rows, v, strict=True):
                        row[f"{b}_{k}"] = x
    return rows


def layers_in(result: Any) -> list[tuple[str, list[dict]]]:
    """Every per-layer list in a JSON result: (where, layers). A list of objects is taken as it is; a
    list of layer names is combined with the per-layer number lists beside it (see `_columns`)."""
    out = []
    for where, value, parent in find_key(result, ("layers", "per_layer")):
        if not isinstance(value, list) or not value:
            continue
        if all(isinstance(v, dict) for v in value):
            out.append((where, value))
        elif all(isinstance(v, str) for v in value):
            rows = _columns(value, parent, "layers" if "layers" in parent else "per_layer")
            if any(len(r) > 1 for r in rows):
                out.append((where, rows))
    return out
