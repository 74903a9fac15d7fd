"""The device package imports and reports itself; these run under CPython and inside MicroPython."""

import sys

from devtest import micropython_only, raises


def test_runs_inside_micropython():
    micropython_only("this test proves the harness runs device code inside MicroPython")
    assert sys.implementation.name == "micropython"
    assert sys.implementation._mpy & 0xFF == 6  # mpy major version 6 (v6.x)


def test_version_and_backend():
    import ulearn
    assert ulearn.__version__.count(".") == 2


def test_heap_is_capped_like_a_256k_board():
    micropython_only()
    import gc
    gc.collect()
    total = gc.mem_alloc() + gc.mem_free()
    assert 200 * 1024 < total <= 256 * 1024, total
    with raises(MemoryError):
        bytearray(300 * 1024)
