import numpy as np
import pytest
import torch

from mmcourse import exercises
from mmcourse.cli import strip_solutions


def _solved(x):
    # BEGIN SOLUTION
    return x * 2
    # END SOLUTION


def reference(x):
    return x * 2


def test_attempt_uses_the_students_function_when_solved(capsys):
    assert exercises.attempt("double", _solved, reference, 3) == 6
    assert capsys.readouterr().out == ""


def test_stripped_exercise_falls_back_with_a_note(capsys):
    ns = {}
    exec(compile(strip_solutions("def f(x):\n    # BEGIN SOLUTION\n    return x * 2\n    # END SOLUTION\n"), "<nb>", "exec"), ns)
    assert exercises.attempt("double", ns["f"], reference, 4) == 8
    out = capsys.readouterr().out
    assert "not solved yet" in out and "reference" in out


def test_open_exercise_is_skipped_when_unsolved(capsys):
    def unsolved():
        raise NotImplementedError
    assert exercises.attempt("sweep", unsolved, None) is None
    assert "skipped" in capsys.readouterr().out


def test_attempt_rejects_bad_arguments():
    with pytest.raises(TypeError, match="expected the function"):
        exercises.attempt("x", 3, reference)
    with pytest.raises(TypeError, match="fallback"):
        exercises.attempt("x", reference, "nope")


def test_other_errors_are_not_swallowed():
    def broken(x):
        return x / "a"
    with pytest.raises(TypeError):
        exercises.attempt("x", broken, reference, 1)


def test_check_prints_one_line(capsys):
    assert exercises.check("t", torch.ones(3), np.ones(3))
    assert not exercises.check("t", torch.ones(3), np.zeros(3))
    assert not exercises.check("t", torch.ones(2), np.ones(3))
    out = capsys.readouterr().out.splitlines()
    assert [ln.split("]")[0] for ln in out] == ["[PASS", "[FAIL", "[FAIL"]


def test_check_after_a_fallback_says_it_was_not_solved(capsys):
    def unsolved(x):
        raise NotImplementedError
    got = exercises.attempt("triple", unsolved, lambda x: 3 * x, 2)
    assert not exercises.check("triple", got, 6)
    assert "[not solved]" in capsys.readouterr().out.splitlines()[-1]
    assert exercises.check("triple", exercises.attempt("triple", lambda x: 3 * x, None, 2), 6)  # solved later


def test_check_agrees_with_its_printed_line_when_both_have_nan_in_the_same_place(capsys):
    assert exercises.check("nan", [1.0, float("nan")], np.array([1.0, float("nan")]))
    assert capsys.readouterr().out.startswith("[PASS]")
    assert not exercises.check("nan", [1.0, float("nan")], np.array([1.0, 2.0]))
