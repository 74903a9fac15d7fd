"""The `ulearn` command line: one table of commands, one error family (`ulearn: <message>`).

Each command lives in `ulearn_host/commands/<module>.py` with `configure(parser)` and `run(args)`;
it is imported only when used, so `ulearn --help` stays fast and a missing optional dependency
(e.g. PyTorch) only affects the commands that need it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UlearnError

# name -> (module in ulearn_host.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("info", "identify a board: runtime, version, .mpy ABI/arch, heap, ulab, native, ulearn"),
    "push": ("push", "compile for the board and copy lib/ulearn, apps and models (only what changed)"),
    "run": ("run", "run an app or script on a board and stream its output"),
    "repl": ("repl", "open the board's REPL with ulearn imported"),
    "board": ("board", "virtual board: `ulearn board serve` runs MicroPython behind a pseudo-terminal"),
    "train": ("train", "train a model (cnn, svm, linear-svm, ocsvm) and export it as a .mpy blob"),
    "quantize": ("quantize", "post-training int8 quantization; reports float vs int8 accuracy"),
    "eval": ("eval", "evaluate a model blob on the host reference and/or a board; one JSON line"),
    "import": ("import_tflite", "convert an int8 .tflite model into a ulearn blob"),
    "record": ("record", "stream sensor samples from a board into an .npz file"),
    "pull-logs": ("pull_logs", "copy and decode the logs a board wrote"),
    "plot": ("plot", "plot signals, spectra, features, confusion matrices, scores, layer costs"),
    "bench": ("bench", "benchmarks: backend ratios, instructions/MAC, memory"),
}


def _command_module(name: str):
    module, _ = COMMANDS[name]
    return importlib.import_module(f"ulearn_host.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: global options, then one sub-command."""
    commands = "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="ulearn", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="ulearn: machine learning on MicroPython and CircuitPython boards.",
        epilog=f"commands:\n{commands}\n\n`ulearn COMMAND --help` describes one command.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"ulearn {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ulearn` console script; returns the exit status."""
    top = build_parser().parse_args(argv)
    try:
        module = _command_module(top.command)
        sub = argparse.ArgumentParser(prog=f"ulearn {top.command}", description=COMMANDS[top.command][1])
        module.configure(sub)
        args = sub.parse_args(top.args)
        args.verbose = top.verbose
        status = module.run(args)
        return int(status or 0)
    except UlearnError as e:
        if top.verbose:
            raise
        print(f"ulearn: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ulearn: interrupted", file=sys.stderr)
        return 130
    except ImportError as e:
        if top.verbose:
            raise
        print(f"ulearn: `{top.command}` needs a package that is not installed ({e.name or e}): "
              f"run `make setup` or `pip install 'ulearn[cnn]'`", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
