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
    assert summary["smoke"] is True and summary["parameters"]["N_SCENES"] == 200 and summary["device_used"] == "cpu"
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


# ---------------------------------------------------------------- -p checked against the parameters cell
def _book(folder, name, parameters_source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(parameters_source, metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("raise RuntimeError('this notebook must not run')")])
    nbformat.write(nb, folder / name)
    return folder / name


def test_notebook_parameters_reads_literals_without_running_anything(tmp_path):
    book = _book(tmp_path, "01_x.ipynb", "SMOKE = False\nN: int = 3\nLR = 2e-3\nNAME = 'a'\nSIZES = [1, 2]\n"
                                          "OUT = None\nSTEPS = 2 ** 10\nimport os\nA, B = 1, 2\nC = D = 0.5\n")
    params = cli.notebook_parameters(book)
    assert {k: v for k, v in params.items() if v is not cli._NOT_A_LITERAL} == {
        "SMOKE": False, "N": 3, "LR": 2e-3, "NAME": "a", "SIZES": [1, 2], "OUT": None, "C": 0.5, "D": 0.5}
    assert params["STEPS"] is cli._NOT_A_LITERAL  # an expression: never evaluated, any value accepted
    assert "os" not in params and "A" not in params  # imports and tuple unpacking are not parameters
    assert cli.notebook_parameters(NOTEBOOKS / "01_modalities.ipynb")["N_SCENES"] == 4000


@pytest.mark.parametrize("name, value, message", [
    ("N_SCENES", "'abc'", r"-p N_SCENES 'abc': 01_modalities.ipynb expects int \(its default is 4000\), got str"),
    ("N_SCENES", "abc", "01_modalities.ipynb expects int"),  # plain text is a string too
    ("N_SCENES", "2.5", "expects int.*got float"),
    ("N_SCENES", "True", "expects int.*got bool"),
    ("NO_SUCH_NAME", "1", "-p NO_SUCH_NAME: no parameter of that name in the parameters cell of 01_modalities"
                          ".ipynb; valid names: .*N_SCENES"),
    ("SEED", "3", "--seed"),
])
def test_run_refuses_a_parameter_the_notebook_does_not_have_before_running(tmp_path, name, value, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=message):
        cli.main(["run", "--only", "01", "--out", str(out), "--device", "cpu", "-p", name, value])
    assert not out.exists()  # refused before the output folder (let alone a kernel) was made


def test_parameter_types_follow_the_defaults(tmp_path):
    book = _book(tmp_path, "01_x.ipynb", "OUT_FLAG = False\nN = 3\nLR = 2e-3\nNAME = 'a'\nOUT = None\nSTEPS = 2 ** 10\n")
    ok = {"N": 5, "LR": 1, "NAME": "b", "OUT": "anything", "STEPS": "anything"}  # int for float is fine
    cli.check_parameters([book], ok)
    for bad in ({"N": 5.0}, {"LR": "0.1"}, {"NAME": 3}, {"OUT_FLAG": 1}):
        with pytest.raises(SystemExit, match=f"-p {next(iter(bad))}.*01_x.ipynb expects"):
            cli.check_parameters([book], bad)


def test_a_parameter_of_one_notebook_passes_when_several_run(tmp_path):
    """`mmcourse run -p N_SCENES 2000` (README) runs every notebook: N_SCENES is notebook 01's,
    and is checked against 01's default; a name no notebook of the run has is still refused."""
    books = [_book(tmp_path, "01_a.ipynb", "N_SCENES = 4000\n"), _book(tmp_path, "02_b.ipynb", "N_FFT = 512\n")]
    cli.check_parameters(books, {"N_SCENES": 2000, "N_FFT": 256})
    with pytest.raises(SystemExit, match="01_a.ipynb expects int"):
        cli.check_parameters(books, {"N_SCENES": "many"})
    with pytest.raises(SystemExit, match="01_a.ipynb, 02_b.ipynb; valid names: N_FFT, N_SCENES"):
        cli.check_parameters(books, {"N_SCEENS": 2000})
    with pytest.raises(SystemExit, match="cannot read|parameters cell .* does not parse"):
        cli.check_parameters([_book(tmp_path, "03_c.ipynb", "N = (\n")], {"N": 1})
