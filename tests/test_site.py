"""The course site and the release, built from a tiny fake run (no notebook is executed)."""
import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mmcourse import bootstrap, site
from mmcourse.results import MIME

pytest.importorskip("nbconvert")
pytest.importorskip("latex2mathml")
ROOT = Path(__file__).resolve().parent.parent


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_notebook(name: str, title: str) -> nbformat.NotebookNode:
    """An executed notebook as the runner leaves it: a badge, goals with an equation, a figure,
    an audio player, a widget, a recorded result."""
    from IPython.display import Audio

    v4 = nbformat.v4
    audio = Audio(np.sin(np.linspace(0, 400, 800)), rate=8000)._repr_html_()
    result = {"name": "accuracy", "value": 0.9, "target": 0.8, "op": ">=", "passed": True, "enforced": False}
    cells = [
        v4.new_markdown_cell(f"# {title}\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                             f"({bootstrap.badge_url(name + '.ipynb')})\n\nIntro.\n\n**Learning goals**\n"
                             "1. Read $x^2 + y^2$ aloud.\n2. Listen.\n\nThere are exercises."),
        v4.new_code_cell("print('hi')", outputs=[v4.new_output(
            "stream", name="stdout", text="python 3.11 | torch 2.11 | device cpu | colab False | smoke True\n")]),
        v4.new_markdown_cell("The energy is $$E = \\sum_t x_t^2.$$"),
        v4.new_code_cell("plot()", outputs=[v4.new_output("display_data", data={
            "image/png": base64.b64encode(png_bytes()).decode(), "text/plain": "<Figure>"})]),
        v4.new_code_cell("display(Audio(...))", outputs=[v4.new_output("display_data", data={
            "text/html": audio, "text/plain": "<Audio>"})]),
        v4.new_code_cell("display(slider)", outputs=[v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "IntSlider(value=1)"})]),
        v4.new_code_cell("R.check(...)", outputs=[v4.new_output("display_data", data={
            MIME: result, "text/plain": "[PASS] accuracy: 0.9 >= 0.8"})]),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                          "version_minor": 0}}
    return nb


def make_fake_run(run: Path) -> Path:
    """A run directory as `mmcourse run` leaves it: two executed notebooks and one that failed."""
    run.mkdir(parents=True)
    entries = []
    for name, title in [("01_first", "01 · First things"), ("02_second", "02 · Second things")]:
        nbformat.write(fake_notebook(name, title), run / f"{name}.ipynb")
        entries.append({"name": name, "status": "ok", "seconds": 12.5,
                        "results": [{"name": "accuracy", "value": 0.9, "target": ">= 0.8", "passed": True},
                                    {"name": "recall", "value": 0.1234567, "target": ">= 0.5", "passed": False}]})
    # a notebook that failed before papermill wrote anything: listed, without a page
    entries.append({"name": "03_broken", "status": "failed", "seconds": 0.4, "results": [],
                    "error": "RuntimeError: boom"})
    (run / "summary.json").write_text(json.dumps({"started": "2030-01-01T10:00:00", "smoke": True, "device": "auto",
                                                  "device_used": "cpu", "seed": 0, "notebooks": entries}))
    return run


@pytest.fixture
def run_dir(tmp_path):
    return make_fake_run(tmp_path / "run")


def test_site_has_an_index_and_a_page_per_executed_notebook(run_dir, tmp_path):
    pages = site.build_site(run_dir, tmp_path / "site")
    assert [p.name for p in pages] == ["index.html", "01_first.html", "02_second.html"]
    index = (tmp_path / "site" / "index.html").read_text()
    for text in ("01 · First things", "02 · Second things", "03_broken", "RuntimeError: boom", "12.5", "device cpu",
                 "SMOKE", "Read", "<math", "0.1235", "≥ 0.8", "not reached (SMOKE)", 'href="01_first.html"',
                 bootstrap.badge_url("02_second.ipynb")):
        assert text in index, text
    assert 'href="03_broken.html"' not in index
    first = (tmp_path / "site" / "01_first.html").read_text()
    assert "data:image/png;base64," in first and "<audio" in first and "data:audio/wav;base64," in first
    assert "<math" in first and "$$" not in first  # equations as MathML, no MathJax
    assert nav(first) == {"next": "02_second.html", "index": "index.html", "colab": bootstrap.badge_url("01_first.ipynb")}
    assert "interactive widget" in first and "widget-state" not in first
    second = (tmp_path / "site" / "02_second.html").read_text()
    assert nav(second) == {"prev": "01_first.html", "index": "index.html",
                           "colab": bootstrap.badge_url("02_second.ipynb")}


def nav(page: str) -> dict:
    """The top navigation bar's links: prev/next by rel, the index, Colab."""
    from bs4 import BeautifulSoup

    bar = BeautifulSoup(page, "html.parser").select_one("nav.site-nav")
    links = {}
    for a in bar.find_all("a"):
        key = (a.get("rel") or [None])[0] or ("colab" if "colab" in a["href"] else "index")
        links[key] = a["href"]
    return links


def test_no_page_loads_anything_from_the_network(run_dir, tmp_path):
    for page in site.build_site(run_dir, tmp_path / "site"):
        html = page.read_text()
        assert site.external_assets(html) == [], page.name
        assert "colab-badge.svg" not in html and "cdnjs" not in html and "require.js" not in html


def test_external_assets_finds_remote_loads_but_not_links():
    page = """<html><head><script src="https://cdn.example/x.js"></script><link rel=stylesheet href="//cdn.example/a.css">
    <style>@import 'https://fonts.example/f.css'; body { background: url(http://x.example/b.png) }</style>
    <script type="module">await import("https://cdn.example/m.mjs")</script></head>
    <body><a href="https://example.org/ok">a link is fine</a><img src="data:image/png;base64,AAAA">
    <img src="https://x.example/i.png"><audio src="local.wav"></audio></body></html>"""
    found = site.external_assets(page)
    assert len(found) == 6, found
    assert not any("example.org/ok" in f or "data:" in f or "local.wav" in f for f in found)


def test_goals_and_title_come_from_the_first_markdown_cell():
    info = site.notebook_info(fake_notebook("01_first", "01 · First"))
    assert info["title"] == "01 · First"
    assert info["goals"].startswith("1. Read") and "There are exercises" not in info["goals"]


@pytest.mark.parametrize("make, message", [
    (lambda run: None, "does not exist"),
    (lambda run: run.mkdir(), "no summary.json"),
    (lambda run: (run.mkdir(), (run / "summary.json").write_text("{not json")), "not valid JSON"),
    (lambda run: (run.mkdir(), (run / "summary.json").write_text('{"notebooks": []}')), "lists no notebooks"),
])
def test_bad_run_directories_get_clear_errors(tmp_path, make, message):
    run = tmp_path / "run"
    make(run)
    with pytest.raises(site.SiteError, match=message):
        site.build_site(run, tmp_path / "site")


def test_an_occupied_out_dir_needs_overwrite(run_dir, tmp_path):
    out = tmp_path / "site"
    site.build_site(run_dir, out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(site.SiteError, match="not empty"):
        site.build_site(run_dir, out)
    site.build_site(run_dir, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "index.html").exists()


def test_cli_site_and_its_errors(run_dir, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mmcourse", *args], capture_output=True, text=True, cwd=tmp_path,
                              stdin=subprocess.DEVNULL)

    proc = cli("site", str(run_dir), str(tmp_path / "site"))
    assert proc.returncode == 0 and "3 pages" in proc.stdout, proc.stdout + proc.stderr
    proc = cli("site", str(tmp_path / "missing"), str(tmp_path / "other"))
    assert proc.returncode != 0 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("release", str(tmp_path / "rel"))  # no runs/ here
    assert proc.returncode != 0 and "no course run" in proc.stderr and "Traceback" not in proc.stderr


def test_release_has_instructor_and_student_copies_and_the_site(run_dir, tmp_path):
    made = site.build_release(tmp_path / "rel", run_dir)
    rel = tmp_path / "rel"
    books = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert sorted(p.name for p in (rel / "notebooks").iterdir()) == books
    assert sorted(p.name for p in (rel / "student").iterdir()) == books and made["notebooks"] == len(books)
    for name in books:
        assert (rel / "notebooks" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
        student = (rel / "student" / name).read_text()
        assert "# BEGIN SOLUTION" not in student and "NotImplementedError" in student
    assert (rel / "site" / "index.html").exists() and (rel / "site" / "summary.json").exists()
    assert "student/" in (rel / "README.md").read_text()
    with pytest.raises(site.SiteError, match="not empty"):
        site.build_release(rel, run_dir)


def test_plotly_figures_draw_offline_with_one_embedded_plotly_js(tmp_path):
    go = pytest.importorskip("plotly.graph_objects")
    run = make_fake_run(tmp_path / "run")
    nb = nbformat.read(run / "01_first.ipynb", as_version=4)
    for y in ([1, 3], [2, 1]):
        figure = json.loads(go.Figure(go.Scatter(x=[1, 2], y=y)).to_json())
        nb.cells.append(nbformat.v4.new_code_cell("fig.show()", outputs=[nbformat.v4.new_output(
            "display_data", data={"application/vnd.plotly.v1+json": figure, "text/plain": ""})]))
    nbformat.write(nb, run / "01_first.ipynb")
    site.build_site(run, tmp_path / "site")
    page = (tmp_path / "site" / "01_first.html").read_text()
    assert page.count('class="plotly-graph-div"') == 2 and page.count("Plotly.newPlot") >= 2
    assert page.count("plotly.js v") == 1, "plotly.js is embedded once per page"  # its licence header
    assert site.external_assets(page) == []
