"""Tiny helpers for device tests: the same test files run under CPython (pytest) and MicroPython.

    from devtest import skip, raises, on_micropython
"""

import sys

on_micropython = sys.implementation.name in ("micropython", "circuitpython")


class SkipTest(Exception):
    """Raised to skip a test; the message says what is missing and how to provide it."""


def skip(reason):
    """Skip the running test with a one-line reason (pytest skip under CPython)."""
    if not on_micropython:
        import pytest
        pytest.skip(reason)
    raise SkipTest(reason)


def micropython_only(reason="needs MicroPython (gc.mem_alloc, viper, const)"):
    """Skip unless running inside MicroPython."""
    if not on_micropython:
        skip(reason)


class raises:
    """Context manager: the block must raise `exc_type`; `match` must appear in the message."""

    def __init__(self, exc_type, match=None):
        self.exc_type = exc_type
        self.match = match
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("did not raise %s" % self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        if self.match is not None and self.match not in str(exc):
            raise AssertionError("%r does not contain %r" % (str(exc), self.match))
        return True


def allocated(fn, repeat=100):
    """Bytes of heap allocated while calling fn() `repeat` times (after one warm-up call).

    MicroPython only: uses gc.mem_alloc() with the collector disabled.
    """
    import gc
    fn()
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(repeat):
            fn()
        return gc.mem_alloc() - before
    finally:
        gc.enable()
