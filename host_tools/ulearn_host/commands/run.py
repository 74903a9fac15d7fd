"""`ulearn run APP|FILE.py [--port P]`: run an app or a script on a board and stream its output."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from ..board import Board, BoardExecError, resolve_port
from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="an app pushed to the board (runs APP.main.main()) or a local .py file")
    parser.add_argument("app_args", nargs="*", help="KEY=VALUE arguments passed to the app's main()")
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop waiting after this many seconds")


def _kwargs(pairs: list[str]) -> str:
    parts = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UlearnError(f"app argument {pair!r} is not KEY=VALUE")
        try:
            parts.append(f"{key}={ast.literal_eval(value)!r}")
        except (ValueError, SyntaxError):
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    path = Path(args.target)
    if path.suffix == ".py" and path.is_file():
        code = path.read_text()
    else:
        code = f"from {args.target}.main import main\nmain({_kwargs(args.app_args)})"

    def echo(data: bytes) -> None:
        sys.stdout.write(data.decode(errors="replace").replace("\r\n", "\n"))
        sys.stdout.flush()

    # A soft reset first, as `mpremote run` does: the app starts on a clean heap.
    with Board(resolve_port(args.port), soft_reset=True) as board:
        try:
            board.exec(code, timeout=args.timeout, on_output=echo)
        except BoardExecError as e:
            sys.stderr.write(e.device_traceback)
            raise
    return 0
