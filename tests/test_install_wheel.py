"""`pip install` of the ulearn wheel works outside a checkout: apps, board profiles and the virtual board's
simulated sensor come with it (from <prefix>/share/ulearn)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import pytest

from ulearn_host import REPO_ROOT


def test_data_files_cover_every_device_subpackage():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {k.removeprefix("share/ulearn/") for k in config}
    wanted = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "lib" / "ulearn").rglob("*")
              if p.is_dir() and p.name != "__pycache__"} | {"lib/ulearn"}
    wanted |= {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "device" / "apps").iterdir() if p.is_dir()}
    assert wanted <= shipped, f"add to [tool.setuptools.data-files]: {sorted(wanted - shipped)}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with only the ulearn wheel; its dependencies come from the project venv (PYTHONPATH)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(REPO_ROOT),
                    "-w", str(tmp / "dist")], check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True, timeout=120)
    wheel = next((tmp / "dist").glob("ulearn-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(tmp / "venv" / "bin" / "python"), "install",
                    "--no-deps", "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"], XDG_CACHE_HOME=str(tmp / "cache"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("ULEARN_PORT", None)
    work = tmp / "work"
    work.mkdir()
    return tmp / "venv" / "bin", env, work


def test_installed_package_pushes_app_with_board_profile_and_runs_it(installed):
    bindir, env, work = installed

    def run(*args, timeout=300):
        return subprocess.run([str(bindir / "ulearn"), *args], capture_output=True, text=True, env=env, cwd=work,
                              timeout=timeout)

    assert "push" in run("--help").stdout
    probe = subprocess.run([str(bindir / "python"), "-c", "import ulearn_host as h; print(h.IN_CHECKOUT, "
                            "h.resource_dir('boards'))"], capture_output=True, text=True, env=env, cwd=work)
    assert probe.stdout.startswith("False ") and str(bindir.parent) in probe.stdout, probe.stdout + probe.stderr
    board = subprocess.Popen([str(bindir / "ulearn"), "board", "serve"], env=env, cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = board.stdout.readline()
        assert line.startswith("virtual board:"), line + board.stderr.read()
        pushed = run("push", "--board", "unix", "-q", "lib", "data_logger")
        assert pushed.returncode == 0, pushed.stderr
        ran = run("run", "data_logger", "seconds=0.5", "quiet=True")
        assert ran.returncode == 0, ran.stdout + ran.stderr
    finally:
        board.terminate()
        board.wait(timeout=10)
    time.sleep(0.1)
