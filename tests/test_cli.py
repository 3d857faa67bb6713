"""The course runner, exercised through papermill on notebook 01 in SMOKE mode."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mmcourse import cli

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "mmcourse", *args], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def test_runner_executes_notebook_01_and_writes_a_summary(tmp_path):
    out = tmp_path / "run"
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    proc = run_cli("run", "--smoke", "--only", "01", "--out", str(out), "--device", "cpu", "--seed", "1",
                   "-p", "N_SCENES", "200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/1] 01_modalities ... ok" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke"] is True and summary["parameters"]["N_SCENES"] == 200
    (entry,) = summary["notebooks"]
    assert entry["name"] == "01_modalities" and entry["status"] == "ok" and entry["seconds"] > 0
    names = [r["name"] for r in entry["results"]]
    assert "skip-gram: cosine of same-kind minus different-kind word pairs" in names  # notebook 01's result names
    for r in entry["results"]:
        assert set(r) == {"name", "value", "target", "passed"} and isinstance(r["value"], (int, float))
    assert "01_modalities" in (out / "summary.md").read_text()
    executed = nbformat.read(out / "01_modalities.ipynb", as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the runner wrote into notebooks/"
    # a second run into the same directory is refused rather than overwriting it
    again = run_cli("run", "--smoke", "--only", "01", "--out", str(out))
    assert again.returncode != 0 and "earlier run" in again.stderr


def test_runner_reports_a_failing_notebook_and_continues(tmp_path):
    books = tmp_path / "nbs"
    books.mkdir()
    for name, source in [("01_bad.ipynb", "raise RuntimeError('boom')"), ("02_good.ipynb", "x = 1")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                                             nbformat.v4.new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, books / name)
    proc = run_cli("run", "--notebooks", str(books), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    status = {e["name"]: e for e in summary["notebooks"]}
    assert status["01_bad"]["status"] == "failed" and status["01_bad"]["error"] == "RuntimeError: boom"
    assert status["02_good"]["status"] == "ok"


def test_bad_arguments_are_clear(tmp_path):
    proc = run_cli("run", "--only", "99")
    assert proc.returncode != 0 and "matches no notebook" in proc.stderr and "01" in proc.stderr
    proc = run_cli("run", "--device", "tpu", "--out", str(tmp_path / "x"))
    assert proc.returncode != 0 and "valid choices" in proc.stderr


def test_parse_value_is_literal_only():
    assert cli.parse_value("3") == 3 and cli.parse_value("0.5") == 0.5 and cli.parse_value("True") is True
    assert cli.parse_value("[1, 2]") == [1, 2]
    assert cli.parse_value("__import__('os')") == "__import__('os')"  # never evaluated


def test_strip_solutions_keeps_cells_parsing(tmp_path):
    src = "x = 1\n# BEGIN SOLUTION\ny = x + 1\n# END SOLUTION\nprint(y)\n"
    stripped = cli.strip_solutions(src)
    assert "y = x + 1" not in stripped and "NotImplementedError" in stripped and "print(y)" in stripped
    assert cli.main(["strip-solutions", str(NOTEBOOKS), str(tmp_path / "student")]) == 0
    student = nbformat.read(tmp_path / "student" / "01_modalities.ipynb", as_version=4)
    assert not any("# BEGIN SOLUTION" in c.source for c in student.cells)


@pytest.mark.parametrize("prefixes, expected", [("01", ["01_modalities.ipynb"])])
def test_find_notebooks(prefixes, expected):
    assert [p.name for p in cli.find_notebooks(NOTEBOOKS, prefixes)] == expected
