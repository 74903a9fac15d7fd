"""`ulearn bench gemm`: every backend against pure Python on one 64x120 . 120x16 int8 GEMM, in one
MicroPython process, plus instructions/MAC of the C kernel on an emulated Cortex-M4 (QEMU).

The interpreter is the ulab-enabled unix build when present ($ULEARN_MICROPYTHON or
.cache/micropython-ulab/micropython), else the PyPI one; the native module is built from $MPY_DIR (or
/work/ext/micropython) when available. Backends that cannot run are listed with the reason.
Targets (issue 5): viper >= 30x, native >= 500x pure Python; DSP path <= 1.0 instructions/MAC.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import REPO_ROOT, unixport

M, N, K = 64, 16, 120
ULAB_EXE = Path(os.environ.get("ULEARN_MICROPYTHON") or REPO_ROOT / ".cache" / "micropython-ulab" / "micropython")
NATIVE = REPO_ROOT / "device" / "native"
TARGETS = {"viper": 30.0, "native": 500.0}

# Runs inside MicroPython: times gemm_s8 per backend (same inputs), heap allocated per call.
DEVICE_CODE = """
import gc, json, time
from array import array
from ulearn import backend
M, N, K, BUDGET, ROUNDS = %d, %d, %d, %d, 5
a = array('b', [((i * 37) %% 256) - 128 for i in range(M * K)])
# layer-program form (docs/architecture.md, backend API): weights then shifts in one int8 buffer,
# biases then multipliers in one int32 buffer, the 14 program words (then, on ports with 31-bit small
# ints, each multiplier's 16-bit halves)
w = array('b', [((i * 91 + 7) %% 256) - 128 for i in range(N * K)] + [-9] * N)
q = array('i', [(j * 1237) - 9000 for j in range(N)] + [1395864371 + j * 1000 for j in range(N)])
g = array('i', [0, 0, 0, 0, N, N * K, M, N, K, 3, 0, -5, -128, 127])
from ulearn.fixedpoint import LIMBS
if LIMBS:
    from ulearn._limbs import halves
    for j in range(N):
        for v in halves(q[N + j]):
            g.append(v)
ref = None
res = {}
calls = {}
for name in backend.NAMES:
    try:
        backend.select(name)
    except ValueError as e:
        res[name] = {'error': str(e)}
        continue
    out = array('b', bytes(M * N))
    args = (a, out, w, q, g, 0)
    backend.gemm_s8(*args)
    if name == 'python':
        ref = bytes(out)
    same = ref is None or bytes(out) == ref
    gc.collect(); gc.disable()
    before = gc.mem_alloc()
    backend.gemm_s8(*args)
    alloc = gc.mem_alloc() - before
    gc.enable()
    res[name] = {'us': None, 'reps': 0, 'alloc_bytes_per_call': alloc, 'identical': same}
    calls[name] = args
# best of ROUNDS interleaved rounds: other load on the machine only ever makes a round slower
for _ in range(ROUNDS):
    for name in calls:
        backend.select(name)
        args = calls[name]
        reps, t0 = 0, time.ticks_us()
        while True:
            backend.gemm_s8(*args)
            reps += 1
            dt = time.ticks_diff(time.ticks_us(), t0)
            if dt > BUDGET // ROUNDS:
                break
        row = res[name]
        row['reps'] += reps
        if row['us'] is None or dt / reps < row['us']:
            row['us'] = dt / reps
print('RESULT ' + json.dumps({'backends': res, 'data_bytes': M * K + N * K + M * N + 9 * N}))
"""


def _mpy_dir() -> Path | None:
    tree = os.environ.get("MPY_DIR") or "/work/ext/micropython"
    return Path(tree) if (Path(tree) / "py" / "dynruntime.mk").exists() else None


def _natmod(folder: Path) -> str | None:
    """Build the x64 natmod into `folder`; returns None, or why it is not there."""
    tree = _mpy_dir()
    if tree is None:
        return "MPY_DIR not set: natmod needs a MicroPython source tree (make natmod MPY_DIR=...)"
    proc = subprocess.run(["make", "-s", "-C", str(NATIVE), f"MPY_DIR={tree}", "ARCH=x64", "dist"],
                          capture_output=True, text=True)
    built = sorted((NATIVE / "dist").glob("x64_*/ulearn_native.mpy"))
    if proc.returncode or not built:
        return "natmod build failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    shutil.copy(built[-1], folder / "ulearn_native.mpy")
    return None


def measure_backends(quick: bool = False) -> dict:
    """Backend timings in one MicroPython process (dict as printed by DEVICE_CODE)."""
    folder = Path(tempfile.mkdtemp(prefix="ulearn-bench-gemm-"))
    why_not_native = _natmod(folder)
    old = os.environ.get("ULEARN_MICROPYTHON")
    exe = str(ULAB_EXE) if ULAB_EXE.exists() else None
    try:
        if exe:
            os.environ["ULEARN_MICROPYTHON"] = exe
        env = {k: v for k, v in os.environ.items() if k != "ULEARN_BACKEND"}
        code = DEVICE_CODE % (M, N, K, 250_000 if quick else 1_000_000)
        out = unixport.run(code, path=[folder], heap="2m", env=env, timeout=600).stdout
    finally:
        if old is None:
            os.environ.pop("ULEARN_MICROPYTHON", None)
        else:
            os.environ["ULEARN_MICROPYTHON"] = old
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    res = json.loads(line[len("RESULT "):])
    res["interpreter"] = exe or unixport.micropython_exe()
    if why_not_native:
        res["backends"]["native"] = {"error": why_not_native}
    return res


def measure_qemu() -> dict:
    """instructions/MAC of the portable and DSP paths ({"skipped": reason} if QEMU is missing)."""
    from ..native import qemu
    reason = qemu.missing()
    if reason:
        return {"skipped": reason}
    return qemu.measure()


def run(args: argparse.Namespace) -> dict:
    """Measure, print the tables, return the numbers."""
    quick = bool(getattr(args, "quick", False))
    res = measure_backends(quick)
    backends = res["backends"]
    base = backends.get("python", {}).get("us")
    print(f"int8 GEMM {M}x{K} . {K}x{N} (gemm_s8, fused requantization), one MicroPython process")
    print(f"interpreter: {res['interpreter']}")
    print("time per call: best of 5 interleaved rounds")
    print(f"{'backend':8s} {'time/call':>12s} {'x python':>9s} {'target':>7s} {'alloc/call':>11s}  identical")
    for name, row in backends.items():
        if "error" in row:
            print(f"{name:8s} {'not available: ' + row['error']}")
            continue
        ratio = base / row["us"] if base else float("nan")
        row["ratio_vs_python"] = ratio
        target = TARGETS.get(name)
        print(f"{name:8s} {row['us'] / 1000:10.3f} ms {ratio:8.1f}x {('>=%gx' % target) if target else '':>7s} "
              f"{row['alloc_bytes_per_call']:9d} B  {row['identical']}")
    print(f"peak RAM per call = operands {res['data_bytes']} B + the heap allocated per call (table) + "
          "fixed scratch: viper 16 B (module level), native C stack <= 3 KB on the Cortex-M DSP path "
          "(2 KB weight expansion + 512 B sums), <= 17.1 KB on hosts (weights widened once per call)")
    q = measure_qemu()
    res["qemu_cortex_m4"] = q
    if "skipped" in q:
        print(f"QEMU Cortex-M4: skipped ({q['skipped']})")
    else:
        from ..native import qemu
        qemu.print_table(q)
    return res
