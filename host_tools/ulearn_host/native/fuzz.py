"""`make fuzz`: a million random cases of the C kernel against the numpy reference, under ASan + UBSan.

Runs ulearn_host.native.check in sanitizer-enabled child processes (libasan preloaded), in chunks with
distinct seeds, and prints one line per chunk and a total. Exit status 1 on the first mismatch or
sanitizer report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from . import build, sanitizer_env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--chunk", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--qemu-seeds", type=int, default=20,
                   help="also run the Cortex-M4 harness (portable and DSP) on this many seeds")
    args = p.parse_args(argv)
    build(sanitize=True)
    build(sanitize=True, extra=["-DUL_FORCE_SCALAR"])
    env = sanitizer_env()
    done, chunk_no, start = 0, 0, time.time()
    while done < args.cases:
        n = min(args.chunk, args.cases - done)
        seed = args.seed + chunk_no
        cmd = [sys.executable, "-m", "ulearn_host.native.check", "--cases", str(n), "--seed", str(seed), "--sanitize"]
        if chunk_no % 4 == 3:   # every fourth chunk: the microcontroller C path
            cmd.append("--scalar")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode:
            print(f"FAILED after {done} cases (chunk seed {seed}):\n{proc.stdout}{proc.stderr[-4000:]}")
            return 1
        done += n
        chunk_no += 1
        print(f"{done:>9d} cases ok ({time.time() - start:.0f} s)", flush=True)
    print(f"fuzz: {done} random cases, C kernel == numpy reference, no ASan/UBSan report "
          f"({time.time() - start:.0f} s)")
    from . import qemu
    reason = qemu.missing()
    if reason:
        print(f"Cortex-M4 cases skipped: {reason}")
        return 0
    for seed in range(1, args.qemu_seeds + 1):
        for dsp in (False, True):
            r = qemu.run_harness(dsp, seed=seed)
            if not r.ok:
                print(f"Cortex-M4 {'DSP' if dsp else 'portable'} FAILED on seed {seed}:\n{r.output}")
                return 1
    text = qemu.generate(1)
    per_seed = text.split("cases[] = {")[1].split("};")[0].count("{") // 2   # each case: {..., {g}, ...}
    print(f"Cortex-M4 (QEMU): {args.qemu_seeds} seeds x ~{per_seed} cases, portable and DSP paths == numpy reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
