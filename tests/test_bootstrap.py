"""The one bootstrap cell: identical everywhere, finds a clone's package, installs elsewhere."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import mmcourse
from mmcourse import bootstrap

ROOT = Path(__file__).resolve().parent.parent


def test_every_notebook_has_the_shared_bootstrap():
    books = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert books and bootstrap.sync(books, check=True) == [], "run `mmcourse sync-bootstrap`"


def test_repository_address_is_written_once():
    """A fork changes one line, bootstrap.REPO: no other tracked file spells the address, except
    the notebooks' bootstrap cell and Colab badge, which sync-bootstrap writes from it (checked above)."""
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    owner_name = bootstrap.REPO.lower()
    spelled = []
    for name in filter(None, tracked.decode().split("\0")):
        path = ROOT / name
        if name == "mmcourse/bootstrap.py" or not path.is_file():
            continue
        if path.suffix == ".ipynb":
            cells = nbformat.read(path, as_version=4).cells
            text = "\n".join(c.source for c in cells if c.source != bootstrap.CELL).replace(
                bootstrap.badge_url(path.name), "")
        else:
            text = path.read_text(errors="ignore")
        if owner_name in text.lower():
            spelled.append(name)
    assert not spelled, f"the repository address is spelled out in {spelled}; use mmcourse.bootstrap.REPO"


def test_version_is_defined_once_and_torch_has_lower_bounds():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert bootstrap.NEEDS == mmcourse.__version__
    assert "==" not in " ".join(d for d in meta["dependencies"] if d.startswith("torch")), \
        "the package declares lower bounds for torch; exact versions belong in constraints.txt"


def run_cell(cwd, **env):
    import os
    e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", bootstrap.CELL], cwd=cwd, capture_output=True, text=True, env=e)


def test_in_a_clone_the_cell_uses_the_checkout_and_installs_nothing():
    proc = run_cell(ROOT / "notebooks")
    assert proc.returncode == 0, proc.stderr
    assert "installing" not in proc.stdout and "torch" in proc.stdout and "device" in proc.stdout


def test_elsewhere_with_the_package_installed_it_installs_nothing(tmp_path):
    # this environment has mmcourse installed (editable): a notebook alone in a folder finds it
    proc = run_cell(tmp_path, MMCOURSE_PIP_SPEC="/nonexistent/should-not-be-installed")
    assert proc.returncode == 0, proc.stderr
    assert "installing" not in proc.stdout


def test_sync_writes_the_cell_and_the_badge_and_is_idempotent(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 x\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                                      "(https://colab.research.google.com/github/someone/else/blob/main/notebooks/99_x.ipynb)"),
        nbformat.v4.new_code_cell("import mmcourse  # old bootstrap"),
        nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "99_x.ipynb"
    nbformat.write(nb, path)
    assert bootstrap.sync([path], check=True) == [path]
    assert bootstrap.sync([path]) == [path]
    again = nbformat.read(path, as_version=4)
    assert again.cells[1].source == bootstrap.CELL and again.cells[2].source == "x = 1"
    assert bootstrap.badge_url("99_x.ipynb") in again.cells[0].source
    assert bootstrap.sync([path]) == []


def test_sync_gives_a_notebook_without_a_badge_one_under_its_title(tmp_path):
    path = tmp_path / "09_new.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · New\n\nIntro."),
                                                   nbformat.v4.new_code_cell(bootstrap.CELL)]), path)
    assert bootstrap.sync([path], check=True) == [path]
    bootstrap.sync([path])
    title = nbformat.read(path, as_version=4).cells[0].source
    assert title == f"# 09 · New\n\n{bootstrap.badge_markdown('09_new.ipynb')}\n\nIntro."
    assert bootstrap.sync([path], check=True) == []
