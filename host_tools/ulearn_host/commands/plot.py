"""`ulearn plot WHAT INPUT`: PNG pictures of datasets, recordings and results (`--show` opens a window).

WHAT is one of:
  signals      one window per class (DATA), or a whole recording (.npz whose X is (N, C); with --raw the
               raw samples of a `ulearn record` file)
  spectrum     mean power spectrum per class and channel (DATA)
  spectrogram  spectrogram of one channel of a recording, or of one class's windows back to back (DATA)
  features     per-class distributions of window features: mean, std, ptp, dominant_hz, centroid_hz,
               zero_cross_rate (DATA)
  confusion    confusion matrix from `ulearn eval` JSON ("confusion" + "classes")
  scores       decision scores over time with the threshold (JSON "scores"/"threshold", or .npz)
  layers       per-layer time, memory and MACs from `ulearn bench nn --json` or any JSON with "layers"
DATA is a dataset name (basicmotions, digits, fan-sim) or an .npz file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import UlearnError

KINDS = ("signals", "spectrum", "spectrogram", "features", "confusion", "scores", "layers")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument("what", choices=KINDS, help="which picture")
    parser.add_argument("input", help="dataset name, .npz file or .json result")
    parser.add_argument("-o", "--out", default=None, help="PNG to write (default: <input>-<what>.png here)")
    parser.add_argument("--show", action="store_true", help="also open the figure in a window")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (split/simulation)")
    parser.add_argument("--classes", default=None, help="comma-separated class names to show")
    parser.add_argument("--cls", default=None, help="spectrogram of a dataset: the class to show")
    parser.add_argument("--index", type=int, default=0, help="signals: which example of each class")
    parser.add_argument("--channel", default="0", help="spectrogram: channel name or index")
    parser.add_argument("--channels", default=None, help="features: comma-separated channel names")
    parser.add_argument("--features", default="std,dominant_hz,centroid_hz",
                        help="features: comma-separated names (default: std,dominant_hz,centroid_hz)")
    parser.add_argument("--nfft", type=int, default=128, help="spectrogram: FFT length in samples")
    parser.add_argument("--threshold", type=float, default=None, help="scores: override the threshold")
    parser.add_argument("--rate", type=float, default=None, help="scores/recording: rate in Hz")
    parser.add_argument("--pick", type=int, default=0, help="JSON with several matrices/series: which one")
    parser.add_argument("--raw", action="store_true",
                        help="signals/spectrogram of a `ulearn record` file: its continuous raw samples")


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _read_json(path: str) -> object:
    p = Path(path)
    if not p.is_file():
        raise UlearnError(f"{p}: no such file; pass the JSON written by `ulearn eval` or `ulearn bench --json`")
    text = p.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lines = [ln for ln in text.splitlines() if ln.strip().startswith(("{", "["))]
        try:  # `ulearn eval` prints one JSON line; take the last one if other text surrounds it
            return json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError) as e:
            raise UlearnError(f"{p}: not JSON ({e})") from e


def _pick(found: list, args: argparse.Namespace, what: str, source: str):
    if not found:
        raise UlearnError(f"{source}: no {what} found in the JSON")
    if not 0 <= args.pick < len(found):
        raise UlearnError(f"{source}: --pick {args.pick} out of range; found {len(found)} {what}: "
                          + ", ".join(f[0] for f in found))
    return found[args.pick]


def _recording(path: str, raw: bool) -> dict | None:
    """An .npz holding one continuous recording (X of shape (N, C), no labels y) - or, with `raw`, the
    raw samples of a `ulearn record` file (raw int16 (N, C) times scale) - else None."""
    if not path.lower().endswith(".npz") or not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        if raw and "raw" in f.files:
            meta = {k: f[k] for k in f.files if k not in ("X", "y")}
            meta["X"] = f["raw"].astype(np.float64) * (float(f["scale"]) if "scale" in f.files else 1.0)
            return meta
        if raw:
            raise UlearnError(f"{path} has no raw samples (key 'raw', written by `ulearn record`)")
        if "X" not in f.files or "y" in f.files or f["X"].ndim != 2:
            return None
        meta = {k: f[k] for k in f.files}
    return meta


def _figure(args: argparse.Namespace):
    from .. import plot
    from ..data import load_dataset

    interactive = args.show
    what, src = args.what, args.input
    if what in ("confusion", "scores", "layers"):
        if what == "scores" and src.lower().endswith(".npz"):
            with np.load(src, allow_pickle=False) as f:
                if "scores" not in f.files:
                    raise UlearnError(f"{src}: no key 'scores'")
                thr = args.threshold if args.threshold is not None else \
                    (float(f["threshold"]) if "threshold" in f.files else 0.0)
                rate = args.rate or (float(f["rate_hz"]) if "rate_hz" in f.files else None)
                labels = f["labels"] if "labels" in f.files else None
                return plot.plot_scores(f["scores"], thr, rate, labels, title=Path(src).name,
                                        interactive=interactive)
        result = _read_json(src)
        if what == "confusion":
            where, m, names = _pick(plot.confusions_in(result), args, "confusion matrices", src)
            return plot.plot_confusion(m, names, title=f"{Path(src).stem}: {where}", interactive=interactive)
        if what == "scores":
            where, s, thr, rate, labels = _pick(plot.scores_in(result), args, "score series", src)
            thr = args.threshold if args.threshold is not None else (thr if thr is not None else 0.0)
            return plot.plot_scores(s, thr, args.rate or rate, labels, title=f"{Path(src).stem}: {where}",
                                    interactive=interactive)
        where, layers = _pick(plot.layers_in(result), args, "per-layer lists", src)
        return plot.plot_layers(layers, title=f"{Path(src).stem}: {where}", interactive=interactive)

    rec = _recording(src, args.raw)
    if rec is not None:
        x = rec["X"]
        rate = args.rate or (float(rec["rate_hz"]) if "rate_hz" in rec and float(rec["rate_hz"]) > 0 else None)
        names = [str(c) for c in rec["channels"]] if "channels" in rec else [f"ch{i}" for i in range(x.shape[1])]
        sim = " (SIMULATED)" if "simulated" in rec and bool(rec["simulated"]) else ""
        title = f"{Path(src).name}{sim}"
        if what == "signals":
            return plot.plot_recording(x, rate, names, title=title,
                                       units=str(rec["units"]) if "units" in rec else "", interactive=interactive)
        if what == "spectrogram":
            if not rate:
                raise UlearnError(f"{src}: no rate_hz in the file; pass --rate HZ")
            c = names.index(args.channel) if args.channel in names else _channel_index(args.channel, names)
            return plot.plot_spectrogram(x, rate, c, names[c], nfft=args.nfft, title=title,
                                         interactive=interactive)
        raise UlearnError(f"{src} is one continuous recording; `{what}` needs windows with labels "
                          "(a dataset); use signals or spectrogram")

    ds = load_dataset(src, seed=args.seed)
    if what == "signals":
        return plot.plot_signals(ds, _split(args.classes), args.index, interactive=interactive)
    if what == "spectrum":
        return plot.plot_spectra(ds, _split(args.classes), interactive=interactive)
    if what == "features":
        return plot.plot_features(ds, _split(args.features) or [], _split(args.channels), interactive=interactive)
    # spectrogram of a dataset: one class's training windows back to back
    if ds.kind != "timeseries" or not ds.rate_hz:
        raise UlearnError(f"{ds.name}: a spectrogram needs time series with a sample rate")
    k = ds.classes.index(args.cls) if args.cls in ds.classes else (
        int(args.cls) if args.cls and args.cls.isdigit() else None)
    if k is None:
        raise UlearnError(f"spectrogram of a dataset needs --cls, one of {', '.join(ds.classes)}")
    c = ds.channels.index(args.channel) if args.channel in ds.channels else _channel_index(args.channel, ds.channels)
    windows = ds.X[ds.y == k][:12]
    x = windows.reshape(-1, windows.shape[2])
    sim = " (SIMULATED)" if ds.simulated else ""
    return plot.plot_spectrogram(x, ds.rate_hz, c, ds.channels[c], nfft=args.nfft,
                                 title=f"{ds.name}{sim}: {ds.classes[k]}, first {len(windows)} windows back to back",
                                 interactive=interactive)


def _channel_index(text: str, names: list[str]) -> int:
    if text.isdigit() and int(text) < len(names):
        return int(text)
    raise UlearnError(f"no channel {text!r}; channels are {', '.join(names)} (or 0..{len(names) - 1})")


def run(args: argparse.Namespace) -> int:
    from .. import plot

    fig = _figure(args)
    out = Path(args.out) if args.out else Path(f"{Path(args.input).stem}-{args.what}.png")
    plot.save(fig, out)
    print(out)
    if args.show:
        plot.show()
    return 0
