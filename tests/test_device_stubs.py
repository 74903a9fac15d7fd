"""The .pyi stubs name what the device modules really define (so editors complete the real API)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "ulearn"


def _names(tree: ast.Module) -> set[str]:
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


@pytest.mark.parametrize("stub", sorted(LIB.rglob("*.pyi")), ids=lambda p: str(p.relative_to(LIB)))
def test_stub_matches_module(stub):
    module = stub.with_suffix(".py")
    assert module.exists(), f"{stub} has no module"
    stub_names = {n for n in _names(ast.parse(stub.read_text())) if not n.startswith("_")}
    real = _names(ast.parse(module.read_text()))
    protocol_only = {"Model", "TrainableModel"}  # typing helpers that describe what load() returns
    missing = stub_names - real - protocol_only
    assert not missing, f"{stub.name} declares names the module lacks: {sorted(missing)}"
