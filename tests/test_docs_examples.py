"""Every code example in docs/ and README.md runs: the marker in front of each ```console / ```python block says how.

Writing runnable docs
---------------------
Put an HTML comment (invisible on the site) on the line before the opening fence:

    <!-- test: run -->             run the block
    <!-- test: run board -->       run it with a virtual board up at the default place, so `ulearn`
                                   commands find it without --port (`ulearn board serve` as the page
                                   tells the reader; the test starts one for the page and stops it after)
    <!-- test: run micropython --> python block: run it in MicroPython (unix port, lib/ulearn on the path)
    <!-- test: run fails -->       console block whose last command must fail (shows an error)
    <!-- test: skip REASON -->     not run, and REASON says why (runs forever, needs a real board ...)

Every ```console and ```python block needs one of these: an unmarked block fails this test.

Blocks of one page run in order in one scratch folder (files made by one block are there for the
next), with the repository's .venv/bin first on PATH and its sources on PYTHONPATH, XDG_CACHE_HOME
inside the scratch folder and a headless matplotlib. ```python blocks share one namespace per page;
a block with `>>>` prompts runs as a doctest (ELLIPSIS and NORMALIZE_WHITESPACE on). In ```console
blocks each `$ command` runs in bash; the lines after it are its expected output: each must appear,
in order, among the lines the command printed (stdout and stderr), where `...` inside a line matches
anything and a line that is only `...` stands for output left out. Every command must exit 0, except
with `<!-- test: run fails -->`: then the block's last command must fail (for examples that show an
error message).
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LANGS = ("console", "python")
MARKER = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^```\s*([\w-]*)")
RUN_OPTIONS = {"board", "micropython", "fails"}


@dataclass
class Example:
    page: str
    line: int
    lang: str
    code: str
    action: str = ""            # "run" or "skip"
    options: set[str] = field(default_factory=set)
    reason: str = ""

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def parse_examples(text: str, page: str) -> list[Example]:
    """The fenced blocks of a Markdown page with the marker (if any) on the line before each."""
    out: list[Example] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if lang in LANGS:
            ex = Example(page, start + 1, lang, "\n".join(lines[start + 1:j]) + "\n")
            prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            mark = MARKER.match(prev.strip())
            if mark:
                words = mark.group(1).split()
                ex.action = words[0] if words else ""
                if ex.action == "run":
                    ex.options = set(words[1:])
                else:
                    ex.reason = " ".join(words[1:])
            out.append(ex)
        i = j + 1
    return out


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _all_examples() -> list[Example]:
    return [ex for p in _pages() for ex in parse_examples(p.read_text(), str(p.relative_to(ROOT)))]


def test_every_example_is_marked():
    problems = []
    for ex in _all_examples():
        if ex.action not in ("run", "skip"):
            problems.append(f"{ex.where}: ```{ex.lang} block without <!-- test: run --> or <!-- test: skip REASON -->")
        elif ex.action == "skip" and not ex.reason:
            problems.append(f"{ex.where}: <!-- test: skip --> needs a reason")
        elif ex.options - RUN_OPTIONS:
            problems.append(f"{ex.where}: unknown option(s) {sorted(ex.options - RUN_OPTIONS)}")
        elif "micropython" in ex.options and ex.lang != "python":
            problems.append(f"{ex.where}: only ```python blocks can run in MicroPython")
        elif "fails" in ex.options and ex.lang != "console":
            problems.append(f"{ex.where}: only ```console blocks can be marked `fails`")
    assert not problems, "\n".join(problems)


def test_parser_and_matcher_on_a_sample():
    text = ("# t\n<!-- test: run board -->\n```console\n$ echo hi\nhi\n```\n\n```python\nx = 1\n```\n"
            "<!-- test: skip needs a real board -->\n\n```python\ny\n```\n```text\nnot code\n```\n")
    a, b, c = parse_examples(text, "t.md")
    assert (a.lang, a.action, a.options, a.line, a.code) == ("console", "run", {"board"}, 3, "$ echo hi\nhi\n")
    assert b.action == "" and (c.action, c.reason) == ("skip", "needs a real board")
    assert _missing(["a", "...", "c ... e"], ["a", "b", "c d e"]) is None
    assert _missing(["c", "a"], ["a", "b", "c"]) == "a"


def _line_regex(expected: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part.strip()) for part in expected.split("...")) + r"\s*$")


def _missing(expected: list[str], actual: list[str]) -> str | None:
    """The first expected line not found (in order) among the actual lines, or None."""
    pos = 0
    for exp in expected:
        if exp.strip() in ("", "..."):
            continue
        rx = _line_regex(exp)
        while pos < len(actual) and not rx.match(actual[pos].strip()):
            pos += 1
        if pos == len(actual):
            return exp
        pos += 1
    return None


def _console_commands(code: str) -> list[tuple[str, list[str]]]:
    cmds: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            cmds.append((line[2:], []))
        elif cmds:
            cmds[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console block starts with output, not a `$ command`: {line!r}")
    return cmds


def _run_console(ex: Example, cwd: Path, env: dict) -> None:
    commands = _console_commands(ex.code)
    for n, (cmd, expected) in enumerate(commands, 1):
        proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        output = proc.stdout + proc.stderr
        should_fail = "fails" in ex.options and n == len(commands)
        assert (proc.returncode != 0) == should_fail, (
            f"{ex.where}: `{cmd}` exited {proc.returncode}"
            f"{' (marked `fails`, so it should)' if should_fail else ''}:\n{output}")
        miss = _missing(expected, output.splitlines())
        assert miss is None, f"{ex.where}: `{cmd}` did not print {miss!r}; it printed:\n{output}"


def _run_python(ex: Example, namespace: dict) -> None:
    if any(line.lstrip().startswith(">>> ") for line in ex.code.splitlines()):
        test = doctest.DocTestParser().get_doctest(ex.code, namespace, ex.where, ex.page, ex.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, f"{ex.where}: doctest failed\n{''.join(report)}"
    else:
        exec(compile(ex.code, ex.where, "exec"), namespace)


def _run_micropython(ex: Example, cwd: Path) -> None:
    from ulearn_host import unixport

    result = unixport.run(ex.code, cwd=cwd, check=False, timeout=120)
    assert result.ok, f"{ex.where}: MicroPython failed:\n{result.stdout}{result.stderr}"


_RUNNABLE = sorted({ex.page for ex in _all_examples() if ex.action == "run"})


@pytest.mark.parametrize("page", _RUNNABLE)
def test_docs_examples_run(page, tmp_path, monkeypatch):
    examples = [ex for ex in parse_examples((ROOT / page).read_text(), page) if ex.action == "run"]
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "cache"
    env = dict(os.environ)
    env.pop("ULEARN_PORT", None)
    env.update(PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
               XDG_CACHE_HOME=str(cache), MPLBACKEND="Agg", COLUMNS="100",
               PYTHONPATH=os.pathsep.join([str(ROOT / "host_tools"), str(ROOT / "lib")]))
    for key in ("XDG_CACHE_HOME", "MPLBACKEND"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("ULEARN_PORT", raising=False)
    monkeypatch.chdir(work)
    board = None
    namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
    try:
        for ex in examples:
            if "board" in ex.options and board is None:
                from conftest import VirtualBoardProcess

                from ulearn_host.board.virtual import default_home

                board = VirtualBoardProcess(default_home()).start()
            if ex.lang == "console":
                _run_console(ex, work, env)
            elif "micropython" in ex.options:
                _run_micropython(ex, work)
            else:
                _run_python(ex, namespace)
    finally:
        if board is not None:
            board.stop()
