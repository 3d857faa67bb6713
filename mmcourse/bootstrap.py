"""The one bootstrap cell of every notebook, and the repository address, defined once.

``CELL`` is the first code cell of every notebook, character for character; ``mmcourse
sync-bootstrap`` writes it (and the Colab badge built from ``REPO``) into the notebooks,
and a test fails when a notebook's copy differs. The cell cannot import anything from
this package before the package is found, so it is plain text here.

What the cell does:
* in a clone of the repository (``../mmcourse`` beside the notebook's folder) it puts the
  checkout first on ``sys.path``: the notebook uses the code next to it;
* anywhere else (Colab, a notebook copied alone) it installs the package *with* its
  dependencies, once per runtime: when ``mmcourse`` imports at version ``NEEDS`` or newer it
  installs nothing. The package declares lower bounds only, so pip keeps an installed torch
  (Colab's CUDA build) that satisfies them. ``MMCOURSE_PIP_SPEC`` overrides what is
  installed (a fork, a commit, a local path);
* it prints python, torch, the device found and, on Colab without a GPU, how to get one.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = "mmcourse/multimodal-course"  # GitHub owner/name: badges and the default install both use it
NEEDS = "0.2.0"  # the package version the notebooks of this checkout need (mmcourse.__version__)

CELL = f'''# Bootstrap (the same in every notebook; written by `mmcourse sync-bootstrap` from mmcourse/bootstrap.py).
# In a clone of the repository this uses the checkout's mmcourse. Anywhere else (Colab) it installs
# the package with its dependencies once per runtime; pip keeps an installed torch that satisfies the
# package's lower bounds, so Colab's own CUDA torch stays. MMCOURSE_PIP_SPEC overrides what is installed.
import os, subprocess, sys, time
MMCOURSE_REPO, MMCOURSE_NEEDS = "{REPO}", "{NEEDS}"
if os.path.isfile(os.path.join("..", "mmcourse", "__init__.py")):  # a clone: notebooks/ beside mmcourse/
    sys.path.insert(0, os.path.abspath(".."))
else:
    try:
        import mmcourse
        _have = tuple(int(p) for p in mmcourse.__version__.split(".")[:3])
    except (ImportError, ValueError):
        _have = ()
    if _have < tuple(int(p) for p in MMCOURSE_NEEDS.split(".")):
        if "mmcourse" in sys.modules:
            raise RuntimeError("an older mmcourse is loaded: restart the runtime, then run this cell again")
        _spec = os.environ.get("MMCOURSE_PIP_SPEC", f"mmcourse @ git+https://github.com/{{MMCOURSE_REPO}}")
        print(f"installing {{_spec}} with its dependencies (once per runtime, about a minute) ...", flush=True)
        _t0 = time.time()
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _spec], check=True)
        print(f"installed in {{time.time() - _t0:.0f}} s")
import mmcourse
from mmcourse import env
print(env.describe())
'''

BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+?/notebooks/([\w.-]+\.ipynb)")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def badge_url(notebook_name: str) -> str:
    return f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{notebook_name}"


def badge_markdown(notebook_name: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({badge_url(notebook_name)})"


def with_badge(markdown: str, notebook_name: str) -> str:
    """The title cell's markdown with its Colab badge pointing at REPO; a cell without a badge
    gets one under its title (or on top)."""
    if BADGE.search(markdown):
        return BADGE.sub(lambda m: badge_url(notebook_name), markdown)
    lines = markdown.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
    badge = ([""] if at else []) + [badge_markdown(notebook_name)] + ([""] if lines[at:at + 1] != [""] else [])
    return "\n".join(lines[:at] + badge + lines[at:]).rstrip("\n")


def sync(paths, check: bool = False) -> list[Path]:
    """Write CELL into the first code cell and the Colab badge (from REPO) into the first
    markdown cell of each notebook (a notebook without one gets a markdown cell on top).

    Returns the notebooks that differed; with ``check=True`` nothing is written.
    """
    import nbformat

    changed = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code:
            raise ValueError(f"{path}: no code cell to hold the bootstrap")
        first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        badge = with_badge(first_md.source if first_md else "", path.name)
        if code[0].source != CELL or first_md is None or badge != first_md.source:
            changed.append(path)
            if not check:
                code[0].source = CELL
                if first_md is None:
                    nb.cells.insert(0, nbformat.v4.new_markdown_cell(badge))
                else:
                    first_md.source = badge
                nbformat.write(nb, path)
    return changed
