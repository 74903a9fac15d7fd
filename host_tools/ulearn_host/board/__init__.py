"""Board tools: connect (USB or virtual), identify, push, run; the virtual board lives in `virtual`."""

from __future__ import annotations

import os
from pathlib import Path

from .device import Board, BoardError, BoardExecError
from .probe import compile_plan, identify

__all__ = ["Board", "BoardError", "BoardExecError", "identify", "compile_plan", "resolve_port",
           "default_virtual_link"]


def default_virtual_link() -> Path:
    """The link `ulearn board serve` creates by default, so `--port` can be left out."""
    from .virtual import default_home
    return default_home() / "tty"


def resolve_port(port: str | None) -> str:
    """The port to use: `port`, else $ULEARN_PORT, else the default virtual board, else one USB board."""
    if port:
        return port
    if os.environ.get("ULEARN_PORT"):
        return os.environ["ULEARN_PORT"]
    link = default_virtual_link()
    if link.exists():
        return str(link)
    from serial.tools import list_ports
    usb = [p.device for p in list_ports.comports() if p.vid is not None]
    if len(usb) == 1:
        return usb[0]
    if not usb:
        raise BoardError("no board found: connect one and pass --port PORT, or start a virtual board "
                         "with `ulearn board serve`")
    raise BoardError(f"several boards found ({', '.join(usb)}): choose one with --port")
