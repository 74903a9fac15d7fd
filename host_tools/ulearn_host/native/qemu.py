"""Cross-compile the C kernel for a bare-metal Cortex-M4 and run it in QEMU (mps2-an386).

`run_harness(dsp)` generates random cases with the numpy reference (vectors.h), builds
device/native/qemu/{startup,harness}.c + the kernel with arm-none-eabi-gcc (DSP path, or portable with
UL_FORCE_PORTABLE), runs it under `qemu-system-arm -icount shift=0` and returns the checks and the
instruction counts. `python -m ulearn_host.native.qemu` prints instructions/MAC for both paths.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UlearnError
from . import CACHE, KERNEL_DIR
from . import reference as ref

HARNESS_DIR = KERNEL_DIR / "qemu"
CC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O2", "-std=c99", "-Wall", "-Werror",
          "-ffunction-sections", "-fdata-sections", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
          "-Wl,--gc-sections"]


def missing() -> str | None:
    """None when the cross compiler and QEMU are installed, else a one-line reason."""
    absent = [t for t in (CC, QEMU) if not shutil.which(t)]
    if absent:
        return (f"{' and '.join(absent)} not installed: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                "qemu-system-arm (make setup does this)")
    return None


def _arr(name: str, ctype: str, values) -> str:
    body = ",".join(str(int(v)) for v in np.asarray(values).reshape(-1)) or "0"
    return f"static const {ctype} {name}[] __attribute__((aligned(4))) = {{{body}}};\n"


def _ptr(name: str | None) -> str:
    return name if name else "0"


# (name, kind, m, n, k, conv geometry or None, reps) -- kind 0 = gemm_s8, 1 = conv_s8 layer,
# 2 = gemm_s8_prep (weights prepared once by ul_gemm_prepare, outside the count)
BENCHES = [
    ("gemm_64x120x16_prepared", 2, 64, 16, 120, None, 40),
    ("conv3x3_as_gemm_64x72x16_prepared", 2, 64, 16, 72, None, 40),
    ("gemm_16x120x64_prepared", 2, 16, 64, 120, None, 40),
    ("fc_batch1_1x120x64_prepared", 2, 1, 64, 120, None, 100),
    ("gemm_64x120x16", 0, 64, 16, 120, None, 40),      # m x k . (n x k)^T: 64 rows, 16 channels
    ("gemm_16x120x64", 0, 16, 64, 120, None, 40),      # W 64x120 . X 120x16: 16 rows, 64 channels
    ("gemm_64x120x64", 0, 64, 64, 120, None, 10),
    ("conv3x3_as_gemm_64x72x16", 0, 64, 16, 72, None, 40),
    ("fc_batch1_1x120x64", 0, 1, 64, 120, None, 100),
    # in_h, in_w, in_c, k_h, k_w, sh, sw, dh, dw, pt, pl, out_h, out_w
    ("conv3x3_8x8x8_to_16_layer", 1, 64, 16, 72, (8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 8), 40),
    ("conv1d_1x128x3_k4_to_8_layer", 1, 125, 8, 12, (1, 128, 3, 1, 4, 1, 1, 1, 1, 0, 0, 1, 125), 40),
]


# the shapes of the target (the seed fan model's dense layer and its 3x3 conv as a GEMM)
TARGET_SHAPES = ("gemm_64x120x16", "conv3x3_as_gemm_64x72x16")


def _requant(rng, n):
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64).astype(np.int32)
    shift = rng.integers(-12, 1, n).astype(np.int8)
    return mult, shift


def prep_size(n: int, k: int) -> int:
    """Bytes of a prepared-weights buffer (ul_gemm_prep_size)."""
    return 32 + (n + 3) // 4 * (32 + (k + 3) // 4 * 32)


def generate(seed: int = 7, cases: int = 160) -> str:
    """The text of vectors.h: random gemm/conv cases with numpy-reference outputs, plus the benchmarks."""
    rng = np.random.default_rng(seed)
    out, items, max_out, max_col, max_prep = [], [], 1, 4, 32
    for i in range(cases):
        conv = i % 4 == 3
        if conv:
            in_h, in_w, in_c = (int(v) for v in rng.integers(1, 7, 3))
            out_c, k_h, k_w = int(rng.integers(1, 9)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
            pt, pl = int(rng.integers(0, k_h)), int(rng.integers(0, k_w))
            s, d = int(rng.integers(1, 3)), 1
            out_h = (in_h + 2 * pt - d * (k_h - 1) - 1) // s + 1
            out_w = (in_w + 2 * pl - d * (k_w - 1) - 1) // s + 1
            if out_h < 1 or out_w < 1:
                continue
            g = (in_h, in_w, in_c, k_h, k_w, s, s, d, d, pt, pl, out_h, out_w)
            k, n, m = k_h * k_w * in_c, out_c, out_h * out_w
            a = rng.integers(-128, 128, in_h * in_w * in_c, dtype=np.int8)
            a_off, b_off = int(rng.integers(-127, 129)), 0
            col_size = k * int(rng.integers(1, m + 1))
        else:
            m, n = int(rng.choice([1, 2, 3, 8, 17, 33, 64])), int(rng.choice([1, 3, 4, 5, 7, 8, 16, 67]))
            k = int(rng.choice([1, 2, 3, 4, 5, 8, 12, 13, 16, 17, 20, 72, 120, 255, 256, 257, 300]))
            a = rng.integers(-128, 128, m * k, dtype=np.int8)
            a_off = int(rng.choice([-255, -127, 0, 128, 255, int(rng.integers(-255, 256))]))
            b_off = int(rng.choice([0, 0, -255, 255, int(rng.integers(-255, 256))]))
            g, col_size = (0,) * 13, 0
        if i % 5 == 1:
            a = rng.choice(np.array([-128, 127], np.int8), a.size)
        b = rng.integers(-128, 128, n * k, dtype=np.int8)
        bias = None if i % 6 == 2 else rng.integers(-(1 << 31), (1 << 31) - 1, n, dtype=np.int64).astype(np.int32)
        if bias is not None and i % 2:
            bias = (bias >> 12).astype(np.int32)
        mult, shift = _requant(rng, n)
        shift[::5] = rng.integers(-31, 31, len(shift[::5]))
        out_off = int(rng.integers(-128, 128))
        lo, hi = (-128, 127) if i % 3 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
        if conv:
            want = ref.conv_s8(a, b, bias, mult, shift, g[0], g[1], g[2], n, g[3], g[4], g[5], g[6], g[7], g[8],
                               g[9], g[10], g[11], g[12], a_off, out_off, lo, hi)
            max_col = max(max_col, col_size)
        else:
            want = ref.gemm_s8(a, b, bias, mult, shift, m, n, k, a_off, b_off, out_off, lo, hi).reshape(-1)
        max_out = max(max_out, 2 * want.size + 4)
        max_prep = max(max_prep, prep_size(n, k))
        p = f"c{i}_"
        out += [_arr(p + "a", "int8_t", a), _arr(p + "b", "int8_t", b), _arr(p + "mult", "int32_t", mult),
                _arr(p + "shift", "int8_t", shift), _arr(p + "want", "int8_t", want)]
        if bias is not None:
            out.append(_arr(p + "bias", "int32_t", bias))
        items.append(f"{{{int(conv)}, {p}a, {p}b, {_ptr(p + 'bias' if bias is not None else None)}, {p}mult, "
                     f"{p}shift, {p}want, {m}, {n}, {k}, {a_off}, {b_off}, {out_off}, {lo}, {hi}, {want.size}, "
                     f"{{{', '.join(map(str, g))}}}, {col_size}}}")
    benches = []
    for name, kind, m, n, k, g, reps in BENCHES:
        p = f"b_{name}_"
        a_len = m * k if kind != 1 else g[0] * g[1] * g[2]
        mult, shift = _requant(rng, n)
        out += [_arr(p + "a", "int8_t", rng.integers(-128, 128, a_len, dtype=np.int8)),
                _arr(p + "b", "int8_t", rng.integers(-128, 128, n * k, dtype=np.int8)),
                _arr(p + "bias", "int32_t", rng.integers(-5000, 5000, n)),
                _arr(p + "mult", "int32_t", mult), _arr(p + "shift", "int8_t", shift)]
        max_out = max(max_out, m * n)
        max_prep = max(max_prep, prep_size(n, k))
        if kind == 1:
            max_col = max(max_col, min(m, 32) * k)
        gg = g or (0,) * 13
        benches.append(f'{{"{name}", {kind}, {p}a, {p}b, {p}bias, {p}mult, {p}shift, {m}, {n}, {k}, 5, -3, '
                       f'{reps}, {m * n * k}, {{{", ".join(map(str, gg))}}}}}')
    head = ("/* generated by ulearn_host.native.qemu from the numpy reference: do not edit */\n"
            "#include <stdint.h>\n"
            "struct ul_case { int kind; const int8_t *a, *b; const int32_t *bias, *mult; const int8_t *shift;\n"
            "    const int8_t *want; int32_t m, n, k, a_off, b_off, out_off, act_min, act_max, out_len;\n"
            "    int32_t g[13]; uint32_t col_size; };\n"
            "struct ul_bench { const char *name; int kind; const int8_t *a, *b; const int32_t *bias, *mult;\n"
            "    const int8_t *shift; int32_t m, n, k, a_off, out_off, reps, macs; int32_t g[13]; };\n"
            f"#define UL_MAX_OUT {max_out}\n#define UL_MAX_COL {(max_col + 3) & ~3}\n"
            f"#define UL_MAX_PREP {max_prep}\n")
    return (head + "".join(out) + "static const struct ul_case cases[] = {\n    " + ",\n    ".join(items)
            + "\n};\nstatic const struct ul_bench benches[] = {\n    " + ",\n    ".join(benches) + "\n};\n")


@dataclass
class HarnessResult:
    """What one QEMU run reported."""

    dsp: bool
    ok: bool
    output: str
    bench: dict[str, dict[str, float]] = field(default_factory=dict)


def build(dsp: bool, seed: int = 7, pic: bool = False) -> Path:
    """The harness ELF for the DSP path (or the portable path), cached by content.

    `pic` compiles with -fpic as a native module is (the DSP inner loop then is a call of its own)."""
    reason = missing()
    if reason:
        raise UlearnError(reason)
    header = generate(seed)
    sources = [HARNESS_DIR / "startup.c", HARNESS_DIR / "harness.c", KERNEL_DIR / "ulearn_kernel.c"]
    flags = CFLAGS + ([] if dsp else ["-DUL_FORCE_PORTABLE"]) + (["-fpic"] if pic else [])
    digest = hashlib.sha256(header.encode() + " ".join(flags).encode())
    for s in [*sources, KERNEL_DIR / "ulearn_kernel.h", HARNESS_DIR / "mps2.ld"]:
        digest.update(s.read_bytes())
    work = CACHE / "qemu" / digest.hexdigest()[:16]
    elf = work / f"harness-{'dsp' if dsp else 'portable'}{'-pic' if pic else ''}.elf"
    if elf.exists():
        return elf
    work.mkdir(parents=True, exist_ok=True)
    (work / "vectors.h").write_text(header)
    cmd = [CC, *flags, f"-I{KERNEL_DIR}", f"-I{work}", "-T", str(HARNESS_DIR / "mps2.ld"), *map(str, sources),
           "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise UlearnError(f"cross-compiling the QEMU harness failed:\n{proc.stderr}")
    return elf


def run(elf: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a harness ELF on mps2-an386 with deterministic instruction counting."""
    cmd = [QEMU, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def run_harness(dsp: bool, seed: int = 7, pic: bool = False) -> HarnessResult:
    """Build and run; checks must pass (exit status 0) and BENCH lines are parsed."""
    proc = run(build(dsp, seed, pic))
    text = proc.stderr + proc.stdout
    result = HarnessResult(dsp=dsp, ok=proc.returncode == 0 and "FAIL" not in text, output=text)
    for name, macs, instr in re.findall(r"^BENCH (\S+) (\d+) (\d+)$", text, re.M):
        result.bench[name] = {"macs": int(macs), "instructions": int(instr),
                              "instr_per_mac": int(instr) / int(macs)}
    return result


CONFIGS = {"portable": (False, False), "dsp": (True, False), "dsp_pic": (True, True)}


def measure(seed: int = 7) -> dict:
    """{config: {"checks_ok": bool, bench name: instructions/MAC}} for portable, DSP and DSP built -fpic."""
    out = {}
    for label, (dsp, pic) in CONFIGS.items():
        r = run_harness(dsp, seed, pic)
        out[label] = {"checks_ok": r.ok, **{k: v["instr_per_mac"] for k, v in r.bench.items()}}
        if not r.ok:
            out[label]["output"] = r.output
    return out


def print_table(rows: dict) -> None:
    """The instructions/MAC table."""
    print(f"{'Cortex-M4 (QEMU mps2-an386), instructions/MAC':46s} {'portable':>9s} {'DSP':>7s} {'DSP -fpic':>10s}")
    for name in (b[0] for b in BENCHES):
        print(f"  {name:44s} {rows['portable'][name]:9.3f} {rows['dsp'][name]:7.3f} {rows['dsp_pic'][name]:10.3f}")
    print("  checks vs numpy reference: " + ", ".join(f"{k} {'ok' if v['checks_ok'] else 'FAILED'}"
                                                    for k, v in rows.items()))
    for shape in TARGET_SHAPES:
        best = rows["dsp"][shape + "_prepared"]
        print(f"  target DSP <= 1.0 instructions/MAC on {shape}: {best:.3f} with prepared weights "
              f"({'met' if best <= 1.0 else 'NOT met'}; per-call weight arrangement {rows['dsp'][shape]:.3f}; "
              "SMLAD bound 0.5)")


def main() -> int:
    rows = measure()
    print_table(rows)
    return 0 if all(v["checks_ok"] for v in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
