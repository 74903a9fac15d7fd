"""Test harness: host tests run in CPython; every `test_*` in tests/device/ also runs in real MicroPython.

A device test file is collected three ways: by pytest under CPython, and inside the MicroPython unix
port from source (`[micropython]`) and from `.mpy` compiled by mpy-cross (`[micropython-mpy]`). Each
MicroPython run is its own interpreter with a capped heap: 256 KB unless the module sets
`HEAP = "64k"` (or similar) at top level. Set `MODES = ("src",)` to skip the compiled run.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TESTS = ROOT / "tests" / "device"
for p in (ROOT / "lib", ROOT / "host_tools", DEVICE_TESTS, ROOT / "device" / "apps"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from ulearn_host import unixport  # noqa: E402 (after the sys.path set-up above)
from ulearn_host.board.virtual import BackgroundBoard  # noqa: E402

MARK = "\x1eULEARN-TEST "


def _module_settings(path: Path) -> tuple[list[str], str, tuple[str, ...]]:
    tree = ast.parse(path.read_text())
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    heap, modes = unixport.DEFAULT_HEAP, ("src", "mpy")
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "HEAP":
                heap = ast.literal_eval(node.value)
            elif node.targets[0].id == "MODES":
                modes = tuple(ast.literal_eval(node.value))
    return names, heap, modes


class MicroPythonFile(pytest.File):
    """The MicroPython runs of one device test file."""

    def collect(self):
        names, heap, modes = _module_settings(self.path)
        for mode in modes:
            for name in names:
                label = "micropython" if mode == "src" else "micropython-mpy"
                yield MicroPythonItem.from_parent(self, name=f"{name}[{label}]", func=name, heap=heap,
                                                  compiled=(mode == "mpy"))


_SIM_PATH: list[Path] = []


def _sim_path() -> list[Path]:
    """device/sim (fake I2C bus, LIS3DH stand-in) and the Adafruit driver copied from site-packages."""
    if not _SIM_PATH:
        from ulearn_host.boards import device_sim_path
        _SIM_PATH.extend(device_sim_path())
    return _SIM_PATH


class MicroPythonTestFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    """One device test function, run in its own MicroPython interpreter."""

    def __init__(self, *, func: str, heap: str, compiled: bool, **kw):
        super().__init__(**kw)
        self.func, self.heap, self.compiled = func, heap, compiled

    def runtest(self):
        result = unixport.run(script=DEVICE_TESTS / "_runner.py", args=[self.path.stem, self.func],
                              heap=self.heap, compiled=self.compiled, path=[DEVICE_TESTS, *_sim_path()],
                              cwd=self._workdir(), check=False)
        lines = result.stdout.split("\n")
        verdict = next((ln[len(MARK):] for ln in reversed(lines) if ln.startswith(MARK)), None)
        if verdict == "PASS":
            return
        if verdict and verdict.startswith("SKIP"):
            pytest.skip(verdict[5:])
        raise MicroPythonTestFailure(result.stdout + result.stderr + f"\n(exit code {result.returncode})")

    def _workdir(self) -> Path:
        import tempfile
        return Path(tempfile.mkdtemp(prefix="ulearn-mpy-"))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonTestFailure):
            return f"inside MicroPython ({'mpy' if self.compiled else 'source'}, heap {self.heap}):\n" \
                   f"{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"micropython: {self.name}"


def pytest_collect_file(parent, file_path: Path):
    if file_path.parent == DEVICE_TESTS and file_path.name.startswith("test_") and file_path.suffix == ".py":
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


# The 32-bit (i686) unix MicroPython: 31-bit small ints and 4-byte words, like most boards
MICROPYTHON32 = Path(os.environ.get("ULEARN_MICROPYTHON32") or ROOT / ".cache" / "micropython-i686" / "micropython")


@pytest.fixture
def micropython32() -> str:
    """Path of the 32-bit unix MicroPython ($ULEARN_MICROPYTHON32, else .cache/micropython-i686/micropython);
    the test skips when it is absent."""
    if not MICROPYTHON32.exists():
        pytest.skip("no 32-bit MicroPython: set ULEARN_MICROPYTHON32 or run make micropython-32bit MPY_DIR=...")
    return str(MICROPYTHON32)


_RUN_MODULE_TESTS = """
import sys, {module} as m
print(sys.maxsize)
for name in sorted(dir(m)):
    if name.startswith('test_'):
        getattr(m, name)()
        print(name)
"""


@pytest.fixture
def device_tests_32(micropython32):
    """`device_tests_32(module, compiled)`: run every test_* of tests/device/<module>.py in the 32-bit
    MicroPython (x86 .mpy when `compiled`, 512 KB heap); checks the words are 32-bit and returns the names run."""
    def run(module: str, compiled: bool) -> list[str]:
        out = unixport.run(_RUN_MODULE_TESTS.format(module=module), micropython=micropython32, arch="x86",
                           compiled=compiled, heap="512k", path=[DEVICE_TESTS]).stdout.split()
        assert out[0] == str(2**31 - 1), out
        return out[1:]
    return run


@pytest.fixture
def mpy():
    """Run device code in MicroPython: `mpy(code, heap="64k", compiled=False)` returns its stdout."""
    def run(code: str, **kw) -> str:
        return unixport.run(code, **kw).stdout
    return run


# -- virtual boards ---------------------------------------------------------------------------------


# The one way to run a virtual board in the background; the old name stays for the tests that import it.
VirtualBoardProcess = BackgroundBoard


@pytest.fixture(scope="session")
def virtual_board(tmp_path_factory):
    """One virtual board for the test session (`.port`, `.home`, `.kill_interpreter()`, `.restart()`)."""
    board = VirtualBoardProcess(tmp_path_factory.mktemp("virtual-board")).start()
    yield board
    board.stop()


@pytest.fixture
def fresh_board(tmp_path):
    """A virtual board of its own for one test, with a small (256 KiB) flash."""
    board = VirtualBoardProcess(tmp_path / "board", flash_size="256k").start()
    yield board
    board.stop()


@pytest.fixture(autouse=True)
def _device_tests_run_in_a_fresh_folder(request, tmp_path, monkeypatch):
    """Under CPython too, a device test starts in an empty folder (as its MicroPython runs do)."""
    if Path(str(request.node.path)).parent == DEVICE_TESTS:
        monkeypatch.chdir(tmp_path)
