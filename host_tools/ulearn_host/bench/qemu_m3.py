"""A Cortex-M3 MicroPython in QEMU, for viper code on ARM (Thumb-2 code from the on-device viper
compiler, 32-bit words): `run(code, files)` boots the qemu port's MPS2-AN385 firmware
(`make micropython-qemu-m3 MPY_DIR=...` -> .cache/micropython-qemu-m3/firmware.elf, 1 MB heap),
serves `files` (path -> bytes) from a read-only in-RAM filesystem mounted at /lib (the port has no
writable one), runs `code` through the raw REPL (ulearn_host.board.device.Board on QEMU's pty) and
returns what it printed. With `icount=True` QEMU runs with `-icount shift=0`: virtual time advances
1 ns per instruction, so time.ticks_us() on the device counts thousands of instructions.
Used by tests/test_svm_viper_qemu.py and `ulearn bench svm`; `missing()` says what is absent.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .. import REPO_ROOT
from ..board.device import Board

FIRMWARE = Path(os.environ.get("ULEARN_QEMU_M3_FIRMWARE") or
                REPO_ROOT / ".cache" / "micropython-qemu-m3" / "firmware.elf")

_FS = '''
import binascii, io, sys, vfs
class _File(io.IOBase):
    def __init__(self, data):
        self.data = data
        self.pos = 0
    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n
    def ioctl(self, req, arg):
        return 0
class _MemFS:
    def __init__(self):
        self.files = {}
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def chdir(self, path):
        pass
    def stat(self, path):
        if path in self.files:
            return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
        for f in self.files:
            if f.startswith(path + '/'):
                return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        raise OSError(2)
    def open(self, path, mode):
        if path in self.files:
            return _File(self.files[path])
        raise OSError(2)
_fs = _MemFS()
vfs.mount(_fs, '/lib')
sys.path.insert(0, '/lib')
'''


def missing() -> str | None:
    """None when QEMU and the firmware are here, else one line saying how to get them."""
    if shutil.which("qemu-system-arm") is None:
        return "no qemu-system-arm: apt-get install qemu-system-arm"
    if not FIRMWARE.exists():
        return ("no Cortex-M3 MicroPython for QEMU: make micropython-qemu-m3 MPY_DIR=... "
                "(or set ULEARN_QEMU_M3_FIRMWARE)")
    return None


def run(code: str, files: dict[str, bytes], timeout: float = 300, icount: bool = False) -> str:
    """Boot the firmware, mount `files` at /lib, run `code`; returns its output (BoardExecError on error)."""
    extra = ["-icount", "shift=0"] if icount else []
    proc = subprocess.Popen(["qemu-system-arm", "-machine", "mps2-an385", "-nographic", "-monitor", "null",
                             "-semihosting", "-serial", "pty", *extra, "-kernel", str(FIRMWARE)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        dev = None
        t0 = time.time()
        while dev is None and time.time() - t0 < 20:
            line = proc.stdout.readline()
            m = re.search(r"(/dev/pts/\d+)", line)
            dev = m.group(1) if m else None
            if not line and proc.poll() is not None:
                break
        if dev is None:
            raise RuntimeError("QEMU did not open a serial pty")
        with Board(dev, timeout=timeout) as b:
            b.exec(_FS)
            for path, data in files.items():         # the shorter of repr / base64: the link is slow
                text = repr(data)
                b64 = base64.b64encode(data)
                if len(b64) < len(text):
                    text = "binascii.a2b_base64(%r)" % b64
                b.exec("_fs.files[%r] = %s" % ("/" + path, text))
            return b.exec(code, timeout=timeout)
    finally:
        proc.kill()
        proc.wait()
