"""`make demo`: ulearn end to end. With no --port (and no $ULEARN_PORT) it runs on a virtual board.

Each step prints the command a person would type to do the same by hand.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

from . import IN_CHECKOUT, REPO_ROOT, cache_dir
from .board.virtual import BackgroundBoard, VirtualBoardError
from .errors import UlearnError

OUT = REPO_ROOT / "out" / "demo" if IN_CHECKOUT else cache_dir() / "demo"
GRAVITY = 9.80665
EPOCHS = 30
ANOMALY_SPEC = {"version": 1, "window": 64, "axes": 3, "rate_hz": 200.0, "hop": 32, "nfft": 64,
                "features": ["mean", "std", "ptp", "centroid", "band"], "bands": [[1, 8], [8, 33]], "magnitude": 3}


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
        self.board: BackgroundBoard | None = None

    def __enter__(self) -> str:
        if self.port:
            return self.port
        home = OUT / "virtual-board"
        (home / "flash.img").unlink(missing_ok=True)  # a fresh board every demo
        print(f"$ ulearn board serve --home {home} &", flush=True)
        try:
            self.board = BackgroundBoard(home, quiet=False).start()
        except VirtualBoardError as e:
            raise UlearnError(str(e)) from None
        return self.board.port

    def __exit__(self, *exc) -> None:
        if self.board:
            self.board.stop()


def run_demo(port: str | None, epochs: int = EPOCHS) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with DemoBoard(port or os.environ.get("ULEARN_PORT")) as port:
        step("1. the board")
        ulearn("info", "--port", port)

        step("2. install ulearn on it (compiled for its .mpy ABI, only what changed, verified)")
        ulearn("push", "--port", port)
        ulearn("push", "--port", port, "-q")

        fan_state_cnn(port, epochs)
        anomaly_in_situ(port)
    print("\nulearn demo: done.", flush=True)


def put_fan_recording(port: str, state: str, seed: int, fans: int = 1) -> None:
    """Make the virtual board's LIS3DH stand-in replay a SIMULATED fan in `state` (real-time, 200 Hz).

    With `fans` > 1 the recording joins that many fans (each its own speed and phase), 12 s in all.
    """
    import json

    import numpy as np

    from .board import Board
    from .data.fansim import simulate
    from .record import write_recording
    folder = OUT / "recordings" / f"{state}-{seed}-{fans}"
    data = np.concatenate([simulate(state, seconds=12 / fans, seed=seed + i) for i in range(fans)])
    path = write_recording(data / GRAVITY, 200.0, folder)
    print(f"(the simulated LIS3DH now replays a SIMULATED fan: {state}"
          + (f", {fans} fans one after another)" if fans > 1 else ")"), flush=True)
    with Board(port) as board:
        board.put(path.read_bytes(), "/recording.ulg")
        profile = json.loads(board.get("/board.json"))
        profile["i2c"]["recording"] = "/recording.ulg"
        board.put(json.dumps(profile, sort_keys=True).encode(), "/board.json")


def fan_state_cnn(port: str, epochs: int = EPOCHS) -> None:
    model = OUT / "fan.mpy"
    step("3. train the fan-state CNN on the host (SIMULATED fan vibration, 200 Hz, 3 axes), quantize to int8")
    ulearn("train", "--data", "fan-sim", "--model", "cnn", "--out", str(model), "--epochs", str(epochs))

    step("4. evaluate it: host reference and the board, every int8 output compared")
    ulearn("eval", str(model), "--data", "fan-sim", "--port", port, "--limit", "48")

    step("5. push the model, the apps and the board profile (Adafruit LIS3DH driver + simulated chip)")
    ulearn("push", "--port", port, "--board", "unix", "fan_monitor", "anomaly_detector", "data_logger", str(model))

    step("6. the fan monitor on the board: Adafruit driver -> simulated LIS3DH -> windows -> int8 CNN")
    for seed, state in enumerate(("off", "on", "clogged", "friction")):
        if not is_virtual(port):
            break
        put_fan_recording(port, state, seed=100 + seed)
        ulearn("run", "--port", port, "fan_monitor", "model=fan.mpy", "seconds=2.0")


def anomaly_in_situ(port: str) -> None:
    if not is_virtual(port):
        return
    step("7. anomaly detector: learn 'normal' (fan on) by training a one-class SVM ON THE BOARD")
    put_fan_recording(port, "on", seed=7, fans=4)
    ulearn("run", "--port", port, "anomaly_detector", "mode=learn", "n=40", f"spec={ANOMALY_SPEC!r}")
    step("8. ... then score live windows: a healthy fan, a clogged one, one with friction")
    for seed, state in enumerate(("on", "clogged", "friction")):
        put_fan_recording(port, state, seed=200 + seed)
        ulearn("run", "--port", port, "anomaly_detector", "mode=detect", "seconds=2.5", "spec=None", "quiet=True")


def is_virtual(port: str) -> bool:
    """The simulated-sensor steps need the virtual board (a real board has a real fan, or none)."""
    return str(port).startswith(str(OUT))


DEMO_STEPS = [fan_state_cnn, anomaly_in_situ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulearn_host.demo", description=__doc__)
    parser.add_argument("--port", help="a real board; default: a virtual board")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="CNN training epochs")
    args = parser.parse_args(argv)
    try:
        run_demo(args.port, args.epochs)
    except UlearnError as e:
        print(f"ulearn: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
