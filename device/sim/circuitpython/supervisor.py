"""CircuitPython's `supervisor` module name, provided by the test harness.

There is no CircuitPython interpreter on the host: a virtual board started with
`--runtime circuitpython` runs MicroPython with CircuitPython's module names on its path, so that
code paths which detect CircuitPython (its `supervisor` module) are exercised. It is not CircuitPython.
"""

runtime = None


def reload():
    """CircuitPython restarts code.py; the harness has nothing to restart."""
    raise NotImplementedError("supervisor.reload() is not emulated by the harness")
