"""The `native` backend: C kernels in the module `ulearn_native` (natmod .mpy or firmware user C module).

See device/native/. A module built for another architecture or with another ABI version is
refused with a ValueError saying so (backend.py prints it once and uses the next backend).
"""

ABI = 2   # must equal ulearn_native.ABI (bumped when the Python-level entry points change)


def functions():
    """The six backend functions from ulearn_native; ImportError if absent, ValueError if unusable."""
    try:
        import ulearn_native as nat
    except ValueError as e:   # "incompatible .mpy arch" / "incompatible .mpy file"
        raise ValueError("ulearn_native: %s; rebuild it for this board (make -C device/native ARCH=...)" % e)
    abi = getattr(nat, "ABI", None)
    if abi != ABI:
        raise ValueError("ulearn_native ABI %r, this ulearn needs %d: rebuild device/native" % (abi, ABI))
    return (nat.gemm_s8, nat.gemm_s32, nat.im2col_s8, nat.conv_s8, nat.dot_q15, nat.matvec_q15)
