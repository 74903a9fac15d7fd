"""`ulearn pull-logs --port P`: copy the data_logger's log files off a board and decode them."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UlearnError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", "-p", help="serial device or virtual board link (default: auto)")
    parser.add_argument("--folder", default="logs", help="log folder on the board (default: logs)")
    parser.add_argument("--out", default="logs", help="local folder for the copies (default: ./logs)")
    parser.add_argument("--npz", help="also write the decoded samples as a dataset .npz")
    parser.add_argument("--label", default="unlabelled", help="class name for --npz")
    parser.add_argument("--delete", action="store_true", help="delete the files on the board once copied and decoded")


def pull(port: str, folder: str, out: Path) -> list[Path]:
    """Copy every log file in `folder` on the board to `out`; returns the local paths."""
    from ..board import Board

    out.mkdir(parents=True, exist_ok=True)
    copied = []
    with Board(port) as board:
        names = [p for p in board.walk(folder) if p.rsplit("/", 1)[-1].startswith("log") and p.endswith(".ulg")]
        if not names:
            raise UlearnError(f"no log files in {folder!r} on {port}: run data_logger first "
                              f"(`ulearn run data_logger seconds=60`)")
        for path in sorted(names):
            local = out / path.rsplit("/", 1)[-1]
            local.write_bytes(board.get(path))
            copied.append(local)
    return copied


def run(args: argparse.Namespace) -> int:
    from ..board import Board, resolve_port
    from ..record import Stream, decode_logs, save_recording

    port = resolve_port(args.port)
    out = Path(args.out)
    copied = pull(port, args.folder, out)
    info, raw, reports = decode_logs(out)
    for r in reports:
        if "error" in r:
            print(f"{Path(r['file']).name}: unreadable: {r['error']}")
            continue
        notes = []
        if r["corrupt"]:
            notes.append(f"{r['corrupt']} corrupt record(s) skipped")
        if r["torn_bytes"]:
            notes.append(f"torn tail of {r['torn_bytes']} bytes skipped (a write cut short)")
        if r["gaps"]:
            notes.append(f"{r['gaps']} record(s) missing from the sequence")
        print(f"{Path(r['file']).name}: {r['records']} records, {r['samples']} samples, seq "
              f"{r['first_seq']}..{r['last_seq']}" + (f"; {'; '.join(notes)}" if notes else ""))
    print(f"copied {len(copied)} file(s) to {out}: {len(raw)} samples at {info['rate_hz']:g} Hz, "
          f"{info['channels']} channels, 1 count = {info['scale']:.6g} {info['unit']}")
    if args.npz:
        stream = Stream(meta={"rate_hz": info["rate_hz"], "channels": info["channels"], "scale": info["scale"],
                              "unit": info["unit"], "sensor": "lis3dh", "board": port},
                        blocks=[raw.reshape(-1)], samples=len(raw))
        summary = save_recording(stream, Path(args.npz), args.label, source=f"logs pulled from {port}")
        print(f"wrote {summary['windows']} windows to {args.npz}")
    if args.delete:
        with Board(port) as board:
            for p in copied:
                board.exec(f"import os\nos.remove({(args.folder + '/' + p.name)!r})")
    return 0
