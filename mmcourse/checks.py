"""Argument checks shared by the package's public functions.

The rule (issue 20): a public function validates its arguments at the boundary, once, and
bad input fails there with a ``TypeError`` (wrong kind of object) or a ``ValueError`` (right
kind, wrong value) whose message names the argument and the valid values - never with an
error from deep inside torch or numpy, a hang or an unbounded allocation. These helpers
keep those messages alike; each returns the checked value, normalised (a numpy integer
becomes an ``int``, a number a ``float``, a numpy array a tensor), so a call site reads::

    n = checks.integer(n, "n", low=1, high=MAX_SCENES)

They cost a few Python comparisons; the one that looks at data (``tensor(finite=True)``)
first sums the tensor and only scans it element-wise when that sum is not finite.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def _type_name(value) -> str:
    return type(value).__name__


def _must(kind: str, low=None, high=None, low_open: bool = False) -> str:
    """ "an int >= 1", "a number in (0, 1]", ...: what a check asks for."""
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def integer(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in [low, high]; a bool, a float (even 3.0) or a string is a TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {_must('an int', low, high)}, got {value!r} ({_type_name(value)})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {_must('an int', low, high)}, got {value}")
    return value


def number(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           finite: bool = True) -> float:
    """``value`` (an int or a float, not a bool) as a ``float`` in [low, high] (``low_open``: > low).

    NaN is always refused; so is +-inf unless ``finite=False``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {_must('a number', low, high, low_open)}, got {value!r} ({_type_name(value)})")
    value = float(value)
    bad = math.isnan(value) or (finite and math.isinf(value))
    bad = bad or (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high)
    if bad:
        what = "a finite number" if finite else "a number"
        raise ValueError(f"{name} must be {_must(what, low, high, low_open)}, got {value}")
    return value


def choice(value, name: str, valid) -> None:
    """``value`` must be one of ``valid`` (compared with ==; unhashable values are simply not found)."""
    try:
        found = value in valid
    except TypeError:  # e.g. a list looked up in a dict of names
        found = False
    if not found:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(str, valid))}")


def tensor(x, name: str, *, dtype: str | None = None, ndim: int | None = None, min_ndim: int = 0,
           nonempty: bool = False, finite: bool = True, convert=None) -> torch.Tensor:
    """``x`` (a tensor, or a number / numpy array / nested list converted with ``torch.as_tensor``,
    to the torch dtype ``convert`` if given) checked:

    dtype: "float" (floating point), "complex", "number" (int or float, not bool) or None (any);
    ndim / min_ndim: exact or least number of axes; nonempty: at least one element;
    finite: no NaN or inf (checked with one sum first, element-wise only when that is not finite).
    """
    if not torch.is_tensor(x):
        if isinstance(x, (str, bytes, dict, set)) or x is None:
            raise TypeError(f"{name} must be a tensor, got {_type_name(x)}")
        try:
            x = torch.as_tensor(x) if convert is None else torch.as_tensor(x, dtype=convert)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor (or an array of numbers), got {_type_name(x)}: {exc}") from None
    if dtype == "float" and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use {name}.float()")
    if dtype == "complex" and not x.is_complex():
        raise ValueError(f"{name} must be a complex tensor, got dtype {x.dtype}")
    if dtype == "number" and (x.is_complex() or x.dtype == torch.bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if finite and (x.is_floating_point() or x.is_complex()) and x.numel():
        # One cheap reduction first: a finite sum means finite entries; only a non-finite
        # sum (NaN/inf, or an overflow) pays for the exact element-wise check.
        if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf values")
    return x
