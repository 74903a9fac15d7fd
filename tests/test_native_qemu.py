"""The C kernel cross-compiled for Cortex-M4 and run bare-metal in QEMU (mps2-an386): portable and DSP
paths against the numpy reference, and instruction counts (printed, never asserted on speed)."""

from __future__ import annotations

import pytest

from ulearn_host.native import qemu


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp"])
def test_cortex_m4_kernel_matches_reference(dsp):
    reason = qemu.missing()
    if reason:
        pytest.skip(reason)
    result = qemu.run_harness(dsp)
    assert result.ok, result.output
    assert "CHECK" in result.output and "cases ok" in result.output
    assert set(result.bench) == {b[0] for b in qemu.BENCHES}
    for name, row in result.bench.items():
        print(f"{'dsp' if dsp else 'portable'} {name}: {row['instr_per_mac']:.3f} instructions/MAC")
    assert "CHECK pooling 14 layers ok" in result.output   # ul_max_pool_s8 / ul_avg_pool_s8 on the Cortex-M4
    pool = [line.split() for line in result.output.splitlines() if line.startswith("POOL ")]
    assert len(pool) == 1
    print(f"{'dsp' if dsp else 'portable'} {pool[0][1]}: {pool[0][2]} instructions (496 outputs)")
