"""Other install paths: `mpremote mip install ./package.json` and the CircuitPython bundle."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from ulearn_host import REPO_ROOT
from ulearn_host.board import Board
from ulearn_host.packaging import circuitpython_bundle, device_sources, mip_package

MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def test_committed_package_json_lists_the_device_package():
    committed = json.loads((REPO_ROOT / "package.json").read_text())
    assert committed == mip_package(), "package.json is stale: run `make package` and commit it"


def test_mip_install_from_local_path_on_the_virtual_board(tmp_path):
    from conftest import VirtualBoardProcess
    board = VirtualBoardProcess(tmp_path / "board", flash_size="2M").start()
    try:
        _mip_install_and_import(board)
    finally:
        board.stop()


def _mip_install_and_import(fresh_board):
    proc = subprocess.run([MPREMOTE, "connect", fresh_board.port, "mip", "install", "--target", "/lib",
                           "./package.json"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Board(fresh_board.port) as b:
        import ulearn
        assert b.eval("__import__('ulearn').__version__") == ulearn.__version__
        assert len(b.walk("/lib/ulearn")) == len(device_sources())


def test_circuitpython_bundle_has_lib_layout(tmp_path):
    archive = circuitpython_bundle(tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert any(n.endswith("/lib/ulearn/__init__.py") for n in names)
    assert not any(n.endswith(".mpy") for n in names)
    assert len([n for n in names if "/lib/ulearn/" in n]) == len(device_sources())
