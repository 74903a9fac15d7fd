"""`ulearn record --port P --seconds N --out data.npz [--label L]`: stream sensor samples into a dataset.

The board runs data_logger in stream mode (push it first: `ulearn push lib data_logger`); samples
arrive as binary frames with sequence numbers and CRC. The .npz feeds `ulearn train --data` directly.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    parser.add_argument("--seconds", type=float, required=True, help="how long to record")
    parser.add_argument("--out", required=True, help="output .npz (X windows, y, raw samples)")
    parser.add_argument("--label", default="unlabelled", help="class name of this recording")
    parser.add_argument("--window", type=int, default=128, help="window length in samples (default 128)")
    parser.add_argument("--hop", type=int, default=64, help="samples between window starts (default 64: 50%% overlap)")
    parser.add_argument("--append", action="store_true", help="add to an existing .npz (several labels in one file)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..board import resolve_port
    from ..record import record_from_board

    if args.seconds <= 0:
        raise UlearnError("--seconds must be > 0")
    if args.window < 1 or args.hop < 1:
        raise UlearnError("--window and --hop must be >= 1")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UlearnError(f"--out {out}: give a .npz file name")
    port = resolve_port(args.port)
    summary = record_from_board(port, args.seconds, out, args.label, args.window, args.hop,
                                append=args.append, show_progress=not args.no_progress)
    board = summary.get("board_stats") or {}
    print(f"recorded {summary['samples']} samples ({summary['windows']} windows of {args.window}) from {port} "
          f"into {out}; dropped frames: {summary['dropped_frames']}, corrupt frames: {summary['corrupt_frames']}"
          + (f"; board rate {board['rate_hz']:.2f} Hz, jitter max {board['jitter_us_max']} us" if board else ""))
    if summary["stopped"] != "end":
        print(f"ulearn: the recording stopped early ({summary['stopped']}"
              + (f": {summary['board_error']}" if summary.get("board_error") else "")
              + f"); what was received is saved in {out}")
        return 2
    if getattr(args, "verbose", False):
        print(json.dumps(summary, default=str))
    return 0
