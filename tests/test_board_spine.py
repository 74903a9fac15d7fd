"""The spine, end to end: a virtual board that mpremote and `ulearn` drive like a USB board."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial
from ulearn_host.board import Board, BoardError, compile_plan
from ulearn_host.board.push import push

MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def ulearn(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ulearn_host", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ulearn: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_mpremote_exec_on_virtual_board(virtual_board):
    out = subprocess.run([MPREMOTE, "connect", virtual_board.port, "exec", "print(1+1)"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_flash_is_a_sandbox_not_the_host(virtual_board):
    with Board(virtual_board.port) as b:
        assert b.eval("__import__('os').getcwd()") == "/"
        root = b.eval("__import__('os').listdir('/')")
    assert "etc" not in root and "usr" not in root


def test_push_then_import_version_then_nothing_to_copy(virtual_board):
    first = ulearn("push", "--port", virtual_board.port, "-q")
    assert first.returncode == 0, first.stderr
    out = subprocess.run([MPREMOTE, "connect", virtual_board.port, "exec",
                          "import ulearn; print(ulearn.__version__)"], capture_output=True, text=True, timeout=30)
    import ulearn as host_ulearn
    assert out.stdout.strip() == host_ulearn.__version__
    second = ulearn("push", "--port", virtual_board.port, "-q")
    assert second.returncode == 0, second.stderr
    assert "pushed 0 file(s)" in second.stdout, second.stdout


def test_pushed_files_are_mpy_for_the_board_arch(virtual_board):
    ulearn("push", "--port", virtual_board.port, "-q")
    with Board(virtual_board.port) as b:
        files = b.walk("/lib/ulearn")
        header = b.eval("open('/lib/ulearn/blob.mpy','rb').read(4)")
    assert files and all(not f.endswith(".py") for f in files)
    assert header[0] == ord("M") and header[1] == 6  # .mpy v6


def test_info_reports_the_board(virtual_board):
    import json
    proc = ulearn("info", "--port", virtual_board.port, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["runtime"] == "micropython"
    assert info["mpy_version"] == 6 and info["arch"] == "x64" and info["native_loadable"]
    assert 0 < info["heap_free"] <= info["heap_total"] <= 256 * 1024
    assert info["flash_total"] == 2 * 1024 * 1024
    assert "ulab" in info and "ulearn" in info


def test_soft_reset_and_ctrl_c(virtual_board):
    with Board(virtual_board.port) as b:
        b.exec("import sys\nsys.modules['ulearn_marker'] = 1")
        b.soft_reset()
        assert b.eval("'ulearn_marker' in __import__('sys').modules") is False
    runaway = subprocess.Popen([MPREMOTE, "connect", virtual_board.port, "exec", "while True: pass"])
    time.sleep(1.0)
    runaway.kill()
    runaway.wait()
    with Board(virtual_board.port) as b:  # entering the raw REPL sends Ctrl-C, which must interrupt
        assert b.eval("6*7") == 42


def test_no_board_at_path():
    assert_one_line_error(ulearn("info", "--port", "/dev/ulearn-no-such-board"), "no board at")


def test_port_busy(virtual_board):
    holder = serial.Serial(virtual_board.port, exclusive=True)
    try:
        assert_one_line_error(ulearn("info", "--port", virtual_board.port), "busy")
    finally:
        holder.close()


def test_board_not_answering_raw_repl(tmp_path):
    master, slave = os.openpty()  # a terminal nobody answers on
    try:
        import tty
        tty.setraw(slave)
        assert_one_line_error(ulearn("info", "--port", os.ttyname(slave), "--timeout", "1"),
                              "does not answer the raw REPL")
    finally:
        os.close(master)
        os.close(slave)


def test_verbose_shows_traceback():
    proc = ulearn("-v", "info", "--port", "/dev/ulearn-no-such-board")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_unsupported_mpy_abi_names_versions_and_fix():
    with pytest.raises(BoardError) as e:
        compile_plan({"runtime": "micropython", "version": "1.18.0", "mpy_version": 5, "mpy_sub": 0, "arch": "armv7m"})
    text = str(e.value)
    assert ".mpy v5.0" in text and "emits v6" in text and "update the board's firmware" in text


def test_circuitpython_board_gets_sources_and_refuses_native(tmp_path):
    """CircuitPython paths: MicroPython with CircuitPython's module names from the harness (not CircuitPython)."""
    from conftest import VirtualBoardProcess
    board = VirtualBoardProcess(tmp_path / "cp", flash_size="512k", runtime="circuitpython").start()
    try:
        import json
        info = json.loads(ulearn("info", "--port", board.port, "--json").stdout)
        assert info["runtime"] == "circuitpython" and not info["native_loadable"]
        assert_one_line_error(ulearn("push", "--native", "--port", board.port), "MicroPython-only")
        ok = ulearn("push", "--port", board.port, "-q")
        assert ok.returncode == 0, ok.stderr
        with Board(board.port) as b:
            files = b.walk("/lib/ulearn")
            assert files and all(f.endswith(".py") or "." not in f.rsplit("/", 1)[-1] or not f.endswith(".mpy")
                                 for f in files)
            assert b.eval("__import__('ulearn').__version__")
    finally:
        board.stop()


def _make_package(folder: Path, version: str, files: int = 24, size: int = 6000) -> dict[str, str]:
    """A package whose every file carries `version`; returns board path -> sha256 of its .mpy-free bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        body = f"VERSION = {version!r}\nDATA = {('x' * size)!r}\n"
        (folder / f"m{i:02d}.py").write_text(body)
    (folder / "__init__.py").write_text(f"VERSION = {version!r}\n")
    return {}


def _board_versions(b: Board, package: str, count: int) -> list[str]:
    """The VERSION of every module of `package` on the board (each imported, read, then dropped)."""
    code = ("import sys, gc\n_v=[]\n_p=__import__(%r)\nfor _i in range(%d):\n _n='m%%02d' %% _i\n"
            " m=__import__(%r + '.' + _n, None, None, ['VERSION'])\n"
            " _v.append(m.VERSION)\n sys.modules.pop(%r + '.' + _n)\n"
            " if hasattr(_p, _n):\n  delattr(_p, _n)\n del m\n gc.collect()\n"
            "sys.modules.pop(%r)\nprint(repr(_v))" % (package, count, package, package, package))
    import ast
    return ast.literal_eval(b.exec(code, timeout=60).strip())


def test_kill_during_push_leaves_whole_files_and_next_push_completes(tmp_path):
    """Power-cut the board 1 s into a push that takes several seconds (whatever the machine's speed)."""
    from conftest import VirtualBoardProcess
    board = VirtualBoardProcess(tmp_path / "board", flash_size="1M").start()
    files, size = 32, 6000
    try:
        pkg = tmp_path / "pkgkill"
        _make_package(pkg, "old", files=files, size=size)
        with Board(board.port) as b:
            push(b, [str(pkg)], progress=False)
        _make_package(pkg, "new", files=files, size=size)

        killer = threading.Timer(1.0, board.kill_interpreter)
        killer.start()
        started = time.monotonic()
        with pytest.raises(BoardError), Board(board.port, timeout=5) as b:
            push(b, [str(pkg)], progress=False)
        killer.join()
        assert time.monotonic() - started >= 1.0  # the push was cut, it did not finish first

        with Board(board.port) as b:  # every module imports whole: old or new, never truncated
            versions = _board_versions(b, "pkgkill", files)
            assert set(versions) <= {"old", "new"}
            result = push(b, [str(pkg)], progress=False)
            assert _board_versions(b, "pkgkill", files) == ["new"] * files
            assert not [p for p in b.walk("/lib/pkgkill") if p.endswith(".ulearn-tmp")]
        assert len(result.copied) + result.unchanged == files + 1
    finally:
        board.stop()


def test_flash_full_refuses_and_previous_version_imports(fresh_board, tmp_path):
    pkg = tmp_path / "pkgfull"
    _make_package(pkg, "v1", files=4, size=2000)
    with Board(fresh_board.port) as b:
        push(b, [str(pkg)], progress=False)
        _make_package(pkg, "v2", files=4, size=100_000)  # 4 × 100 KB cannot fit a 256 KiB flash
        with pytest.raises(BoardError, match="flash"):
            push(b, [str(pkg)], progress=False)
        assert _board_versions(b, "pkgfull", 4) == ["v1"] * 4


def test_flash_full_while_writing_keeps_the_old_file(fresh_board):
    with Board(fresh_board.port) as b:
        b.put(b"VERSION = 'kept'\n", "keep.py")
        free = b.free_bytes()
        with pytest.raises(BoardError, match="flash full"):
            b.put(b"#" * (free + 8192), "keep.py")
        assert b.get("keep.py") == b"VERSION = 'kept'\n"
        assert b.eval("__import__('keep').VERSION") == "kept"


def test_push_verifies_by_hash(virtual_board, tmp_path):
    model = tmp_path / "hello.py"
    model.write_text("GREETING = 'hi'\n")
    with Board(virtual_board.port) as b:
        result = push(b, [str(model)], progress=False)
        assert result.copied == ["/hello.mpy"]
        data = b.get("/hello.mpy")
        assert b.hashes(["/hello.mpy"])["/hello.mpy"] == hashlib.sha256(data).hexdigest()
        assert b.eval("__import__('hello').GREETING") == "hi"
    assert data[:2] == b"M\x06"


def test_push_with_board_profile_runs_the_sensor_app(tmp_path):
    """`push --board unix lib data_logger` brings the driver, the simulated chip and board.json."""
    from conftest import VirtualBoardProcess
    board = VirtualBoardProcess(tmp_path / "b", flash_size="2M").start()
    try:
        proc = ulearn("push", "--port", board.port, "--board", "unix", "-q", "lib", "data_logger")
        assert proc.returncode == 0, proc.stderr
        with Board(board.port, timeout=60) as b:
            assert b.eval("__import__('json').load(open('/board.json'))['name']") == "unix"
            files = b.walk("/lib")
            assert "/lib/adafruit_lis3dh.mpy" in files and "/lib/lis3dh_sim.mpy" in files
        run = ulearn("run", "--port", board.port, "data_logger", "seconds=1", "quiet=True")
        assert run.returncode == 0, run.stdout + run.stderr
        again = ulearn("push", "--port", board.port, "--board", "unix", "-q", "lib", "data_logger")
        assert "pushed 0 file(s)" in again.stdout
    finally:
        board.stop()


def test_push_refuses_a_profile_for_another_board(virtual_board):
    assert_one_line_error(ulearn("push", "--port", virtual_board.port, "--board", "frdm-k64f"),
                          "does not match this board", "--board unix")


def test_board_that_cannot_mount_its_flash_refuses_to_serve(tmp_path):
    """A failed boot must never leave an interpreter serving the host's filesystem."""
    proc = subprocess.run([sys.executable, "-m", "ulearn_host", "board", "serve", "--home", str(tmp_path / "b"),
                           "--heap", "3k"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("ulearn: the virtual board could not mount its flash")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_relative_home_still_serves_the_flash(tmp_path, monkeypatch):
    from conftest import VirtualBoardProcess
    monkeypatch.chdir(tmp_path)
    board = VirtualBoardProcess(Path("relative-home"), flash_size="256k")
    board.home = Path("relative-home")  # as a user would type it
    board.start()
    try:
        with Board(board.port) as b:
            assert b.eval("__import__('os').getcwd()") == "/"
            assert "etc" not in b.eval("__import__('os').listdir('/')")
    finally:
        board.stop()


def test_push_raw_blob_as_is_and_mpy_recompiled(virtual_board, tmp_path):
    from ulearn import blob as fmt
    from ulearn_host.blob import save_model, write_blob
    blob = write_blob(fmt.KIND_FEATURE_SPEC, {"name": "spec"}, {})
    save_model(blob, tmp_path / "m.mpy")  # writes m.mpy and m.ulb
    with Board(virtual_board.port) as b:
        result = push(b, [str(tmp_path / "m.ulb"), str(tmp_path / "m.mpy")], progress=False)
        assert sorted(result.copied) == ["/m.mpy", "/m.ulb"]
        assert b.get("/m.ulb") == blob
        assert b.get("/m.mpy")[:2] == b"M\x06"
