"""`ulearn repl`: the board's REPL through mpremote, with ulearn already imported (driven through a pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path


def _read(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_repl_has_ulearn_imported(virtual_board):
    subprocess.run([sys.executable, "-m", "ulearn_host", "push", "--port", virtual_board.port, "-q"], check=True,
                   capture_output=True, timeout=300)
    ulearn_cli = str(Path(sys.executable).parent / "ulearn")
    pid, fd = pty.fork()
    if pid == 0:  # child: the command as a user types it
        os.execv(ulearn_cli, [ulearn_cli, "repl", "--port", virtual_board.port])
    try:
        assert b">>> " in _read(fd, 20, until=b">>> ")
        os.write(fd, b"print('v=' + ulearn.__version__)\r")
        out = _read(fd, 10, until=b"v=0")
        import ulearn
        assert f"v={ulearn.__version__}".encode() in out, out
        os.write(fd, b"\x1d")  # Ctrl-] leaves
        _read(fd, 3)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
