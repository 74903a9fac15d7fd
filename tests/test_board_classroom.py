"""A classroom: `ulearn board serve --count N`, then `ulearn push --all` / `info --all` in parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ulearn_host.board import Board
from ulearn_host.board.virtual import BackgroundBoard


@pytest.fixture
def classroom(tmp_path):
    """Three virtual boards in one `board serve --count 3`, registered under a private cache dir."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    board = BackgroundBoard(tmp_path / "class", flash_size="512k", count=3, env=env).start()
    yield env, board.ports
    board.stop()


def ulearn(env, *args):
    return subprocess.run([sys.executable, "-m", "ulearn_host", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_push_all_deploys_to_every_board(classroom):
    env, ports = classroom
    out = ulearn(env, "push", "--all")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" ok ") == 3, out.stdout
    for port in ports:
        with Board(port) as b:
            assert b.eval("__import__('ulearn').__version__")
    info = ulearn(env, "info", "--all", "--json")
    lines = [json.loads(x) for x in info.stdout.splitlines()]
    assert sorted(i["port"] for i in lines) == sorted(ports)
    assert all(i["ulearn"] for i in lines)


def test_one_failing_board_does_not_stop_the_others(classroom, tmp_path):
    env, ports = classroom
    master, slave = os.openpty()  # a registered "board" that never answers
    try:
        import tty
        tty.setraw(slave)
        registry = tmp_path / "cache" / "ulearn" / "ports"
        (registry / "deadboard.json").write_text(json.dumps({"port": os.ttyname(slave), "pid": os.getpid(),
                                                             "home": "dead"}))
        out = ulearn(env, "push", "--all", "--timeout", "2")
        assert out.returncode != 0
        assert out.stdout.count(" ok ") == 3 and "FAILED" in out.stdout, out.stdout
        assert out.stderr.strip().startswith("ulearn: push failed on 1 of 4 boards")
    finally:
        os.close(master)
        os.close(slave)
