"""`ulearn info [--port P] [--json]`: identify a board."""

from __future__ import annotations

import argparse
import json

from ..board import Board, identify, resolve_port


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the board")


def _suggest_board(info: dict) -> str | None:
    try:
        from ..boards import suggest
    except ImportError:
        return None
    return suggest(info)


def format_info(info: dict) -> str:
    """A human-readable block for one board."""
    def kib(n):
        return f"{n / 1024:.0f} KiB" if isinstance(n, int) else "?"
    mpy = f"v{info['mpy_version']}.{info['mpy_sub']}" if info.get("mpy_version") is not None else "unknown"
    native = {"loaded": "ulearn_native loaded", None: "none installed"}.get(info.get("native_module"),
                                                                           info.get("native_module"))
    rows = [
        ("port", info["port"]),
        ("runtime", f"{info['runtime']} {info['version']}  ({info.get('machine')})"),
        (".mpy", f"{mpy}, native arch {info.get('arch') or 'none'}"),
        ("native modules", ("loadable; " if info.get("native_loadable") else "not loadable; ") + str(native)),
        ("heap", f"{kib(info.get('heap_free'))} free of {kib(info.get('heap_total'))}"),
        ("flash", f"{kib(info.get('flash_free'))} free of {kib(info.get('flash_total'))}"),
        ("ulab", info.get("ulab") or "absent"),
        ("ulearn", (f"{info['ulearn']} (backend {info.get('backend')})" if info.get("ulearn") and
                    not str(info["ulearn"]).startswith("broken") else info.get("ulearn") or
                    "not installed (ulearn push)")),
    ]
    if info.get("board_profile"):
        rows.append(("profile", f"{info['board_profile']} (use --board {info['board_profile']})"))
    return "\n".join(f"{k:>15}: {v}" for k, v in rows)


def run(args: argparse.Namespace) -> int:
    with Board(resolve_port(args.port), timeout=args.timeout) as board:
        info = identify(board)
    profile = _suggest_board(info)
    if profile:
        info["board_profile"] = profile
    print(json.dumps(info, sort_keys=True) if args.json else format_info(info))
    return 0
