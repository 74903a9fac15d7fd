"""A virtual board: the MicroPython unix port behind a pseudo-terminal, with a littlefs flash.

`ulearn board serve` runs this. Clients (mpremote, `ulearn push`) open the printed device path
exactly like a USB board. The bridge:

* owns an outer pty (the board's "USB serial") and runs MicroPython on an inner pty, so the
  interpreter has a real terminal (raw REPL, Ctrl-C raises KeyboardInterrupt);
* boots every interpreter onto a littlefs volume kept in `<home>/flash.img` (fixed size, so "flash
  full" is real ENOSPC; littlefs keeps files whole across a kill), mounted as `/` with
  `sys.path = ['', '/lib', '.frozen']` like a real board — the host filesystem is out of reach;
* restarts the interpreter when it exits (Ctrl-D soft reset, or killed), prints `soft reboot`, and
  re-enters the raw REPL if the host was in it — as a board does after a soft reset.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from .. import resource_dir
from ..unixport import micropython_exe

BLOCK_SIZE = 4096
DEFAULT_FLASH = 2 * 1024 * 1024
DEFAULT_HEAP = "256k"
BOOT_FAILED = "ULEARN-VIRTUAL-BOARD-BOOT-FAILED"
BOOT_OK = "ULEARN-VIRTUAL-BOARD-FLASH-MOUNTED"
_CTRL_A, _CTRL_B, _CTRL_C, _CTRL_D = 0x01, 0x02, 0x03, 0x04

# Runs in every fresh interpreter before the REPL: mount the flash image as / and chdir there.
_BOOT = """
import sys
try:
    import vfs, os
    class _Flash:
        def __init__(self, path, size, count):
            self.f = open(path, "r+b")
            self.size = size
            self.count = count
        def readblocks(self, block, buf, off=0):
            self.f.seek(block * self.size + off)
            self.f.readinto(buf)
        def writeblocks(self, block, buf, off=0):
            self.f.seek(block * self.size + off)
            self.f.write(buf)
        def ioctl(self, op, arg):
            if op == 4:
                return self.count
            if op == 5:
                return self.size
            return 0
    _bd = _Flash({image!r}, {block_size}, {blocks})
    try:
        _fs = vfs.VfsLfs2(_bd)
    except OSError:
        vfs.VfsLfs2.mkfs(_bd)
        _fs = vfs.VfsLfs2(_bd)
    vfs.umount("/")
    vfs.mount(_fs, "/")
    os.chdir("/")
    sys.path[:] = ["", "/lib", ".frozen"]
    for _i, _d in enumerate({frozen!r}):  # firmware-provided modules (e.g. CircuitPython's module names)
        vfs.mount(vfs.VfsPosix(_d), "/frozen%d" % _i)
        sys.path.append("/frozen%d" % _i)
    del _bd, _fs, _Flash, vfs, os
    print("{ok_marker}")
except BaseException as _e:
    print("{marker}", repr(_e))
"""

CIRCUITPYTHON_SHIMS = resource_dir("device", "sim", "circuitpython")


def parse_size(text: str) -> int:
    """'2M', '512k', '65536' -> bytes."""
    text = text.strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:], 1)
    return int(text.rstrip("km")) * scale


def _raw_terminal(fd: int, isig: bool = False) -> None:
    """Raw mode, no echo, no output processing; keep signal characters when `isig` (Ctrl-C)."""
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    if isig:
        attrs[3] |= termios.ISIG
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class VirtualBoardError(RuntimeError):
    """The virtual board cannot run (its flash image cannot be mounted)."""


class VirtualBoard:
    """The bridge between an outer pty (clients) and the MicroPython interpreter."""

    def __init__(self, home: Path, flash_size: int = DEFAULT_FLASH, heap: str = DEFAULT_HEAP,
                 link: Path | None = None, frozen: list[Path] | None = None):
        self.frozen = [str(Path(p).resolve()) for p in (frozen or [])]
        self.home = Path(home).resolve()  # the interpreter runs inside it: paths must be absolute
        self.home.mkdir(parents=True, exist_ok=True)
        self.image = self.home / "flash.img"
        self.blocks = max(flash_size // BLOCK_SIZE, 8)
        self.heap = heap
        self.link = link
        self._ensure_image()
        self.outer_master, self.outer_slave = os.openpty()
        _raw_terminal(self.outer_slave)
        self.port = os.ttyname(self.outer_slave)
        if link:
            link.unlink(missing_ok=True)
            link.symlink_to(self.port)
        self.proc: subprocess.Popen | None = None
        self.inner_master = -1
        self.host_in_raw = False
        self.executing = False  # raw REPL: between the host's Ctrl-D and the board's final "\x04>"
        self._tail = b""
        self.restarts = 0
        self.error: str | None = None
        self._running = True

    def _ensure_image(self) -> None:
        size = self.blocks * BLOCK_SIZE
        if not self.image.exists() or self.image.stat().st_size != size:
            with open(self.image, "wb") as f:  # erased flash reads 0xff; littlefs formats at boot
                f.write(b"\xff" * size)

    def _spawn(self) -> None:
        master, slave = os.openpty()
        _raw_terminal(slave, isig=True)

        def make_controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        boot = _BOOT.format(image=str(self.image), block_size=BLOCK_SIZE, blocks=self.blocks,
                            frozen=self.frozen, marker=BOOT_FAILED,
                            ok_marker=BOOT_OK)
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        self.proc = subprocess.Popen([micropython_exe(), "-X", f"heapsize={self.heap}", "-i", "-c", boot],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=self.home, env=env,
                                     preexec_fn=make_controlling_terminal, close_fds=True)
        os.close(slave)
        self.inner_master = master

    def _read_until_prompt(self, timeout: float = 10.0) -> bytes:
        """Read the fresh interpreter's banner up to its first `>>> ` prompt."""
        data, deadline = b"", time.monotonic() + timeout
        while not data.endswith(b">>> ") and time.monotonic() < deadline:
            ready, _, _ = select.select([self.inner_master], [], [], 0.1)
            if ready:
                try:
                    data += os.read(self.inner_master, 4096)
                except OSError:
                    break
        return data

    def _restart(self, announce: bool) -> None:
        if self.inner_master >= 0:
            os.close(self.inner_master)
        self._spawn()
        banner = self._read_until_prompt()
        if BOOT_OK.encode() not in banner:
            # Never let an interpreter that is not on the flash serve: it would see the host's files.
            # (Under -i, sys.exit() in the boot code would not stop it, so the bridge does.)
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._running = False
            detail = (banner.decode(errors="replace").split(BOOT_FAILED)[-1].strip() or "no answer").splitlines()[0]
            raise VirtualBoardError(f"the virtual board could not mount its flash {self.image}: {detail}")
        self.restarts += 1
        self.executing = False
        if announce:
            self._to_host(b"soft reboot\r\n")
        if self.host_in_raw:
            os.write(self.inner_master, b"\r\x01")
        elif announce:
            self._to_host(banner)

    def _watch_host(self, data: bytes) -> None:
        """Follow the host's REPL state; Ctrl-C during execution interrupts like a board's UART IRQ."""
        for byte in data:
            if byte == _CTRL_A:
                self.host_in_raw = True
            elif byte == _CTRL_B:
                self.host_in_raw = self.executing = False
            elif byte == _CTRL_D and self.host_in_raw:
                self.executing = True
            elif byte == _CTRL_C and self.executing and not self._interpreter_gone():
                # The unix port keeps its terminal raw while running code, so the byte alone
                # would never interrupt a running loop; a board's UART interrupt would.
                os.kill(self.proc.pid, signal.SIGINT)

    def _watch_board(self, data: bytes) -> None:
        """A raw-REPL run ends with the board's `\\x04>` prompt."""
        if b"\x04>" in self._tail + data:
            self.executing = False
        self._tail = data[-1:]

    def _to_host(self, data: bytes) -> None:
        try:
            os.write(self.outer_master, data)
        except OSError:
            pass

    def _interpreter_gone(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def boot(self) -> None:
        """Start the first interpreter; VirtualBoardError if it cannot mount the flash."""
        self._restart(announce=False)

    def serve(self) -> None:
        """Run the bridge until stop() or SIGTERM/SIGINT (boot() first). Errors land in `self.error`."""
        try:
            self._serve()
        except VirtualBoardError as e:
            self.error = str(e)

    def _serve(self) -> None:
        while self._running:
            try:
                ready, _, _ = select.select([self.outer_master, self.inner_master], [], [], 0.2)
            except InterruptedError:
                continue
            if self.outer_master in ready:
                data = os.read(self.outer_master, 4096)
                self._watch_host(data)
                try:
                    os.write(self.inner_master, data)
                except OSError:
                    pass
            if self.inner_master in ready:
                try:
                    data = os.read(self.inner_master, 4096)
                except OSError as e:  # EIO: the interpreter closed its terminal (exited)
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    self._watch_board(data)
                    self._to_host(data)
                elif self._interpreter_gone() or self.proc.wait(timeout=2) is not None:
                    self._restart(announce=True)
            elif self._interpreter_gone():
                self._restart(announce=True)

    def stop(self, *_args) -> None:
        """Stop serving: ends the interpreter and removes the link."""
        self._running = False

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.inner_master, self.outer_master, self.outer_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and self.link.is_symlink():
            self.link.unlink()


def registry_dir() -> Path:
    """Where running virtual boards announce themselves (one JSON file each), for `--all`."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ulearn" / "ports"


def running_boards() -> list[dict]:
    """The virtual boards running now: [{'port', 'pid', 'home'}], stale entries removed."""
    import json
    found = []
    folder = registry_dir()
    for entry in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            data = json.loads(entry.read_text())
            os.kill(data["pid"], 0)
            if Path(data["port"]).exists():
                found.append(data)
                continue
        except (OSError, ValueError, KeyError):
            pass
        entry.unlink(missing_ok=True)
    return found


def _register(board: VirtualBoard, port_name: str) -> Path:
    import hashlib
    import json
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / f"{hashlib.sha1(str(board.home.resolve()).encode()).hexdigest()[:12]}.json"
    entry.write_text(json.dumps({"port": port_name, "pid": os.getpid(), "home": str(board.home)}))
    return entry


def default_home() -> Path:
    """Where a virtual board keeps its flash unless told: ~/.cache/ulearn/virtual-board."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ulearn" / "virtual-board"


def serve(home: Path, flash_size: int, heap: str, link: Path | None, ready_file: Path | None = None,
          runtime: str = "micropython") -> None:
    """Run a virtual board in the foreground, printing its device path.

    `runtime="circuitpython"` adds CircuitPython's module names (harness-provided, see
    device/sim/circuitpython) to a MicroPython interpreter; it is not CircuitPython itself.
    """
    serve_many([home], flash_size, heap, [link], ready_file, runtime)


def serve_many(homes: list[Path], flash_size: int, heap: str, links: list[Path | None],
               ready_file: Path | None = None, runtime: str = "micropython") -> None:
    """Run one virtual board per home folder (a classroom of boards) until SIGTERM/SIGINT."""
    import threading
    frozen = [CIRCUITPYTHON_SHIMS] if runtime == "circuitpython" else []
    boards = [VirtualBoard(h, flash_size, heap, ln, frozen) for h, ln in zip(homes, links, strict=True)]
    entries = []

    def stop(*_args) -> None:
        for b in boards:
            b.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for b in boards:
            b.boot()
    except VirtualBoardError:
        for b in boards:
            b.close()
        raise
    for b in boards:
        where = f"{b.link} -> {b.port}" if b.link else b.port
        print(f"virtual board: {where}  (flash {b.image}, {b.blocks * BLOCK_SIZE // 1024} KiB; heap {heap}); "
              f"connect with: mpremote connect {b.link or b.port}", flush=True)
        entries.append(_register(b, str(b.link or b.port)))
    if ready_file:
        ready_file.write_text("\n".join(b.port for b in boards))
    threads = [threading.Thread(target=b.serve, daemon=True) for b in boards]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    finally:
        for b in boards:
            b.close()
        for entry in entries:
            entry.unlink(missing_ok=True)
    errors = [b.error for b in boards if b.error]
    if errors:
        raise VirtualBoardError("; ".join(errors))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ulearn_host.board.virtual")
    parser.add_argument("--home", type=Path, default=default_home())
    parser.add_argument("--flash-size", type=parse_size, default=DEFAULT_FLASH)
    parser.add_argument("--heap", default=DEFAULT_HEAP)
    parser.add_argument("--link", type=Path)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--runtime", choices=["micropython", "circuitpython"], default="micropython")
    parser.add_argument("--count", type=int, default=1, help="run this many boards (homes <home>/board-N)")
    a = parser.parse_args(argv)
    try:
        if a.count > 1:
            homes = [a.home / f"board-{i + 1}" for i in range(a.count)]
            serve_many(homes, a.flash_size, a.heap, [h / "tty" for h in homes], a.ready_file, a.runtime)
        else:
            serve(a.home, a.flash_size, a.heap, a.link, a.ready_file, a.runtime)
    except VirtualBoardError as e:
        print(f"ulearn: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv[1:])


class BackgroundBoard:
    """A virtual board (or `count` of them) served by a child process: for tests, the demo and benchmarks.

        board = BackgroundBoard(home).start()     # board.port is the device path (or board.ports)
        ...
        board.stop()
    """

    def __init__(self, home: Path, flash_size: str = "2M", heap: str = DEFAULT_HEAP, runtime: str = "micropython",
                 count: int = 1, env: dict | None = None, quiet: bool = True):
        self.home = Path(home)
        self.flash_size, self.heap, self.runtime = flash_size, heap, runtime
        self.count, self.env, self.quiet = count, env, quiet
        self.link = self.home / "tty"
        self.port = str(self.link)
        self.ports = [self.port] if count == 1 else [str(self.home / f"board-{i + 1}" / "tty") for i in range(count)]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> BackgroundBoard:
        """Start serving and wait until every board answers its device path; VirtualBoardError if not."""
        self.home.mkdir(parents=True, exist_ok=True)
        ready = self.home / "ready"
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "ulearn_host.board.virtual", "--home", str(self.home), "--flash-size",
               self.flash_size, "--heap", self.heap, "--ready-file", str(ready), "--runtime", self.runtime,
               "--count", str(self.count)]
        if self.count == 1:
            cmd += ["--link", str(self.link)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL if self.quiet else None,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise VirtualBoardError(f"the virtual board did not start: {self.proc.stderr.read().decode().strip()}")
            time.sleep(0.02)
        return self

    def interpreter_pids(self) -> list[int]:
        """PIDs of the MicroPython interpreter(s) serving this board."""
        out = subprocess.run(["pgrep", "-f", str(self.home.resolve() / "flash.img")], capture_output=True,
                             text=True, check=False)
        return [int(p) for p in out.stdout.split() if int(p) != (self.proc.pid if self.proc else -1)]

    def kill_interpreter(self) -> None:
        """Power-cut the interpreter (SIGKILL); the bridge boots a new one like a board after a reset."""
        for pid in self.interpreter_pids():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the bridge process (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def restart(self) -> BackgroundBoard:
        """Stop the whole bridge and start it again on the same flash (a power cycle)."""
        self.stop()
        return self.start()
