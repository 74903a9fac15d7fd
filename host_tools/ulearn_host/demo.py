"""`make demo`: ulearn end to end. With no --port (and no $ULEARN_PORT) it runs on a virtual board.

Each step prints the command a person would type to do the same by hand.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

from . import REPO_ROOT
from .errors import UlearnError

OUT = REPO_ROOT / "out" / "demo"


def step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def ulearn(*args: str, capture: bool = False) -> str:
    """Run one `ulearn` command as a user would, echoing it; stop the demo if it fails."""
    print(f"$ ulearn {shlex.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "ulearn_host", *args], text=True,
                          stdout=subprocess.PIPE if capture else None)
    if proc.returncode:
        raise UlearnError(f"demo step `ulearn {shlex.join(args)}` failed (exit {proc.returncode})")
    if capture:
        print(proc.stdout, end="", flush=True)
        return proc.stdout
    return ""


class DemoBoard:
    """The board the demo uses: the one given, or a virtual board started (and stopped) here."""

    def __init__(self, port: str | None):
        self.port = port
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        if self.port:
            return self.port
        home = OUT / "virtual-board"
        (home / "flash.img").unlink(missing_ok=True)  # a fresh board every demo
        ready = home / "ready"
        home.mkdir(parents=True, exist_ok=True)
        ready.unlink(missing_ok=True)
        print(f"$ ulearn board serve --home {home} &", flush=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "ulearn_host.board.virtual", "--home", str(home),
                                      "--link", str(home / "tty"), "--ready-file", str(ready)],
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise UlearnError("the virtual board did not start")
            time.sleep(0.05)
        self.port = str(home / "tty")
        return self.port

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def run_demo(port: str | None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with DemoBoard(port or os.environ.get("ULEARN_PORT")) as port:
        step("1. the board")
        ulearn("info", "--port", port)

        step("2. install ulearn on it (compiled for its .mpy ABI, only what changed, verified)")
        ulearn("push", "--port", port)
        ulearn("push", "--port", port, "-q")

        for extra in DEMO_STEPS:
            extra(port)
    print("\nulearn demo: done.", flush=True)


# Further steps (models, apps) are appended here as functions of the port.
DEMO_STEPS: list = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulearn_host.demo", description=__doc__)
    parser.add_argument("--port", help="a real board; default: a virtual board")
    args = parser.parse_args(argv)
    try:
        run_demo(args.port)
    except UlearnError as e:
        print(f"ulearn: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
