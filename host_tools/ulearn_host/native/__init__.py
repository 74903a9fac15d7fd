"""The C kernels of device/native built for the host with gcc, called through ctypes.

`build(sanitize=True)` compiles device/native/ulearn_kernel.c into a shared library (cached by
content under .cache/native); `Kernel(path)` wraps its entry points for numpy arrays. A library built
with sanitizers must be loaded in a process started with `sanitizer_env()` (libasan preloaded).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .. import REPO_ROOT
from ..errors import UlearnError

KERNEL_DIR = REPO_ROOT / "device" / "native"
KERNEL_SRC = KERNEL_DIR / "ulearn_kernel.c"
CACHE = Path(os.environ.get("ULEARN_CACHE", REPO_ROOT / ".cache")) / "native"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]

STATUS = {
    -1: "a dimension is negative (or kernel/stride/dilation < 1)",
    -2: "a_off/in_off out of range",
    -3: "b_off out of range",
    -4: "out_off outside [-128, 127]",
    -5: "act_min/act_max invalid",
    -6: "shift out of range",
    -7: "mult negative",
    -8: "col scratch too small",
    -9: "pad_value out of range",
    -10: "NULL pointer",
    -11: "prepared-weights buffer misaligned, too small, or prepared for another n/k",
    -12: "a pooling window has no input tap (padding only)",
}


def gcc() -> str:
    """The host C compiler (gcc)."""
    found = shutil.which(os.environ.get("CC", "gcc"))
    if not found:
        raise UlearnError("no C compiler: install gcc (apt-get install gcc) to build the native kernels")
    return found


def build(sanitize: bool = False, extra: list[str] | None = None, src: list[Path] | None = None,
          name: str = "ulearn_kernel") -> Path:
    """Compile the kernel (or `src`) into a shared library; returns its path (cached by content)."""
    sources = src or [KERNEL_SRC]
    flags = ["-std=c99", "-O2", "-ftree-vectorize", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
             f"-I{KERNEL_DIR}"]
    flags += (SANITIZE_FLAGS if sanitize else []) + (extra or [])
    digest = hashlib.sha256(" ".join(flags).encode())
    for s in sources:
        digest.update(s.read_bytes())
    digest.update((KERNEL_DIR / "ulearn_kernel.h").read_bytes())
    out = CACHE / f"lib{name}-{'san-' if sanitize else ''}{digest.hexdigest()[:12]}.so"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}.so")
    proc = subprocess.run([gcc(), *flags, "-o", str(tmp), *map(str, sources)], capture_output=True, text=True)
    if proc.returncode:
        raise UlearnError(f"building {', '.join(map(str, sources))} failed:\n{proc.stderr}")
    tmp.rename(out)
    return out


def sanitizer_env(base: dict | None = None) -> dict:
    """Environment for a process that loads a sanitizer-built library (libasan preloaded)."""
    env = dict(os.environ if base is None else base)
    libasan = subprocess.run([gcc(), "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    env["LD_PRELOAD"] = libasan
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


_P8 = ctypes.POINTER(ctypes.c_int8)
_P16 = ctypes.POINTER(ctypes.c_int16)
_P32 = ctypes.POINTER(ctypes.c_int32)
_I = ctypes.c_int32


def _ptr(arr: np.ndarray | None, ctype):
    if arr is None:
        return None
    if not arr.flags.c_contiguous:
        raise ValueError("arrays passed to the kernel must be contiguous")
    return arr.ctypes.data_as(ctype)


class KernelError(ValueError):
    """The C kernel returned a non-zero status."""

    def __init__(self, status: int):
        super().__init__(f"kernel status {status}: {STATUS.get(status, 'unknown')}")
        self.status = status


class Kernel:
    """ctypes view of the C entry points (numpy arrays of int8/int16/int32 in, status checked)."""

    def __init__(self, path: Path):
        self.lib = ctypes.CDLL(str(path))
        lib = self.lib
        lib.ul_gemm_s8.argtypes = [_P8, _P8, _P32, _P32, _P8, _P8] + [_I] * 8
        lib.ul_gemm_s32.argtypes = [_P8, _P8, _P32, _P32] + [_I] * 5
        lib.ul_im2col_s8.argtypes = [_P8, _P8] + [_I] * 16
        lib.ul_conv_col_size.argtypes = [_I] * 5
        lib.ul_conv_col_size.restype = ctypes.c_size_t
        lib.ul_conv_s8.argtypes = [_P8, _P8, _P32, _P32, _P8, _P8, _P8, ctypes.c_size_t] + [_I] * 18
        lib.ul_dot_q15.argtypes = [_P16, _P16, _I, ctypes.POINTER(ctypes.c_int64)]
        lib.ul_matvec_q15.argtypes = [_P16, _P16, _P32, _P32, _I, _I, _I]
        lib.ul_gemm_prep_size.argtypes = [_I, _I]
        lib.ul_gemm_prep_size.restype = ctypes.c_size_t
        lib.ul_gemm_prepare.argtypes = [_P8, _P32, _I, _I, _I, ctypes.c_void_p, ctypes.c_size_t]
        lib.ul_gemm_s8_prep.argtypes = [_P8, ctypes.c_void_p, _P32, _P8, _P8] + [_I] * 7
        lib.ul_requantize.argtypes = [_I, _I, _I]
        lib.ul_requantize.restype = ctypes.c_int32

    @staticmethod
    def _ok(status: int) -> None:
        if status:
            raise KernelError(status)

    def gemm_s8(self, a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max):
        """ul_gemm_s8 on numpy arrays (out filled in place)."""
        self._ok(self.lib.ul_gemm_s8(_ptr(a, _P8), _ptr(b, _P8), _ptr(bias, _P32), _ptr(mult, _P32),
                                     _ptr(shift, _P8), _ptr(out, _P8), m, n, k, a_off, b_off, out_off,
                                     act_min, act_max))

    def gemm_prep_size(self, n: int, k: int) -> int:
        """Bytes of a prepared-weights buffer for n channels of k weights."""
        return self.lib.ul_gemm_prep_size(n, k)

    def gemm_prepare(self, b, bias, n, k, b_off, buf: np.ndarray | None = None) -> np.ndarray:
        """ul_gemm_prepare into `buf` (an int32 array, allocated when None); returns the buffer."""
        if buf is None:
            buf = np.zeros((self.gemm_prep_size(n, k) + 3) // 4, np.int32)
        size = buf.nbytes if buf.ndim else 0
        self._ok(self.lib.ul_gemm_prepare(_ptr(b, _P8), _ptr(bias, _P32), n, k, b_off,
                                          buf.ctypes.data_as(ctypes.c_void_p), size))
        return buf

    def gemm_s8_prep(self, a, prep, mult, shift, out, m, n, k, a_off, out_off, act_min, act_max):
        """ul_gemm_s8_prep on numpy arrays (prep from gemm_prepare; out filled in place)."""
        self._ok(self.lib.ul_gemm_s8_prep(_ptr(a, _P8), None if prep is None else prep.ctypes.data_as(ctypes.c_void_p),
                                          _ptr(mult, _P32), _ptr(shift, _P8), _ptr(out, _P8), m, n, k, a_off,
                                          out_off, act_min, act_max))

    def gemm_s32(self, a, b, bias, out, m, n, k, a_off, b_off):
        """ul_gemm_s32 on numpy arrays."""
        self._ok(self.lib.ul_gemm_s32(_ptr(a, _P8), _ptr(b, _P8), _ptr(bias, _P32), _ptr(out, _P32),
                                      m, n, k, a_off, b_off))

    def im2col_s8(self, x, col, *geom):
        """ul_im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w, row0, rows, pad)."""
        self._ok(self.lib.ul_im2col_s8(_ptr(x, _P8), _ptr(col, _P8), *geom))

    def conv_col_size(self, in_c, k_h, k_w, out_h, out_w) -> int:
        """Scratch bytes for conv_s8."""
        return self.lib.ul_conv_col_size(in_c, k_h, k_w, out_h, out_w)

    def conv_s8(self, x, w, bias, mult, shift, out, col, *geom):
        """ul_conv_s8 (geom: in_h .. act_max as in the C header)."""
        self._ok(self.lib.ul_conv_s8(_ptr(x, _P8), _ptr(w, _P8), _ptr(bias, _P32), _ptr(mult, _P32),
                                     _ptr(shift, _P8), _ptr(out, _P8), _ptr(col, _P8),
                                     0 if col is None else col.nbytes, *geom))

    def dot_q15(self, a, b, n) -> int:
        """Exact int16 dot product."""
        res = ctypes.c_int64()
        self._ok(self.lib.ul_dot_q15(_ptr(a, _P16), _ptr(b, _P16), n, ctypes.byref(res)))
        return res.value

    def matvec_q15(self, w, x, bias, out, rows, cols, shift):
        """ul_matvec_q15 on numpy arrays."""
        self._ok(self.lib.ul_matvec_q15(_ptr(w, _P16), _ptr(x, _P16), _ptr(bias, _P32), _ptr(out, _P32),
                                        rows, cols, shift))

    def requantize(self, acc: int, mult: int, shift: int) -> int:
        """ul_requantize of one accumulator."""
        return self.lib.ul_requantize(acc, mult, shift)
