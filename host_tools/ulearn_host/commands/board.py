"""`ulearn board serve`: run a virtual board (MicroPython behind a pseudo-terminal)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..board.virtual import (DEFAULT_FLASH, DEFAULT_HEAP, VirtualBoardError, default_home, parse_size, serve,
                             serve_many)
from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    s = sub.add_parser("serve", help="start a virtual board and print its device path (Ctrl-C stops it)")
    s.add_argument("--home", type=Path, default=None,
                   help=f"folder for its flash image (default {default_home()})")
    s.add_argument("--flash-size", type=parse_size, default=DEFAULT_FLASH, help="flash size, e.g. 2M, 512k")
    s.add_argument("--heap", default=DEFAULT_HEAP, help="MicroPython heap, e.g. 256k (the seed's FRDM-K64F)")
    s.add_argument("--runtime", choices=["micropython", "circuitpython"], default="micropython",
                   help="circuitpython: MicroPython with CircuitPython's module names (for testing CP paths)")
    s.add_argument("--link", type=Path, default=None,
                   help="also create this symlink to the device (default <home>/tty)")
    s.add_argument("--count", type=int, default=1,
                   help="a classroom: run N boards at once (homes <home>/board-1..N); `--all` finds them")


def run(args: argparse.Namespace) -> int:
    try:
        _serve(args)
    except VirtualBoardError as e:
        raise UlearnError(str(e)) from None
    return 0


def _serve(args: argparse.Namespace) -> None:
    home = args.home or default_home()
    if args.count > 1:
        homes = [home / f"board-{i + 1}" for i in range(args.count)]
        serve_many(homes, args.flash_size, args.heap, [h / "tty" for h in homes], runtime=args.runtime)
    else:
        serve(home, args.flash_size, args.heap, args.link or home / "tty", runtime=args.runtime)
