"""Backend choice and every available backend against the pure-Python reference (inside MicroPython).

The native and ulab backends are compared in tests/test_native_natmod.py and test_native_ulab.py,
which run these same cases (backend_cases.py) in an interpreter that has them.
"""

from array import array

from backend_cases import conv_args, gemm_args
from devtest import allocated, micropython_only, raises

from ulearn import backend


def test_choice_is_made_once_and_reported():
    import ulearn
    assert backend.NAME in backend.NAMES
    assert ulearn.backend_name() == backend.NAME
    chosen = backend.NAME
    assert backend.select("python") == "python" and ulearn.backend_name() == "python"
    backend.select(chosen)
    with raises(ValueError, "unknown backend"):
        backend.select("gpu")


def test_absent_backend_is_refused_clearly():
    try:
        import ulearn_native  # noqa: F401
        return                # this interpreter has the native module: nothing absent to test
    except ImportError:
        pass
    before = backend.NAME
    with raises(ValueError, "not available"):
        backend.select("native")
    assert backend.NAME == before


def test_viper_is_chosen_on_micropython_without_native_or_ulab():
    micropython_only()
    for mod in ("ulearn_native", "ulab"):
        try:
            __import__(mod)
            return
        except ImportError:
            pass
    import os
    if os.getenv("ULEARN_BACKEND"):
        return
    assert backend.NAME == "viper"


def test_viper_matches_reference():
    micropython_only("viper needs MicroPython")
    import backend_cases
    backend_cases.check("viper")


def test_viper_gemm_allocates_nothing():
    micropython_only("gc.mem_alloc needs MicroPython")
    backend.select("viper")
    m, n, k = 4, 8, 24
    a, b = array("b", range(-48, 48)), array("b", range(-96, 96))
    bias, mult, shift = array("i", [7] * n), array("i", [1518500250] * n), array("b", [-8] * n)
    out32 = array("i", [0] * (m * n))
    h, q = array("h", [1000] * 32), array("i", [0] * 2)
    args = gemm_args(a, b, bias, mult, shift, m, n, k, 3, 0, -5, -128, 127, 2, False)
    assert allocated(lambda: backend.gemm_s8(*args), 20) == 0
    assert allocated(lambda: backend.gemm_s32(a, b, None, out32, m, n, k, 3, 0), 20) == 0
    assert allocated(lambda: backend.matvec_q15(h, h, None, q, 2, 16, 15), 20) == 0


def test_python_reference_is_deterministic_across_interpreters():
    # the same LCG cases give the same checksum under CPython and MicroPython
    import backend_cases
    rng = backend_cases.Rng(99)
    m, n, k = 3, 4, 11
    a = array("b", [rng.int(-128, 127) for _ in range(m * k)])
    b = array("b", [rng.int(-128, 127) for _ in range(n * k)])
    args = gemm_args(a, b, array("i", [100, -100, 0, 5]), array("i", [1395864371] * n), array("b", [-7, -6, 0, 1]),
                     m, n, k, -3, 0, 2, -128, 127)
    backend.select("python")
    backend.gemm_s8(*args)
    out = args[1]
    if backend_cases.__name__ and "viper" in backend.NAMES:
        try:
            backend.select("viper")
        except ValueError:
            return
        args2 = gemm_args(a, b, array("i", [100, -100, 0, 5]), array("i", [1395864371] * n),
                          array("b", [-7, -6, 0, 1]), m, n, k, -3, 0, 2, -128, 127, 3, False)
        backend.gemm_s8(*args2)
        backend.select("python")
        assert args2[1][3:] == out


def test_conv_allocates_nothing():
    micropython_only("gc.mem_alloc needs MicroPython")
    for name in ("viper", "python"):
        backend.select(name)
        x, w = array("b", range(-64, 64)), array("b", range(-72, 72))
        bias, mult, shift = array("i", [1, 2]), array("i", [1518500250] * 2), array("b", [-8, -7])
        geom = (8, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 8, 4, 5, -3, -128, 127)
        args = conv_args(x, w, bias, mult, shift, 72, geom, 1, name == "viper")
        assert allocated(lambda args=args: backend.conv_s8(*args), 5) == 0, name
    backend.select("python")
