"""`ulearn record` and `ulearn pull-logs` underneath: decode sample frames and logs into datasets.

The board runs the data_logger app in stream mode; it writes binary frames (ulearn.sensors.frames:
sync, type, length, sequence number, payload, CRC32) to its serial link. `FrameParser` resyncs on
the sync bytes, drops frames whose CRC fails and counts sequence gaps as dropped frames. Whatever
arrived is saved as a valid .npz even when the board goes away mid-recording.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UlearnError

SYNC = b"\xa5\x5a"
FRAME_META, FRAME_DATA, FRAME_END = 1, 2, 3
HEADER_SIZE, TRAILER_SIZE = 10, 4
MAX_PAYLOAD = 8192
G = 9.80665


@dataclass
class Stream:
    """What a recording received: META info, int16 sample blocks, END stats, and the damage seen."""

    meta: dict[str, Any] = field(default_factory=dict)
    blocks: list[np.ndarray] = field(default_factory=list)
    end: dict[str, Any] | None = None
    frames: int = 0
    dropped: int = 0          # frames missing from the sequence
    corrupt: int = 0          # frames whose CRC or length was wrong
    garbage: bytes = b""      # bytes outside frames (e.g. the board's error text)
    samples: int = 0
    _next_seq: int = -1

    def raw(self) -> np.ndarray:
        """All samples, int16 (N, channels)."""
        ch = int(self.meta.get("channels", 3))
        if not self.blocks:
            return np.zeros((0, ch), np.int16)
        return np.concatenate(self.blocks).reshape(-1, ch)


class FrameParser:
    """Feed bytes in arbitrary chunks; completed frames update `stream`."""

    def __init__(self) -> None:
        self.stream = Stream()
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        while True:
            at = buf.find(SYNC)
            if at < 0:
                keep = 1 if buf.endswith(SYNC[:1]) else 0
                self._junk(bytes(buf[:len(buf) - keep]))
                del buf[:len(buf) - keep]
                return
            if at:
                self._junk(bytes(buf[:at]))
                del buf[:at]
            if len(buf) < HEADER_SIZE:
                return
            kind, _, length, seq = struct.unpack_from("<BBHI", buf, 2)
            if kind not in (FRAME_META, FRAME_DATA, FRAME_END) or length > MAX_PAYLOAD:
                self.stream.corrupt += 1
                del buf[:1]           # not a frame start: look for the next sync
                continue
            total = HEADER_SIZE + length + TRAILER_SIZE
            if len(buf) < total:
                return
            (crc,) = struct.unpack_from("<I", buf, HEADER_SIZE + length)
            if zlib.crc32(bytes(buf[2:HEADER_SIZE + length])) != crc:
                self.stream.corrupt += 1
                del buf[:1]
                continue
            payload = bytes(buf[HEADER_SIZE:HEADER_SIZE + length])
            del buf[:total]
            self._frame(kind, seq, payload)

    def _junk(self, data: bytes) -> None:
        if data:
            self.stream.garbage = (self.stream.garbage + data)[-8192:]

    def _frame(self, kind: int, seq: int, payload: bytes) -> None:
        s = self.stream
        if s._next_seq >= 0 and seq > s._next_seq:
            s.dropped += seq - s._next_seq
        s._next_seq = seq + 1
        s.frames += 1
        if kind == FRAME_META:
            s.meta = json.loads(payload)
        elif kind == FRAME_END:
            s.end = json.loads(payload)
        else:
            block = np.frombuffer(payload, dtype="<i2").astype(np.int16)
            s.blocks.append(block)
            s.samples += len(block) // int(s.meta.get("channels", 3))

    def board_finished(self) -> bool:
        """True when the raw REPL's end marker (`\\x04...\\x04>`) came after the frames."""
        return b"\x04>" in self.stream.garbage or self.stream.garbage.count(b"\x04") >= 2

    def board_reset(self) -> bool:
        """True when the board announced a reset (power cut, watchdog, reset button) mid-stream."""
        return b"soft reboot" in self.stream.garbage or b"raw REPL; CTRL-B" in self.stream.garbage

    def board_error(self) -> str:
        """The board's error output (between the raw REPL's \\x04 markers), if any."""
        g = self.stream.garbage
        first = g.find(b"\x04")
        if first < 0:
            return ""
        second = g.find(b"\x04", first + 1)
        return g[first + 1:second if second > 0 else len(g)].decode(errors="replace").strip()


def windows(raw: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(n, length, C) windows of `raw` (N, C) every `hop` samples; empty if too short."""
    n = 0 if len(raw) < length else 1 + (len(raw) - length) // hop
    if n == 0:
        return np.zeros((0, length, raw.shape[1]), raw.dtype)
    idx = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    return raw[idx]


def save_recording(stream: Stream, out: Path, label: str, window: int = 128, hop: int = 64,
                   source: str = "", append: bool = False) -> dict[str, Any]:
    """Write `stream` as a dataset .npz (`ulearn train` reads it): X (n, T, C) float32 in the
    sensor's unit, y, classes, channels, rate_hz, units, simulated, provenance, plus raw (N, C)
    int16 counts and scale. With `append`, windows are added to an existing file (other labels kept).
    Returns a summary dict."""
    raw = stream.raw()
    scale = float(stream.meta.get("scale", 1.0))
    unit = str(stream.meta.get("unit", ""))
    rate = float(stream.meta.get("rate_hz", 0.0))
    X = (windows(raw, window, hop).astype(np.float32) * np.float32(scale))
    classes = [label]
    y = np.zeros(len(X), np.int64)
    raws = [raw]
    if append and out.exists():
        with np.load(out, allow_pickle=False) as old:
            old_classes = [str(c) for c in old["classes"]]
            if old["X"].shape[1:] != X.shape[1:] or str(old["units"]) != unit:
                raise UlearnError(f"{out}: holds windows of shape {old['X'].shape[1:]} in {old['units']!r}; this "
                                  f"recording gives {X.shape[1:]} in {unit!r}: use another --out file")
            classes = old_classes + ([label] if label not in old_classes else [])
            y = np.concatenate([old["y"], np.full(len(X), classes.index(label), np.int64)])
            X = np.concatenate([old["X"], X])
            raws = [old["raw"], raw] if "raw" in old else raws
    channels = [f"acc_{a}" for a in "xyz"][:raw.shape[1]] if stream.meta.get("sensor") == "lis3dh" \
        else [f"ch{i}" for i in range(raw.shape[1])]
    simulated = bool(stream.meta.get("simulated", False))
    provenance = (f"recorded with `ulearn record` from {source or 'a board'} "
                  f"({stream.meta.get('board', '?')}, {stream.meta.get('sensor', '?')}) on "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: {stream.samples} samples, "
                  f"{stream.dropped} dropped frames, {stream.corrupt} corrupt frames"
                  + ("; SIMULATED sensor (virtual board replaying a recording)" if simulated else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, X=X, y=y, classes=np.array(classes), channels=np.array(channels),
                        rate_hz=np.float64(rate), units=np.str_(unit), simulated=np.bool_(simulated),
                        provenance=np.str_(provenance), kind=np.str_("timeseries"),
                        raw=np.concatenate(raws), scale=np.float64(scale))
    tmp.replace(out)
    return {"out": str(out), "samples": stream.samples, "windows": int((y == classes.index(label)).sum()),
            "dropped_frames": stream.dropped, "corrupt_frames": stream.corrupt, "rate_hz": rate,
            "complete": stream.end is not None, "board_stats": stream.end}


def receive(read: Callable[[], bytes], seconds: float, parser: FrameParser | None = None,
            progress: Callable[[int], None] | None = None, margin: float = 10.0) -> tuple[FrameParser, str]:
    """Read frames with `read()` (returns bytes, b"" when nothing came) until the END frame, the board's
    end marker, `seconds + margin` or a disconnect. Returns the parser and why it stopped:
    "end", "finished" (no END frame), "timeout" or "disconnected: <reason>"."""
    parser = parser or FrameParser()
    deadline = time.monotonic() + seconds + margin
    seen = 0
    while True:
        try:
            data = read()
        except (OSError, EOFError) as e:
            return parser, f"disconnected: {e or type(e).__name__}"
        except Exception as e:  # noqa: BLE001 - pyserial raises SerialException for a vanished port
            if type(e).__name__ == "SerialException":
                return parser, f"disconnected: {e}"
            raise
        if data:
            parser.feed(data)
            if progress and parser.stream.samples != seen:
                progress(parser.stream.samples - seen)
                seen = parser.stream.samples
            if parser.stream.end is not None:
                return parser, "end"
            if parser.board_reset():
                return parser, "disconnected: the board reset"
            if parser.board_finished():
                return parser, "finished"
        elif time.monotonic() > deadline:
            return parser, "timeout"


def record_from_board(port: str, seconds: float, out: Path, label: str, window: int = 128, hop: int = 64,
                      append: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Run data_logger in stream mode on the board at `port` and save what arrives (see save_recording)."""
    from tqdm import tqdm

    from .board import Board, BoardError

    code = f"from data_logger.main import main\nmain(seconds={float(seconds)!r}, mode='stream')\n"
    with Board(port) as board:
        transport = board.transport
        ser = transport.serial
        try:
            transport.exec_raw_no_follow(code)
        except Exception as e:  # noqa: BLE001 - mpremote raises its own error types
            raise BoardError(f"the board at {port} did not start data_logger ({e}): push it with "
                             f"`ulearn push lib data_logger --board NAME`") from None
        ser.timeout = 0.05

        def read() -> bytes:
            waiting = ser.in_waiting
            return ser.read(waiting or 1)

        rate = 200
        with tqdm(total=int(seconds * rate), unit="samples", desc=f"record {port}",
                  disable=not show_progress, leave=False) as bar:
            parser, why = receive(read, seconds, progress=bar.update)
        if why in ("end", "finished"):
            # consume the raw REPL's closing `\x04\x04>` so the board is ready for the next command
            tail = parser.stream.garbage[-64:] + bytes(parser._buf)
            deadline = time.monotonic() + 5
            while b"\x04>" not in tail and time.monotonic() < deadline:
                try:
                    tail = (tail + read())[-64:]
                except Exception:  # noqa: BLE001 - the board went away after finishing
                    break
    stream = parser.stream
    error = parser.board_error()
    if not stream.meta:
        raise UlearnError(f"no samples came from {port} ({why}); the board said: {error or 'nothing'}. "
                          f"Is data_logger pushed and board.json on the board?")
    summary = save_recording(stream, out, label, window, hop, source=port, append=append)
    summary["stopped"] = why
    if error:
        summary["board_error"] = error
    return summary


def write_recording(data_g: np.ndarray, rate_hz: float, folder: Path) -> Path:
    """Write samples (N, C) in g as a ulearn log file the LIS3DH stand-in replays; returns its path."""
    from ulearn import log

    counts = np.clip(np.round(np.asarray(data_g, np.float64) * 1000), -32768, 32767).astype("<i2")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("log*.ulg"):
        old.unlink()
    w = log.Writer(str(folder), rate_hz, counts.shape[1], 0.001, "g", samples_per_record=32,
                   records_per_block=8, max_file_bytes=1 << 30)
    raw = counts.tobytes()
    step = 32 * 2 * counts.shape[1]
    for i in range(0, len(raw), step):
        chunk = raw[i:i + step]
        w.append(chunk, len(chunk) // (2 * counts.shape[1]))
    w.close()
    return folder / log.file_name(1)


def dataset_recording(name: str, cls: str | None = None, cases: int = 4, seed: int = 0) -> tuple[np.ndarray, float]:
    """(samples (N, 3) in g, rate) for the stand-in from a dataset's accelerometer channels: consecutive
    windows of one class (the first if `cls` is None). basicmotions is real (m/s^2), fan-sim simulated."""
    from .data import load_dataset

    ds = load_dataset(name, seed)
    idx = ds.classes.index(cls) if cls is not None else 0
    X = ds.X[ds.y == idx][:cases, :, :3].reshape(-1, 3)
    unit = ds.units or ("m/s^2" if name.startswith("basic") else "")
    return (X / G if unit.startswith("m/s") else X), float(ds.rate_hz or 0)


def decode_logs(folder: Path) -> tuple[dict[str, Any], np.ndarray, list[dict[str, Any]]]:
    """Decode the log files in a local folder: (header info, samples (N, C) int16, per-file reports)."""
    from ulearn import log

    header, records, reports = log.read_all(str(folder))
    if header is None:
        raise UlearnError(f"{folder}: no readable log files (log*.ulg)")
    ch = header.channels
    raw = (np.concatenate([np.asarray(v, np.int16) for _, v in records]).reshape(-1, ch) if records
           else np.zeros((0, ch), np.int16))
    info = {"rate_hz": header.rate_hz, "channels": ch, "scale": header.scale, "unit": header.unit,
            "records": len(records), "first_seq": records[0][0] if records else -1,
            "last_seq": records[-1][0] if records else -1}
    return info, raw, reports


def install_sensor_files(board: Any, profile: dict[str, Any], recording: Path | None = None) -> list[str]:
    """Put what the sensor path needs besides lib/ulearn and the app on an open board: the Adafruit
    driver and bus-device library (from the installed packages), the simulated chip on the virtual
    board, `board.json` (the profile) and, for the virtual board, the recording to replay.
    Returns the board paths written."""
    prof = json.loads(json.dumps(profile))
    written = []
    for src, dest in boards_driver_files(prof):
        board.put(src.read_bytes(), "/" + dest)
        written.append("/" + dest)
    if recording is not None:
        board.put(Path(recording).read_bytes(), "/recording.ulg")
        prof["i2c"] = dict(prof["i2c"], recording="/recording.ulg")
        written.append("/recording.ulg")
    board.put(json.dumps(prof).encode(), "/board.json")
    written.append("/board.json")
    return written


def boards_driver_files(profile: dict[str, Any]) -> list[tuple[Path, str]]:
    from .boards import driver_files
    return driver_files(profile)


def sensor_lib_tree(dest: Path) -> Path:
    """A copy of the device package with only what the sensor/log path needs (the top-level modules
    and ulearn/sensors, no nn/svm/features), at `dest`/ulearn; push it for a data-logging board."""
    import shutil

    from . import device_lib_dir

    src = device_lib_dir() / "ulearn"
    out = dest / "ulearn"
    shutil.rmtree(out, ignore_errors=True)
    (out / "sensors").mkdir(parents=True)
    for p in src.glob("*.py"):
        shutil.copy2(p, out / p.name)
    for p in (src / "sensors").glob("*.py"):
        shutil.copy2(p, out / "sensors" / p.name)
    return out
