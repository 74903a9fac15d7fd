"""`python -m ulearn_host.data prepare|info|export|simulate`: set up and inspect datasets."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..errors import UlearnError
from . import fansim, load_dataset, prepare, save_npz


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m ulearn_host.data", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="download/unpack datasets that need it (BasicMotions); idempotent")
    s = sub.add_parser("info", help="print shapes, classes, counts and provenance of a dataset")
    s.add_argument("data")
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("export", help="write a dataset (both splits + metadata) to an .npz")
    s.add_argument("data")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("simulate", help="write one SIMULATED fan recording to an .npz (key X: (N, 3) m/s^2)")
    s.add_argument("cls", choices=fansim.CLASSES)
    s.add_argument("out")
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        if args.cmd == "prepare":
            prepare()
        elif args.cmd == "info":
            print(load_dataset(args.data, seed=args.seed).summary())
        elif args.cmd == "export":
            print(save_npz(load_dataset(args.data, seed=args.seed), args.out))
        elif args.cmd == "simulate":
            x = fansim.simulate(args.cls, args.seconds, seed=args.seed)
            np.savez_compressed(args.out, X=x, rate_hz=np.float64(fansim.RATE_HZ), simulated=np.bool_(True),
                                cls=np.str_(args.cls), channels=np.array(fansim.CHANNELS), units=np.str_("m/s^2"))
            print(f"{args.out}: {x.shape[0]} samples x 3 axes, SIMULATED {args.cls}")
    except UlearnError as e:
        print(f"ulearn: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
