"""`ulearn push [--port P] [what ...]`: deploy lib/ulearn, apps and models to a board."""

from __future__ import annotations

import argparse

from ..board import Board, resolve_port
from ..board.push import push


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", nargs="*", default=["lib"],
                        help="lib (default), app names from device/apps, folders, model files (.mpy/.ulb), .py files")
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    native = parser.add_mutually_exclusive_group()
    native.add_argument("--no-native", action="store_true", help="do not install the native module")
    native.add_argument("--native", action="store_true", help="require the native module (error if the board can't)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the board")


def run(args: argparse.Namespace) -> int:
    with Board(resolve_port(args.port), timeout=args.timeout) as board:
        result = push(board, args.what, progress=not args.quiet, native=not args.no_native,
                      require_native=args.native)
    for item in result.skipped:
        print(f"skipped {item}")
    print(result.summary())
    return 0
