"""`ulearn repl [--port P]`: the board's REPL (through mpremote) with ulearn already imported."""

from __future__ import annotations

import argparse
import os
import sys

from ..board import resolve_port


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")


def run(args: argparse.Namespace) -> int:
    port = resolve_port(args.port)
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    print("ulearn repl: `ulearn` is imported; Ctrl-] or Ctrl-x leaves", flush=True)
    os.execv(mpremote, [mpremote, "connect", port, "resume", "exec", "import ulearn", "repl"])
    return 0
