"""Every notebook follows the conventions of DESIGN.md."""
import ast
import json
from pathlib import Path

import pytest

from mmcourse.bootstrap import CELL, badge_url

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_conventions(path):
    nb = json.loads(path.read_text())  # valid JSON
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    cells = nb["cells"]
    if (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5):  # cell ids are required from 4.5 on
        ids = [c.get("id") for c in cells]
        assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique id (nbformat 4.5)"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "committed outputs"
    params = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    p = cells[params[0]]
    src = "".join(p["source"])
    for name in ("SMOKE", "SEED", "DEVICE"):
        assert f"{name} =" in src, f"parameters cell lacks {name}"
    after = "".join(cells[params[0] + 1]["source"])
    assert "smoke_mode(SMOKE)" in after, "the cell after parameters must honour MMCOURSE_SMOKE"
    assert "".join(code[0]["source"]) == CELL, "the bootstrap differs from mmcourse/bootstrap.py: run `mmcourse sync-bootstrap`"
    assert "Open In Colab" in "".join(cells[0]["source"]) and badge_url(path.name) in "".join(cells[0]["source"])
    for c in code:
        ast.parse("".join(c["source"]))
    for i, c in enumerate(cells):  # e.g. "\f" of "\frac" written in a non-raw string becomes a form feed
        bad = sorted({hex(ord(ch)) for ch in "".join(c["source"]) if ord(ch) < 32 and ch not in "\n\t"})
        assert not bad, f"cell {i} holds control characters {bad} (a LaTeX backslash lost in a generator?)"
    assert "R.finish()" in "".join(code[-1]["source"]), "the last cell enforces the targets"
