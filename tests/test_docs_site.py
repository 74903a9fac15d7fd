"""The docs site: `mkdocs build --strict` succeeds, every page is in the nav, and the pages that
describe a table of the code (CLI commands, boards) cover every entry of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_files(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out.extend(_nav_files(value) if isinstance(value, list) else [value])
    return out


def _config() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs: run `make setup`")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: run `make setup`")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = {p.relative_to(site).as_posix() for p in site.rglob("index.html")}
    for md in DOCS.rglob("*.md"):
        rel = md.relative_to(DOCS).with_suffix("")
        html = "index.html" if rel.name == "index" else f"{rel.as_posix()}/index.html"
        assert html in pages, f"{md} was not rendered"
    index = (site / "index.html").read_text()
    assert "Getting started" in index


def test_every_page_is_in_the_nav():
    nav = set(_nav_files(_config()["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), f"add these pages to `nav` in mkdocs.yml: {sorted(pages - nav)}"
    assert nav - pages == set(), f"mkdocs.yml names missing pages: {sorted(nav - pages)}"


def test_cli_page_covers_every_command():
    from ulearn_host.cli import COMMANDS

    text = (DOCS / "cli.md").read_text()
    headings = set(re.findall(r"^## `ulearn ([\w-]+)", text, flags=re.M))
    assert set(COMMANDS) - headings == set(), f"docs/cli.md has no section for {sorted(set(COMMANDS) - headings)}"


def test_boards_page_covers_every_profile():
    text = (DOCS / "boards.md").read_text()
    for f in sorted((ROOT / "boards").glob("*.json")):
        name = json.loads(f.read_text())["name"]
        assert f"`{name}`" in text, f"docs/boards.md does not describe boards/{f.name}"


def test_blob_page_matches_the_format_module():
    from ulearn import blob as fmt

    text = (DOCS / "blob-format.md").read_text()
    assert f"`{fmt.MAGIC.decode()}`" in text and f"{fmt.HEADER_SIZE} bytes" in text
    for kind, name in fmt.KIND_NAMES.items():
        assert re.search(rf"\|\s*{kind}\s*\|\s*`{name}`", text), f"kind {kind} ({name}) missing from the table"
