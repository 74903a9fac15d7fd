"""`ulearn train --data D --model {cnn,svm,linear-svm,ocsvm} --out M.mpy`."""

from __future__ import annotations

import argparse
import importlib

from ..train import MODEL_TRAINERS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="dataset name (basicmotions, digits, fan-sim) or an .npz with X (n,T,C) and y")
    parser.add_argument("--model", required=True, choices=sorted(MODEL_TRAINERS), help="model family")
    parser.add_argument("--out", required=True, help="output model: .mpy (compiled module), .py or raw blob")
    parser.add_argument("--seed", type=int, default=0, help="random seed (split, init)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (cnn)")
    parser.add_argument("--arch", default=None, help="mpy-cross -march for the .mpy (default: none needed)")
    parser.add_argument("--normal", default=None,
                        help="ocsvm: comma-separated class names (or indices) that count as normal")


def run(args: argparse.Namespace) -> int:
    trainer = importlib.import_module(MODEL_TRAINERS[args.model])
    return trainer.train(args) or 0
