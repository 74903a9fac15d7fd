"""Talk to a board (USB serial or virtual) through mpremote's transport; one error family.

    with Board("/dev/ttyACM0") as b:
        print(b.exec("print(1+1)"))          # '2\\r\\n' style output as text
        b.put(b"...", "lib/x.mpy")           # written aside, then renamed into place
        b.get("lib/x.mpy")

Every failure becomes a BoardError whose message says what is wrong and what to do.
"""

from __future__ import annotations

import ast
import errno
import os
from collections.abc import Callable

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from ..errors import UlearnError

CHUNK = 1024
TMP_SUFFIX = ".ulearn-tmp"


class BoardError(UlearnError):
    """A board could not be reached, or what it ran failed."""


class BoardExecError(BoardError):
    """Code raised an exception on the board; `.device_traceback` holds the board's own traceback."""

    def __init__(self, message: str, device_traceback: str):
        super().__init__(message)
        self.device_traceback = device_traceback


def _is_no_space(message: str) -> bool:
    """True for the ways MicroPython ports report a full filesystem."""
    return any(t in message for t in (f"OSError: {errno.ENOSPC}", f"[Errno {errno.ENOSPC}]", "ENOSPC"))


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text.strip()


class Board:
    """A connection to one board in raw-REPL mode (no soft reset unless asked)."""

    def __init__(self, port: str, timeout: float = 10.0, soft_reset: bool = False):
        self.port = port
        self.timeout = timeout
        self._soft_reset = soft_reset
        self.transport: SerialTransport | None = None

    # -- connection -----------------------------------------------------------------------------
    def open(self) -> Board:
        """Open the port and enter the raw REPL; raises BoardError naming the problem."""
        if not self.port.startswith(("socket://", "rfc2217://")) and not os.path.exists(self.port):
            raise BoardError(f"no board at {self.port}: check the cable and the path "
                             f"(`ulearn board serve` starts a virtual board)")
        try:
            self.transport = SerialTransport(self.port, baudrate=115200, timeout=self.timeout)
        except TransportError as e:
            text = f"{e}: {self._why_not_open()}"
            if "lock" in text.lower() or "busy" in text.lower() or "Resource temporarily" in text:
                raise BoardError(f"port {self.port} is busy: another program (mpremote, a serial "
                                 f"monitor, ulearn repl) has it open; close that first") from None
            raise BoardError(f"cannot open {self.port}: {text}") from None
        try:
            self.transport.enter_raw_repl(soft_reset=self._soft_reset, timeout_overall=self.timeout)
        except (TransportError, OSError, serial.SerialException) as e:
            self.close()
            raise BoardError(f"the board at {self.port} does not answer the raw REPL ({e}): is it "
                             f"running MicroPython or CircuitPython? Press reset, or stop the program "
                             f"that holds the port, and try again") from None
        return self

    def _why_not_open(self) -> str:
        """mpremote hides why a port would not open; ask pyserial directly."""
        try:
            serial.Serial(self.port, exclusive=True).close()
        except (serial.SerialException, OSError) as e:
            return str(e)
        return "unknown reason"

    def close(self) -> None:
        """Leave the raw REPL and close the port (never raises)."""
        if self.transport is not None:
            try:
                if self.transport.in_raw_repl:
                    self.transport.exit_raw_repl()
                self.transport.close()
            except Exception:  # noqa: BLE001 - closing a dead link must not hide the real error
                pass
            self.transport = None

    def __enter__(self) -> Board:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running code ---------------------------------------------------------------------------
    def exec(self, code: str, timeout: float | None = None,
             on_output: Callable[[bytes], None] | None = None) -> str:
        """Run `code` on the board and return what it printed; board exceptions raise BoardExecError."""
        assert self.transport is not None, "Board is not open"
        try:
            self.transport.exec_raw_no_follow(code)
            out, err = self.transport.follow(timeout or self.timeout, on_output)
        except TransportExecError as e:  # raised by exec_raw_no_follow for compile errors
            raise BoardExecError(f"the board raised: {_last_line(e.error_output)}", e.error_output) from None
        except (TransportError, OSError, serial.SerialException) as e:
            raise BoardError(f"lost the board at {self.port} while it ran code ({e or 'no answer'}): "
                             f"it was reset or disconnected; reconnect and try again") from None
        if err:
            text = err.decode(errors="replace")
            hint = ""
            if "no module named 'ulearn" in text or "no module named 'ulearn." in text:
                hint = ": ulearn (or part of it) is not installed on the board; run `ulearn push`"
            raise BoardExecError(f"the board raised: {_last_line(text)}{hint}", text)
        return out.decode(errors="replace")

    def eval(self, expr: str, timeout: float | None = None):
        """Evaluate a Python literal expression on the board (its repr is parsed on the host)."""
        return ast.literal_eval(self.exec(f"print(repr({expr}))", timeout).strip())

    def soft_reset(self) -> None:
        """Soft-reset the board and re-enter the raw REPL."""
        assert self.transport is not None
        try:
            self.transport.exit_raw_repl()
            self.transport.enter_raw_repl(soft_reset=True, timeout_overall=self.timeout)
        except (TransportError, OSError, serial.SerialException) as e:
            raise BoardError(f"the board at {self.port} did not come back after a soft reset ({e})") from None

    # -- files ----------------------------------------------------------------------------------
    def makedirs(self, folder: str) -> None:
        """Create `folder` and its parents on the board (no error if present)."""
        self.exec("import os\np=''\nfor s in %r.strip('/').split('/'):\n p+='/'+s if p or %r.startswith('/')"
                  " else s\n try:\n  os.mkdir(p)\n except OSError:\n  pass" % (folder, folder))

    def write_aside(self, data: bytes, path: str, progress: Callable[[int], None] | None = None) -> str:
        """Write `data` to `<path>.ulearn-tmp` on the board and return that name (flash full → BoardError)."""
        tmp = path + TMP_SUFFIX
        try:
            self.exec(f"_f=open({tmp!r},'wb')\n_w=_f.write")
            for start in range(0, len(data), CHUNK):
                chunk = data[start:start + CHUNK]
                self.exec(f"_w({bytes(chunk)!r})")
                if progress:
                    progress(len(chunk))
            self.exec("_f.close()\ndel _f,_w")
        except BoardExecError as e:
            self.discard(tmp)
            if _is_no_space(str(e)):
                free = self.free_bytes()
                raise BoardError(f"flash full on {self.port} while writing {path} ({len(data)} bytes, "
                                 f"{free} free): nothing was replaced; free space (mpremote fs rm) "
                                 f"or push less") from None
            raise
        return tmp

    def commit(self, tmp: str, path: str) -> None:
        """Rename a file written aside over `path` (atomic where the filesystem's rename is)."""
        self.exec("import os\ntry:\n os.rename(%r,%r)\nexcept OSError:\n os.remove(%r)\n os.rename(%r,%r)"
                  % (tmp, path, path, tmp, path))

    def put(self, data: bytes, path: str, progress: Callable[[int], None] | None = None) -> None:
        """Write `data` to `path` on the board: aside first, then renamed into place."""
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self.makedirs(parent)
        self.commit(self.write_aside(data, path, progress), path)

    def get(self, path: str) -> bytes:
        """The bytes of file `path` on the board."""
        code = ("import binascii\nwith open(%r,'rb') as _f:\n while True:\n  _b=_f.read(512)\n  if not _b:\n"
                "   break\n  print(binascii.hexlify(_b).decode())" % path)
        try:
            out = self.exec(code, timeout=max(self.timeout, 30))
        except BoardExecError as e:
            if "ENOENT" in str(e) or f"[Errno {errno.ENOENT}]" in str(e):
                raise BoardError(f"no file {path} on the board at {self.port}") from None
            raise
        return bytes.fromhex("".join(out.split()))

    def discard(self, path: str) -> None:
        """Remove `path` on the board if it exists (never raises; for cleaning up after a failure)."""
        try:
            self.exec(f"import os\ntry:\n os.remove({path!r})\nexcept OSError:\n pass")
        except BoardError:
            pass

    def free_bytes(self, folder: str = "/") -> int | None:
        """Free bytes on the filesystem holding `folder`, or None if the board can't say."""
        try:
            return self.eval(f"(lambda s: s[0]*s[3])(__import__('os').statvfs({folder!r}))")
        except BoardError:
            return None

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        """sha256 (hex) of each path on the board; None for files that do not exist."""
        code = ("import hashlib,binascii\n_r={}\n_buf=bytearray(512)\n_mv=memoryview(_buf)\n"
                "for _p in %r:\n try:\n  _h=hashlib.sha256()\n  with open(_p,'rb') as _f:\n"
                "   while True:\n    _n=_f.readinto(_buf)\n    if not _n:\n     break\n    _h.update(_mv[:_n])\n"
                "  _r[_p]=binascii.hexlify(_h.digest()).decode()\n except OSError:\n  _r[_p]=None\n"
                "print(repr(_r))" % (list(paths),))
        return ast.literal_eval(self.exec(code, timeout=max(self.timeout, 30)).strip())

    def walk(self, folder: str) -> list[str]:
        """Every file path below `folder` on the board ([] if it does not exist)."""
        code = ("import os\n_out=[]\ndef _walk(d):\n try:\n  it=os.ilistdir(d)\n except OSError:\n  return\n"
                " for e in it:\n  p=d+'/'+e[0]\n  if e[1]==0x4000:\n   _walk(p)\n  else:\n   _out.append(p)\n"
                "_walk(%r)\nprint(repr(_out))" % folder.rstrip("/"))
        return ast.literal_eval(self.exec(code, timeout=max(self.timeout, 30)).strip())
