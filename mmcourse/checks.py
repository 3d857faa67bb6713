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


def number_range(value, name: str, *, low: float, high: float) -> tuple[float, float]:
    """A (low, high) pair of numbers, each within [``low``, ``high``], with the first <= the second."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}")
    a, b = (number(v, name, low=low, high=high) for v in value)
    if a > b:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
    return a, b


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


# ------------------------------------------------------------------ model inputs (mmcourse.models)
# A model's forward pass is called thousands of times in training: these checks look at shapes
# and dtypes (Python comparisons) and make at most one reduction over the data (a sum for NaN,
# a min/max for ids), which costs little next to the layers the data goes through.

def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def model_dtype(x: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
    """``x`` must be a floating-point tensor of ``dtype`` (the dtype of the model's parameters);
    under autocast on ``x``'s device any floating dtype is let through (autocast casts it)."""
    if x.dtype == dtype:
        return x
    if x.is_floating_point() and torch.is_autocast_enabled(x.device.type):
        return x
    raise TypeError(f"{name} must be a {_dtype_name(dtype)} tensor (the dtype of the model's parameters), "
                    f"got {_dtype_name(x.dtype)}; use {name}.to(torch.{_dtype_name(dtype)})")


def images(x, name: str, *, channels: int, dtype: torch.dtype, min_size: int = 1, size: int | None = None,
           uint8: bool = False, expected: str | None = None) -> torch.Tensor:
    """A non-empty batch of images (B, channels, H, W) for a model whose parameters are ``dtype``:
    floating point of that dtype, or uint8 if ``uint8`` (the caller scales it); H and W at
    least ``min_size``, or both equal to ``size``; no NaN or inf. Returned unchanged.

    ``expected`` replaces "a batch of images (B, C, H, W)" in messages.
    A tensor of the wrong kind (uint8 where floats are needed, integers, bool) is a TypeError;
    a wrong shape or value a ValueError."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a tensor of images (B, {channels}, H, W), got {_short(x)} ({_type_name(x)})")
    side = f"{size}, {size}" if size is not None else "H, W"
    want = expected or f"a batch of images (B, {channels}, {side})"
    if x.ndim != 4 or x.shape[1] != channels or (size is not None and (x.shape[2] != size or x.shape[3] != size)):
        raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError(f"{name} must be at least {min_size} x {min_size} pixels, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if x.dtype == torch.uint8:
        if uint8:
            return x
        raise TypeError(f"{name} must be float images in [0, 1] ({_dtype_name(dtype)}), got uint8; "
                        f"scale them first: {name}.float() / 255")
    model_dtype(x, name, dtype)
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def token_ids(x, name: str, vocab_size: int, *, ndim: int = 2, ignore: int | None = None,
              what: str = "token ids") -> torch.Tensor:
    """Ids (token ids, class indices): an integer tensor (or a list / numpy array of integers)
    of ``ndim`` axes with every id in [0, vocab_size) - ``ignore``, a padding id that is never
    looked up, may also appear. Returned as int64 (the same tensor when it is int64 already,
    so results do not change). One min/max reduction in the common case."""
    if not torch.is_tensor(x):
        x = tensor(x, name)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must be a tensor of {what} (int64), got dtype {_dtype_name(x.dtype)}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    if x.numel():
        low, high = torch.stack(torch.aminmax(x)).tolist()
        if low < 0 or high >= vocab_size:
            bad = (x < 0) | (x >= vocab_size)
            if ignore is not None:
                bad &= x != ignore
            if bad.any():
                raise ValueError(f"{name} must hold {what} in [0, {vocab_size - 1}], got {x[bad][0].item()}")
    return x.long()


def lengths(x, name: str, n: int, *, low: int, high: int, high_is: str | None = None,
            rows_of: str | None = None) -> torch.Tensor:
    """Sequence lengths: a tensor (or list) of ``n`` integers, each in [low, high]; one min/max reduction.
    In messages, ``high_is`` says where the upper bound comes from ("tokens.shape[1]") and
    ``rows_of`` what holds the ``n`` sequences ("tokens")."""
    x = tensor(x, name)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (an int64 tensor), got dtype {_dtype_name(x.dtype)}")
    if tuple(x.shape) != (n,):
        per = f"row of {rows_of}" if rows_of else "sequence"
        raise ValueError(f"{name} must have shape ({n},), one length per {per}, got {tuple(x.shape)}")
    if n:
        least, most = torch.stack(torch.aminmax(x)).tolist()
        if least < low or most > high:
            bound = f" ({high_is} = {high})" if high_is else ""
            raise ValueError(f"{name} must be in [{low}, {high}]{bound}, got values from {least} to {most}")
    return x


def features(x, name: str, *, ndim: int | tuple = 2, dim: int | None = None, dtype: torch.dtype | None = None,
             nonempty: bool = False, shape: str | None = None) -> torch.Tensor:
    """A tensor of floating-point feature vectors: ``ndim`` axes (an int, or a tuple of the allowed
    numbers; ``(1, None)`` means one or more), the last of size ``dim`` if given, of ``dtype``
    (the model's) if given, at least one row if ``nonempty``, no NaN or inf. ``shape`` names
    the expected shape in messages ("(B, D)"). Returned unchanged; one sum over the data."""
    want = f" {shape}" if shape else ""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a tensor{want}, got {_short(x)} ({_type_name(x)})")
    if dtype is not None:
        model_dtype(x, name, dtype)
    elif not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor{want}, got dtype {_dtype_name(x.dtype)}")
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if x.ndim not in allowed and not (allowed[-1] is None and x.ndim >= allowed[0]):
        axes = (f"{allowed[0]} or more" if allowed[-1] is None else " or ".join(map(str, allowed)))
        raise ValueError(f"{name} must have {axes} dimension(s){want}, got shape {tuple(x.shape)}")
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(f"{name} must have {dim} features in its last dimension{want}, got shape {tuple(x.shape)}")
    if nonempty and x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): it needs at least one row")
    if x.numel() and not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return x
