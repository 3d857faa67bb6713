"""Exercises whose student copy still runs to the end.

A notebook exercise is a function whose body holds the solution between ``# BEGIN SOLUTION``
and ``# END SOLUTION``. ``mmcourse strip-solutions`` replaces that region with
``raise NotImplementedError``. The cell then calls the function through :func:`attempt`,
which falls back to the course's own version (with a visible note) when the exercise is not
solved yet, and :func:`check` compares a student's answer with the course's::

    def delta(features):
        # BEGIN SOLUTION
        padded = torch.cat([features[..., :1], features, features[..., -1:]], dim=-1)
        return (padded[..., 2:] - padded[..., :-2]) / 2
        # END SOLUTION

    d = exercises.attempt("delta", delta, A.delta, mf)      # student's, or A.delta's with a note
    exercises.check("delta", d, A.delta(mf))                 # one PASS/FAIL line

For an open exercise (an experiment to run and interpret) pass ``fallback=None``: an
unsolved one is then skipped with a note and ``attempt`` returns None.
"""
from __future__ import annotations

# exercises whose unsolved stub fell back to the course's version in this kernel: their check
# says so instead of printing a PASS that the student did not earn
_FELL_BACK: set[str] = set()


def _name(fn) -> str:
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{mod}.{qual}" if mod and mod not in ("__main__", "builtins") else qual


def attempt(name: str, student, fallback, *args, **kwargs):
    """Call ``student(*args, **kwargs)``; if it is unsolved, call ``fallback`` instead (or skip)."""
    if not callable(student):
        raise TypeError(f"exercise {name!r}: expected the function you wrote, got {type(student).__name__}")
    if fallback is not None and not callable(fallback):
        raise TypeError(f"exercise {name!r}: fallback must be a function or None, got {type(fallback).__name__}")
    try:
        result = student(*args, **kwargs)
        _FELL_BACK.discard(name)
        return result
    except NotImplementedError:
        _FELL_BACK.add(name)
        if fallback is None:
            print(f"[exercise '{name}' not solved yet: skipped; the rest of the notebook does not need it]")
            return None
        print(f"[exercise '{name}' not solved yet: using {_name(fallback)} so the notebook can go on]")
        return fallback(*args, **kwargs)


def _as_float_array(x):
    import numpy as np

    if hasattr(x, "detach"):  # torch tensors
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def check(name: str, got, expected, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Print one PASS/FAIL line: does ``got`` match ``expected`` (numbers, arrays or tensors)?

    If ``attempt(name, ...)`` fell back to the course's version, there is nothing of the
    student's to check: the line says so (and the result is False).
    """
    import numpy as np

    if name in _FELL_BACK:
        print(f"[not solved] exercise '{name}': the course's version was used; solve it and run the cell again")
        return False

    a, b = _as_float_array(got), _as_float_array(expected)
    if a.shape != b.shape:
        print(f"[FAIL] exercise '{name}': shape {tuple(a.shape)}, expected {tuple(b.shape)}")
        return False
    if not (np.isfinite(a).all() or np.array_equal(np.isfinite(a), np.isfinite(b))):
        print(f"[FAIL] exercise '{name}': the answer contains NaN or infinity")
        return False
    both = np.isfinite(a) & np.isfinite(b)  # NaN/inf in the same places (checked above) match
    err = float(np.max(np.abs(a - b)[both])) if both.any() else 0.0
    ok = bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    scale = float(np.max(np.abs(b[both]))) if both.any() else 0.0
    rel = err / scale if scale > 0 else err
    print(f"[{'PASS' if ok else 'FAIL'}] exercise '{name}': max abs difference from the course's version "
          f"{err:.2e} (relative {rel:.1e}; tolerance rtol={rtol:g}, atol={atol:g})")
    return ok
