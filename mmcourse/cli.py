"""Instructor commands.

  mmcourse run [--smoke] [--only 01,03] [--out DIR] [--device NAME] [--seed N] [-p NAME VALUE ...]
      Execute the course notebooks in order with papermill and write DIR/summary.json
      and DIR/summary.md (status, seconds and recorded results of every notebook).
      Each -p NAME must be assigned in the `parameters` cell of a notebook being run, and its
      VALUE must be a literal of the default's type (an int where a float is expected is
      fine); anything else is refused before any notebook runs.
  mmcourse list
      The notebooks the runner would execute.
  mmcourse strip-solutions SRC DST
      Student copies of notebooks: code between "# BEGIN SOLUTION" and "# END SOLUTION"
      is replaced by a placeholder that still parses.
  mmcourse sync-bootstrap [--check] [NOTEBOOK ...]
      Write the one bootstrap cell (mmcourse/bootstrap.py) and the Colab badge into the
      notebooks; with --check only report the notebooks whose copy differs (exit 1).
  mmcourse site RUN_DIR OUT_DIR [--overwrite]
      A static HTML site of a run (mmcourse/site.py): an index with every notebook's title,
      learning goals, run time, device and targets, and one page per executed notebook.
      It loads nothing from the network.
  mmcourse release OUT_DIR [--run RUN_DIR]
      One folder to publish: notebooks/ (instructor copies), student/ (solutions stripped) and
      site/ of RUN_DIR (default: the newest run in runs/).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from .results import collect

NOTEBOOK_NAME = re.compile(r"^(\d{2}[a-z]?)_[\w-]+\.ipynb$")


def default_notebook_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


def find_notebooks(directory: Path, only: str | None = None) -> list[Path]:
    if not directory.is_dir():
        raise SystemExit(f"error: notebook directory {directory} does not exist; pass --notebooks DIR")
    books = sorted(p for p in directory.iterdir() if NOTEBOOK_NAME.match(p.name))
    if only:
        prefixes = [p.strip() for p in only.split(",") if p.strip()]
        chosen = [b for b in books if any(b.name.startswith(p) for p in prefixes)]
        unknown = [p for p in prefixes if not any(b.name.startswith(p) for b in books)]
        if unknown:
            raise SystemExit(f"error: --only {','.join(unknown)} matches no notebook; "
                             f"available: {', '.join(NOTEBOOK_NAME.match(b.name).group(1) for b in books)}")
        books = chosen
    if not books:
        raise SystemExit(f"error: no notebooks named NN_name.ipynb in {directory}")
    return books


def parse_value(text: str):
    """A -p value as a Python literal (number, bool, None, string, list); plain text otherwise."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


_NOT_A_LITERAL = object()  # a parameter whose default is an expression: any value is accepted
_RUNNER_FLAGS = {"SMOKE": "--smoke", "SEED": "--seed", "DEVICE": "--device"}


def notebook_parameters(path: Path) -> dict:
    """Name -> default value of every simple assignment (``NAME = literal``) in the notebook's
    cell tagged ``parameters``; {} without one. The cell is parsed with ``ast`` and the values
    read with ``ast.literal_eval``: nothing in the notebook is executed."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: cannot read notebook {path}: {exc}") from None
    for cell in cells:
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise SystemExit(f"error: the parameters cell of {path.name} does not parse: {exc}") from None
        params = {}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            try:
                default = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                default = _NOT_A_LITERAL
            params.update((t.id, default) for t in targets if isinstance(t, ast.Name))
        return params
    return {}


def _same_type(value, default) -> bool:
    """Is ``value`` acceptable where the notebook's default is ``default``?"""
    if default is _NOT_A_LITERAL or default is None:
        return True
    if isinstance(default, float) and type(value) is int:  # 1 where 1.0 is expected
        return True
    return type(value) is type(default)  # bool is not int, int is not float, str is not int


def check_parameters(books: list[Path], params: dict) -> None:
    """Refuse (SystemExit naming the parameter, the notebook and the expected type) a -p name that
    none of ``books`` defines, or a value whose type differs from a notebook's default."""
    defined = {book: notebook_parameters(book) for book in books}
    problems = []
    for name, value in params.items():
        if name in _RUNNER_FLAGS:
            problems.append(f"-p {name}: set it with {_RUNNER_FLAGS[name]}, the runner's own option")
            continue
        users = {book: d[name] for book, d in defined.items() if name in d}
        if not users:
            known = sorted({n for d in defined.values() for n in d} - set(_RUNNER_FLAGS))
            problems.append(f"-p {name}: no parameter of that name in the parameters cell of "
                            f"{', '.join(b.name for b in books)}; valid names: {', '.join(known) or '(none)'}")
        for book, default in users.items():
            if not _same_type(value, default):
                problems.append(f"-p {name} {value!r}: {book.name} expects {type(default).__name__} "
                                f"(its default is {default!r}), got {type(value).__name__}")
    if problems:
        raise SystemExit("error: " + "\nerror: ".join(problems))


def _out_dir(arg: str | None, overwrite: bool) -> Path:
    if arg is None:
        base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
        out, k = base, 1
        while out.exists():
            out, k = Path(f"{base}-{k}"), k + 1
        return out
    out = Path(arg)
    if out.exists() and any(out.iterdir()) and not overwrite:
        if sys.stdin.isatty():
            answer = input(f"{out} holds an earlier run. Overwrite it? [y/N] ").strip().lower()
            if answer in ("y", "yes"):
                return out
        raise SystemExit(f"error: {out} already holds an earlier run; choose another --out or pass --overwrite")
    return out


def _last_line(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def run_notebook(path: Path, out_path: Path, parameters: dict, cwd: Path) -> dict:
    import papermill as pm

    start = time.perf_counter()
    status, error = "ok", None
    try:
        pm.execute_notebook(str(path), str(out_path), parameters=parameters, kernel_name="python3",
                            cwd=str(cwd), progress_bar=False, log_output=False)
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        status, error = "failed", _last_line(exc)
    seconds = time.perf_counter() - start
    results = []
    if out_path.exists():
        nb = json.loads(out_path.read_text())
        results = [{"name": r["name"], "value": r["value"], "target": f"{r['op']} {r['target']}",
                    "passed": r["passed"]} for r in collect(nb)]
    entry = {"name": path.stem, "status": status, "seconds": round(seconds, 1), "results": results}
    if error:
        entry["error"] = error
    return entry


def write_summary(out: Path, entries: list[dict], meta: dict) -> None:
    (out / "summary.json").write_text(json.dumps({**meta, "notebooks": entries}, indent=2))
    lines = [f"# Course run {meta['started']}", "",
             f"mode: {'SMOKE' if meta['smoke'] else 'FULL'}, device: {meta.get('device_used', meta['device'])}, seed: {meta['seed']}", "",
             "| notebook | status | seconds | targets reached |", "|---|---|---|---|"]
    for e in entries:
        reached = f"{sum(r['passed'] for r in e['results'])}/{len(e['results'])}"
        status = e["status"] + (f" ({e['error']})" if e.get("error") else "")
        lines.append(f"| {e['name']} | {status} | {e['seconds']} | {reached} |")
    for e in entries:
        if e["results"]:
            lines += ["", f"## {e['name']}", "", "| result | value | target | passed |", "|---|---|---|---|"]
            lines += [f"| {r['name']} | {r['value']:.4g} | {r['target']} | {'yes' if r['passed'] else 'NO'} |"
                      for r in e["results"]]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def _device_name(device) -> str:
    """'cpu', 'mps', or 'cuda:0 (NVIDIA H200)': what the notebooks of a run ran on."""
    if device.type != "cuda":
        return str(device)
    import torch

    return f"{device} ({torch.cuda.get_device_name(device)})"


def cmd_run(args) -> int:
    from .env import get_device

    nb_dir = Path(args.notebooks).resolve() if args.notebooks else default_notebook_dir()
    books = find_notebooks(nb_dir, args.only)
    params = {name: parse_value(value) for name, value in (args.param or [])}
    check_parameters(books, params)  # an instructor's typo fails here, before anything runs
    try:
        device = get_device(args.device)  # fail now, with the valid choices, not inside every notebook
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    out = _out_dir(args.out, args.overwrite).resolve()
    if out == nb_dir or nb_dir in out.parents:
        raise SystemExit(f"error: --out {out} is inside the notebooks directory; the runner never writes there")
    out.mkdir(parents=True, exist_ok=True)
    # Kernels inherit this: figures go into the executed notebooks even if the shell set MPLBACKEND=Agg.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    params.update(SMOKE=args.smoke, SEED=args.seed, DEVICE=args.device)
    meta = {"started": datetime.now().isoformat(timespec="seconds"), "smoke": args.smoke,
            "device": args.device, "device_used": _device_name(device), "seed": args.seed, "parameters": params}
    print(f"running {len(books)} notebook(s) from {nb_dir} -> {out}", flush=True)
    entries = []
    for i, book in enumerate(books, 1):
        print(f"[{i}/{len(books)}] {book.stem} ...", end=" ", flush=True)
        entry = run_notebook(book, out / book.name, params, nb_dir)
        entries.append(entry)
        reached = sum(r["passed"] for r in entry["results"])
        print(f"{entry['status']} in {entry['seconds']} s, {reached}/{len(entry['results'])} targets"
              + (f" - {entry['error']}" if entry.get("error") else ""), flush=True)
        write_summary(out, entries, meta)  # after every notebook, so a crash leaves a summary
    failed = [e["name"] for e in entries if e["status"] != "ok"]
    print(f"summary: {out / 'summary.md'}" + (f"; FAILED: {', '.join(failed)}" if failed else "; all ok"))
    return 1 if failed else 0


SOLUTION = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.S | re.M)


def strip_solutions(source: str) -> str:
    return SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError('exercise: your code here')\n", source)


def write_student_copies(books: list[Path], dst: Path) -> list[Path]:
    """Copies of ``books`` in ``dst`` with every solution replaced by a placeholder; each code
    cell of a copy is checked to parse (SyntaxError otherwise)."""
    import nbformat

    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for book in books:
        nb = nbformat.read(book, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
                cell.source = strip_solutions(cell.source)
                ast.parse(cell.source)  # student copies must still parse
        nbformat.write(nb, dst / book.name)
        written.append(dst / book.name)
    return written


def cmd_strip(args) -> int:
    src, dst = Path(args.src), Path(args.dst)
    books = [src] if src.is_file() else sorted(src.glob("*.ipynb"))
    if not books:
        raise SystemExit(f"error: no notebooks at {src}")
    for book, copy in zip(books, write_student_copies(books, dst)):
        print(f"{book.name} -> {copy}")
    return 0


def cmd_sync_bootstrap(args) -> int:
    from .bootstrap import sync

    paths = [Path(p) for p in args.paths] or find_notebooks(default_notebook_dir())
    changed = sync(paths, check=args.check)
    for p in changed:
        print(f"{p.name}: {'differs from' if args.check else 'updated to'} mmcourse/bootstrap.py")
    if not changed:
        print(f"{len(paths)} notebook(s) already have the shared bootstrap")
    return 1 if (args.check and changed) else 0


_MISSING_EXTRA = "error: the course site needs the package's lab extra ({} is missing): pip install -e \".[lab]\""


def cmd_site(args) -> int:
    from .site import SiteError, build_site

    start = time.perf_counter()
    try:
        pages = build_site(args.run_dir, args.out_dir, overwrite=args.overwrite)
    except SiteError as exc:
        raise SystemExit(f"error: {exc}") from None
    except ImportError as exc:
        raise SystemExit(_MISSING_EXTRA.format(exc.name)) from None
    size = sum(p.stat().st_size for p in pages)
    print(f"site: {len(pages)} pages, {size / 1e6:.1f} MB, in {time.perf_counter() - start:.1f} s; "
          f"open {pages[0].resolve()}")
    return 0


def cmd_release(args) -> int:
    from .site import SiteError, build_release, latest_run

    try:
        run_dir = Path(args.run) if args.run else latest_run()
        print(f"release from the run in {run_dir} -> {args.out_dir}")
        made = build_release(args.out_dir, run_dir)
    except SiteError as exc:
        raise SystemExit(f"error: {exc}") from None
    except ImportError as exc:
        raise SystemExit(_MISSING_EXTRA.format(exc.name)) from None
    out = Path(args.out_dir)
    print(f"{out / 'notebooks'}: {made['notebooks']} instructor notebooks\n"
          f"{out / 'student'}: {len(made['student'])} student copies (solutions stripped)\n"
          f"{out / 'site'}: {len(made['pages'])} pages; open {(out / 'site' / 'index.html').resolve()}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mmcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill and summarise the results")
    run.add_argument("--smoke", action="store_true", help="few-second SMOKE mode (targets not enforced)")
    run.add_argument("--only", help="comma-separated notebook prefixes, e.g. 01,03")
    run.add_argument("--out", help="output directory (default: runs/<timestamp>)")
    run.add_argument("--overwrite", action="store_true", help="allow --out to be a directory of an earlier run")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--notebooks", help="directory of the notebooks (default: the course's notebooks/)")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="extra papermill parameter (repeatable)")
    run.set_defaults(func=cmd_run)
    lst = sub.add_parser("list", help="list the notebooks")
    lst.add_argument("--notebooks")
    lst.set_defaults(func=lambda a: print("\n".join(b.name for b in find_notebooks(
        Path(a.notebooks) if a.notebooks else default_notebook_dir()))) or 0)
    strip = sub.add_parser("strip-solutions", help="write student copies without exercise solutions")
    strip.add_argument("src")
    strip.add_argument("dst")
    strip.set_defaults(func=cmd_strip)
    boot = sub.add_parser("sync-bootstrap", help="write the shared bootstrap cell into the notebooks")
    boot.add_argument("paths", nargs="*", help="notebooks (default: every course notebook)")
    boot.add_argument("--check", action="store_true", help="only report notebooks that differ")
    boot.set_defaults(func=cmd_sync_bootstrap)
    site = sub.add_parser("site", help="write a static HTML site of a run (executed notebooks + summary.json)")
    site.add_argument("run_dir", help="output directory of `mmcourse run`")
    site.add_argument("out_dir", help="where to write the site (new or empty)")
    site.add_argument("--overwrite", action="store_true", help="replace the pages of an earlier site in OUT_DIR")
    site.set_defaults(func=cmd_site)
    rel = sub.add_parser("release", help="instructor notebooks, student copies and the site in one folder")
    rel.add_argument("out_dir", help="a new or empty folder")
    rel.add_argument("--run", help="the run whose site is published (default: the newest in runs/)")
    rel.set_defaults(func=cmd_release)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
