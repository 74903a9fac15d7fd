"""`ulearn push [--port P] [what ...]`: deploy lib/ulearn, apps and models to a board."""

from __future__ import annotations

import argparse

from ..board import Board, all_ports, for_each_board, resolve_port, result_table
from ..board.push import push
from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", nargs="*", default=["lib"],
                        help="lib (default), app names from device/apps, folders, model files (.mpy/.ulb), .py files")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    target.add_argument("--all", action="store_true", help="every connected board, in parallel, with a result table")
    native = parser.add_mutually_exclusive_group()
    native.add_argument("--no-native", action="store_true", help="do not install the native module")
    native.add_argument("--native", action="store_true", help="require the native module (error if the board can't)")
    parser.add_argument("--board", "-b", metavar="NAME",
                        help="board profile from boards/ (sensor driver, board.json); `ulearn info` suggests one")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the board")


def _profile(args: argparse.Namespace) -> dict | None:
    if not args.board:
        return None
    from ..boards import load
    return load(args.board)


def _push_one(args: argparse.Namespace, port: str, progress: bool):
    with Board(port, timeout=args.timeout) as board:
        return push(board, args.what, progress=progress, native=not args.no_native, require_native=args.native,
                    profile=_profile(args))


def run(args: argparse.Namespace) -> int:
    if args.all:
        results = for_each_board(all_ports(), lambda port: _push_one(args, port, progress=False))
        rows = [(port, "ok" if err is None else "FAILED", r.summary() if err is None else err)
                for port, r, err in results]
        print(result_table(rows, ("board", "result", "details")))
        failed = sum(1 for _, _, err in results if err)
        if failed:
            raise UlearnError(f"push failed on {failed} of {len(results)} boards (see the table)")
        return 0
    result = _push_one(args, resolve_port(args.port), progress=not args.quiet)
    for item in result.skipped:
        print(f"skipped {item}")
    print(result.summary())
    return 0
