"""The course site in a real browser: headless Chromium opens the index and every notebook page.

Each page must load every image (non-zero natural size), have an audio player with a known
duration wherever the notebook played a sound, log no console error and fetch nothing from
the network; a screenshot of each page is saved.

Without settings this checks the site of the tiny fake run of test_site.py (a few seconds) and
is skipped where Debian's chromium and chromium-driver are not installed. `make site-test`
runs it on a real SMOKE run: MMCOURSE_SITE_RUN names the run, MMCOURSE_SITE_DIR its site
(built by `mmcourse site`), MMCOURSE_SITE_SHOTS where the screenshots go; then a missing
browser is an error, not a skip.
"""
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from mmcourse import site

RUN = os.environ.get("MMCOURSE_SITE_RUN")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# a closed network: without the background-networking flags Chromium's own requests fail and log errors
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]
PAGE_STATE = """
const imgs = [...document.images];
return {
  images: imgs.length,
  broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 60)),
  audio: [...document.querySelectorAll('audio')].map(a => a.duration),
  math: document.querySelectorAll('math').length,
  remote: performance.getEntriesByType('resource').map(e => e.name).filter(n => /^(https?|wss?):/.test(n)),
  links: [...document.querySelectorAll('nav.site-nav a, table a')].map(a => a.getAttribute('href')),
};"""

if not (CHROMIUM and CHROMEDRIVER):
    if RUN:
        pytest.fail("the browser test needs Debian's Chromium: apt-get install chromium chromium-driver",
                    pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # Debian's driver: nothing downloaded
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(run directory, site directory, screenshot directory)."""
    tmp = tmp_path_factory.mktemp("site")
    if RUN:
        run = Path(RUN)
        out = Path(os.environ.get("MMCOURSE_SITE_DIR") or tmp / "site")
        if not (out / "index.html").exists():
            site.build_site(run, out)
    else:
        from test_site import make_fake_run

        run = make_fake_run(tmp / "run")
        out = tmp / "site"
        site.build_site(run, out)
    shots = Path(os.environ.get("MMCOURSE_SITE_SHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return run, out, shots


def expected_media(executed: Path) -> tuple[int, int]:
    """(figures, audio players) among the outputs of an executed notebook."""
    images = audio = 0
    for cell in nbformat.read(executed, as_version=4).cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            images += any(k.startswith("image/") for k in data)
            audio += str(data.get("text/html", "")).count("<audio")
    return images, audio


def visit(browser, page: Path, shot: Path, wait_audio: int = 0) -> tuple[dict, list[str]]:
    """Open a page, wait for its audio metadata, save a screenshot; (state, console errors)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(page.resolve().as_uri())
    if wait_audio:
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('audio')].every(a => a.readyState >= 1)"))
    state = browser.execute_script(PAGE_STATE)
    browser.save_screenshot(str(shot))
    errors = [f"{e['level']}: {e['message'][:200]}" for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    return state, errors


def test_the_index_lists_every_notebook_and_its_links_resolve(browser, built):
    run, out, shots = built
    summary = json.loads((run / "summary.json").read_text())
    state, errors = visit(browser, out / "index.html", shots / "index.png")
    assert not errors and not state["remote"], (errors, state["remote"])
    links = {h for h in state["links"] if h.endswith(".html")}
    executed = {f"{e['name']}.html" for e in summary["notebooks"] if (run / f"{e['name']}.ipynb").exists()}
    assert links == executed and all((out / h).exists() for h in links)
    assert (shots / "index.png").stat().st_size > 0
    if RUN:  # a real course run: every notebook ran and has a page
        assert all(e["status"] == "ok" for e in summary["notebooks"]), summary["notebooks"]


def test_every_notebook_page_renders(browser, built):
    run, out, shots = built
    summary = json.loads((run / "summary.json").read_text())
    problems, seen = [], 0
    for entry in summary["notebooks"]:
        executed = run / f"{entry['name']}.ipynb"
        if not executed.exists():
            continue
        images, audio = expected_media(executed)
        state, errors = visit(browser, out / f"{entry['name']}.html", shots / f"{entry['name']}.png", wait_audio=audio)
        seen += 1
        name = entry["name"]
        problems += [f"{name}: console {e}" for e in errors]
        problems += [f"{name}: image not loaded {src}" for src in state["broken"]]
        problems += [f"{name}: fetched {url}" for url in state["remote"]]
        if state["images"] < images:
            problems.append(f"{name}: {state['images']} images on the page, the notebook drew {images}")
        if len(state["audio"]) != audio or not all(d and d > 0 for d in state["audio"]):
            problems.append(f"{name}: audio players {state['audio']} (durations), the notebook played {audio}")
        if not {"index.html"} <= set(state["links"]) or not all((out / h).exists() for h in state["links"]
                                                              if h.endswith(".html")):
            problems.append(f"{name}: navigation links {state['links']}")
    assert seen, "no notebook page was checked"
    assert not problems, "\n".join(problems)
