#!/usr/bin/env python3
"""`make colab-check`: run every notebook the way a student on Colab does, and check that the
runtime's own torch survives.

1. A stand-in runtime: a virtual environment with the packages of tests/colab_runtime.txt (a torch
   trio other than the lock's, plus what Colab ships). It is made once and reused, keyed on that
   file (MMCOURSE_COLAB_VENV overrides where it lives).
2. Every notebook is copied alone into an empty folder (no checkout beside it) and executed with
   papermill in SMOKE mode, in reverse course order, all in that one environment. The notebooks'
   own bootstrap cell installs mmcourse from this checkout (MMCOURSE_PIP_SPEC=<checkout>): the
   first notebook must install it, the later ones must find it installed.
3. Passes when every notebook ran and torch, torchvision and torchaudio kept their versions.
   It prints what the bootstrap installed, then uninstalls that again, so that the next check
   installs from scratch too.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "tests" / "colab_runtime.txt"
KEPT = ("torch", "torchvision", "torchaudio")


def sh(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(list(map(str, cmd)), check=True, **kw)


def freeze(py: Path) -> dict[str, str]:
    out = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], check=True,
                         capture_output=True, text=True).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def runtime_venv() -> Path:
    key = hashlib.sha256(RUNTIME.read_bytes()).hexdigest()[:16]
    venv = Path(os.environ.get("MMCOURSE_COLAB_VENV") or Path.home() / ".cache" / "mmcourse-colab" / f"venv-{key}")
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        t0 = time.time()
        sh([sys.executable, "-m", "venv", venv])
        sh([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        sh([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-r", RUNTIME])
        (venv / ".ready").write_text(key)
        print(f"made the stand-in runtime in {time.time() - t0:.0f} s: {venv}")
    return venv


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of the notebooks to run")
    args = parser.parse_args(argv)
    venv = runtime_venv()
    py = venv / "bin" / "python"
    before = freeze(py)
    if "mmcourse" in before:  # a run that died before restoring: start clean
        sh([py, "-m", "pip", "uninstall", "-y", "--quiet", "mmcourse"])
        before = freeze(py)
    print("runtime torch trio: " + ", ".join(f"{k} {before.get(k)}" for k in KEPT))
    notebooks = sorted(Path(args.notebooks).glob("[0-9][0-9]*_*.ipynb"), reverse=True)
    if not notebooks:
        raise SystemExit(f"error: no course notebooks in {args.notebooks}")
    work = Path(tempfile.mkdtemp(prefix="colab-check-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MMCOURSE_SMOKE="1", MPLBACKEND="Agg", MMCOURSE_PIP_SPEC=str(ROOT), PYTHONNOUSERSITE="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               # the kernel "python3" must be this environment's, not one a user dir declares
               JUPYTER_DATA_DIR=str(work / "jupyter-data"), JUPYTER_PATH=str(venv / "share" / "jupyter"))
    failures, rows = [], []
    try:
        for i, nb in enumerate(notebooks):
            folder = work / nb.stem
            folder.mkdir()
            shutil.copy(nb, folder / nb.name)  # the notebook alone: no mmcourse/ beside it
            t0 = time.time()
            proc = subprocess.run([py, "-m", "papermill", nb.name, "executed.ipynb", "-k", "python3",
                                   "--cwd", folder, "--no-progress-bar"], cwd=folder, env=env,
                                  capture_output=True, text=True)
            seconds = time.time() - t0
            executed = folder / "executed.ipynb"
            boot = ""
            if executed.exists():
                cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
                boot = "".join("".join(o.get("text", "")) for o in cells[0].get("outputs", []))
            installed = "installing" in boot
            problem = None
            if proc.returncode != 0:
                problem = (proc.stderr.strip().splitlines() or ["papermill failed"])[-1]
            elif installed != (i == 0):
                problem = ("the bootstrap did not install the package on a fresh runtime" if i == 0
                           else "the bootstrap installed the package again")
            rows.append(f"{nb.name}: {'ok' if problem is None else 'FAILED'} in {seconds:.0f} s"
                        f"{' (bootstrap installed mmcourse)' if installed else ''}"
                        f"{'' if problem is None else ' - ' + problem}")
            print(rows[-1], flush=True)
            if problem:
                failures.append(nb.name)
                print(proc.stderr[-3000:])
    finally:
        after = after_all = freeze(py)
        added = sorted(set(after_all) - set(before))
        changed = sorted(k for k in before if k in after_all and after_all[k] != before[k])
        removed = sorted(set(before) - set(after_all))
        print(f"the bootstrap installed {len(added)} package(s): " + ", ".join(f"{k} {after_all[k]}" for k in added))
        print("changed: " + (", ".join(f"{k} {before[k]} -> {after_all[k]}" for k in changed) or "none")
              + "; removed: " + (", ".join(removed) or "none"))
        # restore the stand-in runtime so the next check installs from scratch again
        if added:
            subprocess.run([py, "-m", "pip", "uninstall", "-y", "--quiet", *added], check=False)
        if changed or removed:
            subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps",
                            *(f"{k}=={before[k]}" for k in changed + removed)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    for k in KEPT:
        if after.get(k) != before.get(k):
            failures.append(f"{k} changed {before.get(k)} -> {after.get(k)}")
    print("\n".join(["colab-check summary:", *rows,
                     "torch trio kept: " + ", ".join(f"{k} {after.get(k)}" for k in KEPT)]))
    if failures:
        print("colab-check FAILED: " + "; ".join(failures))
        return 1
    print("colab-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
