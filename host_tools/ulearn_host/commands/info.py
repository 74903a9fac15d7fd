"""`ulearn info [--port P] [--json]`: identify a board."""

from __future__ import annotations

import argparse
import json

from ..board import Board, all_ports, for_each_board, identify, resolve_port, result_table
from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    target.add_argument("--all", action="store_true", help="every connected board, in parallel, as a table")
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


def _identify(port: str, timeout: float) -> dict:
    with Board(port, timeout=timeout) as board:
        return identify(board)


def run(args: argparse.Namespace) -> int:
    if args.all:
        results = for_each_board(all_ports(), lambda port: _identify(port, args.timeout))
        if args.json:
            for port, info, err in results:
                print(json.dumps(info if err is None else {"port": port, "error": err}, sort_keys=True))
        else:
            rows = [(port, "ok", f"{i['runtime']} {i['version']}, .mpy v{i['mpy_version']}.{i['mpy_sub']} "
                     f"{i['arch'] or 'no-native'}, ulearn {i.get('ulearn') or '-'}") if err is None
                    else (port, "FAILED", err) for port, i, err in results]
            print(result_table(rows, ("board", "result", "details")))
        failed = sum(1 for _, _, err in results if err)
        if failed:
            raise UlearnError(f"{failed} of {len(results)} boards did not answer (see the table)")
        return 0
    info = _identify(resolve_port(args.port), args.timeout)
    profile = _suggest_board(info)
    if profile:
        info["board_profile"] = profile
    print(json.dumps(info, sort_keys=True) if args.json else format_info(info))
    return 0
