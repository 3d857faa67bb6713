"""Measured numbers and their targets, recorded by a notebook and read back by the runner.

Each check prints a visible PASS/FAIL line and also emits a machine-readable output
(MIME type ``application/vnd.mmcourse.result+json``) into the notebook, so an executed
notebook carries its own results: ``mmcourse run`` collects them from the output file.
In FULL mode ``finish()`` raises if any target was missed; in SMOKE mode targets are
recorded but not enforced (a few seconds of training reaches nothing). A NaN value is
never a pass, its line says the measurement is undefined, and ``finish()`` raises on it
in both modes.
"""
from __future__ import annotations

import json
import math
import operator
from dataclasses import asdict, dataclass

MIME = "application/vnd.mmcourse.result+json"
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


class TargetMissed(AssertionError):
    """Raised at the end of a FULL run when at least one target was missed."""


@dataclass
class Result:
    name: str
    value: float
    target: float
    op: str
    passed: bool
    enforced: bool

    @property
    def undefined(self) -> bool:
        return _is_nan(self.value)

    def line(self) -> str:
        mark = "PASS" if self.passed else ("FAIL" if self.enforced else "miss (smoke: not enforced)")
        if self.undefined:
            return f"[{mark}] {self.name}: value is NaN (the measurement is undefined, e.g. 0/0) - fix the experiment"
        return f"[{mark}] {self.name}: {_fmt(self.value)} {self.op} {_fmt(self.target)}"


def _is_nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _number(x, what: str):
    if hasattr(x, "item"):  # numpy / torch scalars
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{what} must be a real number (computed, not a string), got {type(x).__name__}")
    return x


def _emit(result: Result) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain python: the printed line is enough
        print(result.line())
        return
    if get_ipython() is None:
        print(result.line())
        return
    display({MIME: asdict(result), "text/plain": result.line()}, raw=True)


class Results:
    """Collects a notebook's measured numbers with their targets.

    >>> R = Results("01_modalities", smoke=False)
    >>> R.check("colour words: top-3 neighbours are colours", acc, ">=", 0.8)
    """

    def __init__(self, notebook: str, smoke: bool):
        self.notebook = notebook
        self.smoke = bool(smoke)
        self.items: list[Result] = []

    def check(self, name: str, value, op: str, target) -> bool:
        if op not in _OPS:
            raise ValueError(f"unknown comparison {op!r}; valid choices: {', '.join(_OPS)}")
        value = _number(value, "value")
        target = _number(target, "target")
        if _is_nan(target):
            raise ValueError(f"target of {name!r} is NaN; a target must be a real number")
        if _is_nan(value):
            passed = False  # never a pass, in SMOKE mode too: the line says the value is undefined
        else:
            passed = bool(_OPS[op](value, target))
        result = Result(name, value, target, op, passed, enforced=not self.smoke)
        earlier = next((i for i, r in enumerate(self.items) if r.name == name), None)
        if earlier is not None:  # a cell run again (an exercise, a live notebook): the new value replaces the old
            print(f"(result {name!r} recorded again: this value replaces the earlier {_fmt(self.items[earlier].value)})")
            self.items[earlier] = result
        else:
            self.items.append(result)
        _emit(result)
        return passed

    @property
    def missed(self) -> list[Result]:
        return [r for r in self.items if not r.passed]

    def summary(self) -> str:
        lines = [r.line() for r in self.items]
        mode = "SMOKE (targets not enforced)" if self.smoke else "FULL"
        lines.append(f"{self.notebook}: {len(self.items) - len(self.missed)}/{len(self.items)} targets reached [{mode}]")
        return "\n".join(lines)

    def finish(self) -> None:
        """Print the summary; in FULL mode raise TargetMissed if any target was missed."""
        print(self.summary())
        if not self.items:
            raise TargetMissed(f"{self.notebook} recorded no results; a notebook must measure its targets")
        undefined = [r for r in self.items if r.undefined]
        if undefined:  # in SMOKE mode too: a NaN is a broken measurement, not a small number
            raise TargetMissed("undefined (NaN) results: " + "; ".join(r.name for r in undefined))
        if self.missed and not self.smoke:
            raise TargetMissed("missed targets: " + "; ".join(r.line() for r in self.missed))


def collect(notebook_json: dict) -> list[dict]:
    """All results recorded in an executed notebook (as dicts), in execution order."""
    found = []
    for cell in notebook_json.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {})
            if MIME in data:
                item = data[MIME]
                found.append(json.loads(item) if isinstance(item, str) else dict(item))
    return found
