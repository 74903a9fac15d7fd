"""Board tools: connect (USB or virtual), identify, push, run; the virtual board lives in `virtual`."""

from __future__ import annotations

import os
from pathlib import Path

from .device import Board, BoardError, BoardExecError
from .probe import compile_plan, identify

__all__ = [
    "Board",
    "BoardError",
    "BoardExecError",
    "all_ports",
    "compile_plan",
    "default_virtual_link",
    "for_each_board",
    "identify",
    "resolve_port",
]


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


def all_ports() -> list[str]:
    """Every board connected now: USB serial devices with a USB id, and running virtual boards."""
    from serial.tools import list_ports

    from .virtual import running_boards
    ports = [p.device for p in list_ports.comports() if p.vid is not None]
    ports += [b["port"] for b in running_boards()]
    if not ports:
        raise BoardError("no boards found: connect some, or start virtual ones with `ulearn board serve --count N`")
    return ports


def for_each_board(ports: list[str], work, workers: int = 16) -> list[tuple[str, object, str | None]]:
    """Run `work(port)` on every port in parallel; [(port, result, error or None)] in port order.

    One failing board does not stop the others: its error message is recorded instead.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(port: str):
        try:
            return port, work(port), None
        except Exception as e:  # noqa: BLE001 - every board's failure is reported in the table
            return port, None, str(e) or type(e).__name__

    with ThreadPoolExecutor(max_workers=min(workers, max(len(ports), 1))) as pool:
        return list(pool.map(one, ports))


def result_table(rows: list[tuple[str, str, str]], headers: tuple[str, str, str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
