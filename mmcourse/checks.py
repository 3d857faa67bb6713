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
    if type(value) is not int:  # the common case skips the slower ABC check
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
    if type(value) is not float and (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be {_must('a number', low, high, low_open)}, got {value!r} ({_type_name(value)})")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's range, 10**400
        raise ValueError(f"{name} must be {_must('a finite number', low, high, low_open)}, got an int of "
                         f"{len(str(abs(value)))} digits") from None
    bad = math.isnan(value) or (finite and math.isinf(value))
    bad = bad or (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high)
    if bad:
        what = "a finite number" if finite else "a number"
        raise ValueError(f"{name} must be {_must(what, low, high, low_open)}, got {value}")
    return value


def flag(value, name: str) -> bool:
    """``value`` must be True or False (a numpy bool too); 0, 1 or "False" are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({_type_name(value)})")
    return bool(value)


def seed(value, name: str = "seed") -> int:
    """A random seed: an int in [0, 2**63 - 1] (what numpy's PCG64 and torch.manual_seed both take)."""
    return integer(value, name, low=0, high=2 ** 63 - 1)


def text(value, name: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({_type_name(value)})")
    if nonempty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def instance(value, name: str, kind: type):
    """``value`` must be an instance of ``kind`` (a class or a tuple of them)."""
    if not isinstance(value, kind):
        want = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise TypeError(f"{name} must be a {want}, got {_short(value)} ({_type_name(value)})")
    return value


def items(value, name: str, kind: type | tuple | None = None, *, nonempty: bool = False,
          max_len: int | None = None) -> tuple:
    """``value`` - a list, tuple or other iterable, but not a string, bytes, a dict or a tensor -
    as a tuple, each element an instance of ``kind`` (if given), at least one if ``nonempty``
    and at most ``max_len``."""
    if type(value) is tuple and (kind is None or all(isinstance(v, kind) for v in value)) and (
            value or not nonempty) and (max_len is None or len(value) <= max_len):
        return value  # the common case, fast
    if isinstance(value, (str, bytes, dict)) or torch.is_tensor(value) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list or tuple, got {_short(value)} ({_type_name(value)})")
    value = tuple(value)
    if nonempty and not value:
        raise ValueError(f"{name} is empty: it needs at least one element")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{name} has {len(value)} elements, more than the {max_len} allowed")
    if kind is not None and not all(isinstance(v, kind) for v in value):  # the message only when needed
        for i, v in enumerate(value):
            instance(v, f"{name}[{i}]", kind)
    return value


def path(value, name: str = "path"):
    """A filesystem path: a str or os.PathLike (not bytes, None or a number)."""
    import os

    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or pathlib.Path, got {_short(value)} ({_type_name(value)})")
    return value


def device(value, name: str = "device"):
    """None, or a device this machine has, as ``torch.device`` understands it ("cpu", "cuda:0", ...)."""
    if value is None:
        return value
    try:
        dev = value if isinstance(value, torch.device) else torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown {name} {value!r}; use None, 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if dev.type == "cuda" and not (torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"{name} {value!r} is not on this machine "
                         f"({torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA devices)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{name} {value!r} is not on this machine (no MPS)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown {name} {value!r}; use None, 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return dev


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def choice(value, name: str, valid, where: str | None = None) -> None:
    """``value`` must be one of ``valid`` (compared with ==; unhashable values are simply not found).
    ``where``: the argument that holds it, when it is one element of a list ("shapes")."""
    try:
        found = value in valid
    except TypeError:  # e.g. a list looked up in a dict of names
        found = False
    if not found:
        raise ValueError(f"unknown {name} {value!r}{f' in {where}' if where else ''}; "
                         f"valid choices: {', '.join(map(str, valid))}")


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
