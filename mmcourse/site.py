"""The course as a static website, and a release folder ready to publish.

``build_site(run_dir, out_dir)`` turns an output directory of ``mmcourse run`` (executed
notebooks + summary.json) into HTML that works offline:

* each executed notebook becomes a page, rendered by nbconvert's JupyterLab template; figures
  and audio players stay embedded in the page as data URIs;
* equations become MathML at build time (latex2mathml), so no MathJax is fetched; the
  template's network scripts (require.js, MathJax, mermaid, the widget manager) are left out
  and an interactive widget is replaced by a note (it needs a live kernel); a plotly figure
  draws with plotly.js embedded from the plotly package;
* ``index.html`` lists every notebook with its title, learning goals, run time, device and
  targets table (value, target, reached or not) from summary.json; pages link to the
  previous and next notebook, the index, and the notebook on Colab.

``external_assets(html)`` lists what a page would load from the network; a page with any is
refused. ``build_release(out_dir, run_dir)`` writes the instructor notebooks, student copies
(solutions stripped) and the site into one folder.
"""
from __future__ import annotations

import html as htmllib
import json
import re
import shutil
from pathlib import Path

from .bootstrap import badge_url

TEMPLATES = Path(__file__).resolve().parent / "templates"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_NOTE = ('<p class="site-widget-note"><em>An interactive widget is here when the notebook runs in '
               'Jupyter or Colab; this static page cannot run it.</em></p>')
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)\s]+)\)")
GOALS = re.compile(r"^\*\*Learning goals\*\*[ \t]*\n(.*?)(?:\n[ \t]*\n|\Z)", re.S | re.M)
_OPS = {">=": "≥", "<=": "≤", "==": "="}


class SiteError(ValueError):
    """Bad input for the site or the release: the message names the problem."""


# ---------------------------------------------------------------- reading a run

def load_run(run_dir) -> dict:
    """The run's summary.json, checked; raises SiteError with a clear message otherwise."""
    run = Path(run_dir)
    hint = "run the course first, e.g. `mmcourse run --smoke --out DIR` (or `make course ARGS=\"--smoke\"`)"
    if not run.exists():
        raise SiteError(f"run directory {run} does not exist; {hint}")
    if not run.is_dir():
        raise SiteError(f"{run} is not a directory; pass the output directory of `mmcourse run`")
    path = run / "summary.json"
    if not path.is_file():
        raise SiteError(f"{run} has no summary.json, so it is not an output directory of `mmcourse run`; {hint}")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SiteError(f"{path} is not valid JSON ({exc}); run the course again") from None
    entries = summary.get("notebooks") if isinstance(summary, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SiteError(f"{path} lists no notebooks (no 'notebooks' entries); was it written by `mmcourse run`?")
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise SiteError(f"{path}: every notebook entry needs a 'name'; got {e!r}")
    return summary


def latest_run(root="runs") -> Path:
    """The most recently written run directory under ``root`` (one with a summary.json)."""
    runs = sorted(Path(root).glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SiteError(f"no course run in {root}/ (no {root}/*/summary.json): run the course first, "
                        "e.g. `make course ARGS=\"--smoke\"`, or pass --run DIR")
    return runs[-1].parent


# ---------------------------------------------------------------- markdown with MathML

def _math(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # a macro latex2mathml lacks: show the TeX source rather than fail the page
        return f'<code class="site-tex">{htmllib.escape(tex)}</code>'


def _renderer_class():
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        """nbconvert's markdown renderer, with equations written as MathML instead of for MathJax."""

        def inline_math(self, body):
            return _math(body, display=False)

        def block_math(self, body):
            return _math(body, display=True)

        def latex_environment(self, name, body):
            return _math(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    return MathMLRenderer


def markdown_html(source: str) -> str:
    """Markdown of a notebook cell as HTML, equations as MathML."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    return MarkdownWithMath(renderer=_renderer_class()(escape=False)).render(source)


def _exporter():
    """nbconvert's HTML exporter with the course's template and MathML equations."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer = _renderer_class()

    class SiteExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):  # HTMLExporter's own, with the MathML renderer
            cell = context.get("cell", {})
            md = renderer(escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                          path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                          anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links)
            return MarkdownWithMath(renderer=md).render(source)

    return SiteExporter(template_name="mmcourse_site", extra_template_basedirs=[str(TEMPLATES)], embed_images=True)


# ---------------------------------------------------------------- pages

def notebook_info(nb) -> dict:
    """Title and learning goals (markdown) from a notebook's first markdown cell."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    title = next((ln[2:].strip() for ln in first.splitlines() if ln.startswith("# ")), None)
    goals = GOALS.search(first)
    return {"title": title, "goals": goals.group(1).strip() if goals else ""}


def _plotly_html(figure: dict, first: bool) -> str:
    """A plotly figure as HTML that draws offline: plotly.js (from the plotly package) is embedded
    once per page, with the first figure."""
    try:
        import plotly.io as pio
    except ImportError:
        return "<p><em>An interactive plotly figure is here in Jupyter or Colab (plotly is not installed).</em></p>"
    return pio.to_html(pio.from_json(json.dumps(figure)), include_plotlyjs=first, full_html=False)


def _prepare(nb) -> None:
    """Make an executed notebook static: no Colab badge image, widgets replaced by a note,
    plotly figures drawn by an embedded plotly.js."""
    nb.metadata.pop("widgets", None)
    plotted = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = COLAB_BADGE.sub(r"[Open in Colab](\1)", cell.source)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                out["data"] = {"text/html": WIDGET_NOTE}
            elif PLOTLY in data:
                out["data"] = {"text/html": _plotly_html(data[PLOTLY], first=not plotted)}
                plotted = True


_ASSET_ATTRS = ("src", "href", "data", "poster", "srcset", "background")
_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
_CSS_REMOTE = re.compile(r"""(url\(\s*['"]?\s*(https?:)?//[^)'"]*|@import\s+['"](https?:)?//[^'"]*)""", re.I)
_JS_IMPORT = re.compile(r"""\bimport\(\s*['"](https?:)?//[^'"]*""", re.I)


def external_assets(page: str) -> list[str]:
    """Everything in an HTML page that a browser would fetch from the network: a remote
    src/href/... of any element but a plain link (<a>), a remote url() or @import in CSS, a
    remote import() in a script."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    found = []
    for tag in soup.find_all(True):
        for attr in _ASSET_ATTRS:
            value = tag.get(attr)
            if tag.name == "a" and attr == "href" or not isinstance(value, str):
                continue
            if _REMOTE.match(value):
                found.append(f"<{tag.name} {attr}={value[:120]}>")
        if tag.get("style"):
            found += [m.group(0) for m in _CSS_REMOTE.finditer(tag["style"])]
    for style in soup.find_all("style"):
        found += [m.group(0) for m in _CSS_REMOTE.finditer(style.get_text())]
    for script in soup.find_all("script"):
        found += [m.group(0) for m in _JS_IMPORT.finditer(script.get_text())]
    return found


_DESCRIBED_DEVICE = re.compile(r"\| device (.+?) \| colab")


def _device_of(nb) -> str | None:
    """The device that the bootstrap cell's env.describe() line reports (runs from before
    summary.json recorded device_used)."""
    for cell in nb.cells if nb is not None else []:
        for out in cell.get("outputs", []):
            found = _DESCRIBED_DEVICE.search(str(out.get("text", "")))
            if found:
                return found.group(1)
    return None


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _target(text: str) -> str:
    op, _, number = str(text).partition(" ")
    return f"{_OPS.get(op, op)} {number}".strip()


def _write(path: Path, page: str) -> None:
    bad = external_assets(page)
    if bad:
        raise SiteError(f"{path.name} would load from the network: " + "; ".join(bad[:5]))
    path.write_text(page, encoding="utf-8")


def build_site(run_dir, out_dir, overwrite: bool = False) -> list[Path]:
    """Write index.html and one page per executed notebook of ``run_dir`` into ``out_dir``.

    ``out_dir`` must be empty or absent; with ``overwrite`` the pages of an earlier site there
    are replaced. Returns the written pages, index first.
    """
    import jinja2
    import nbformat
    from markupsafe import Markup

    run, out = Path(run_dir), Path(out_dir)
    summary = load_run(run)
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SiteError(f"{out} is not empty; choose an empty OUT_DIR or pass --overwrite "
                            "(it replaces the pages of an earlier site there)")
        for old in [out / "index.html", *out.glob("[0-9][0-9]*_*.html")]:
            old.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    entries = []
    for e in summary["notebooks"]:
        executed = run / f"{e['name']}.ipynb"
        nb = nbformat.read(executed, as_version=4) if executed.is_file() else None
        info = notebook_info(nb) if nb is not None else {"title": None, "goals": ""}
        results = [{"name": r.get("name", "?"), "value": _fmt(r.get("value")), "target": _target(r.get("target", "")),
                    "passed": bool(r.get("passed"))} for r in e.get("results", [])]
        entries.append({"name": e["name"], "nb": nb, "title": info["title"] or e["name"],
                        "goals": Markup(markdown_html(info["goals"])) if info["goals"] else "",
                        "status": e.get("status", "?"), "error": e.get("error"), "seconds": e.get("seconds"),
                        "results": results, "reached": sum(r["passed"] for r in results),
                        "page": f"{e['name']}.html" if nb is not None else None,
                        "colab": badge_url(f"{e['name']}.ipynb")})

    device = summary.get("device_used") or next(filter(None, (_device_of(e["nb"]) for e in entries)),
                                                summary.get("device", "?"))
    pages = [e for e in entries if e["page"]]
    written = []
    exporter = _exporter()
    for i, e in enumerate(pages):
        _prepare(e["nb"])
        nav = {"index": "index.html", "colab": e["colab"], "title": e["title"],
               "prev": pages[i - 1] if i > 0 else None, "next": pages[i + 1] if i + 1 < len(pages) else None,
               "line": f"{e['status']} in {e['seconds']} s on {device}"}
        page, _ = exporter.from_notebook_node(e["nb"], resources={"site": nav, "metadata": {"name": e["title"]}})
        _write(out / e["page"], page)
        written.append(out / e["page"])

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    index = env.get_template("course_index.html.j2").render(
        summary=summary, entries=entries, device=device, mode="SMOKE" if summary.get("smoke") else "FULL")
    _write(out / "index.html", index)
    return [out / "index.html", *written]


# ---------------------------------------------------------------- release

RELEASE_README = """# Multimodal Learning, hands-on: release

* `site/index.html`: the course as a website (the run `{run}`: executed notebooks, results against
  their targets); it works offline, open it in any browser.
* `student/`: the {n} notebooks for students, exercise solutions removed (an unsolved exercise falls
  back to the course's version with a note, so each still runs to the end).
* `notebooks/`: the same notebooks with solutions, for instructors.
"""

def build_release(out_dir, run_dir, notebooks=None) -> dict:
    """One folder to publish: notebooks/ (instructor copies, unchanged), student/ (solutions
    stripped; every code cell still parses), site/ (from ``run_dir``), summary.json of that run."""
    from .cli import default_notebook_dir, find_notebooks, write_student_copies

    out = Path(out_dir)
    load_run(run_dir)  # a bad run directory fails before anything is written
    if out.exists() and any(out.iterdir()):
        raise SiteError(f"{out} is not empty; a release goes into a new or empty folder")
    books = find_notebooks(Path(notebooks) if notebooks else default_notebook_dir())
    (out / "notebooks").mkdir(parents=True)
    for book in books:
        shutil.copy2(book, out / "notebooks" / book.name)
    student = write_student_copies(books, out / "student")
    pages = build_site(run_dir, out / "site")
    shutil.copy2(Path(run_dir) / "summary.json", out / "site" / "summary.json")
    (out / "README.md").write_text(RELEASE_README.format(run=Path(run_dir).resolve().name, n=len(books)))
    return {"notebooks": len(books), "student": student, "pages": pages}
