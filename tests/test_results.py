import numpy as np
import pytest
import torch

from mmcourse.results import MIME, Results, TargetMissed, collect


def test_pass_and_fail_lines(capsys):
    R = Results("nb", smoke=False)
    assert R.check("acc", np.float64(0.9), ">=", 0.8)
    assert not R.check("err", torch.tensor(0.5), "<=", 0.1)
    out = capsys.readouterr().out
    assert "[PASS] acc" in out and "[FAIL] err" in out
    with pytest.raises(TargetMissed, match="err"):
        R.finish()


def test_smoke_records_but_does_not_enforce():
    R = Results("nb", smoke=True)
    R.check("acc", 0.1, ">=", 0.8)
    R.finish()  # no raise
    assert R.missed[0].enforced is False


def test_full_with_everything_passed_is_quiet():
    R = Results("nb", smoke=False)
    R.check("acc", 1.0, ">=", 0.8)
    R.finish()


def test_bad_input():
    R = Results("nb", smoke=False)
    with pytest.raises(ValueError, match="valid choices"):
        R.check("x", 1.0, "=>", 0.5)
    with pytest.raises(TypeError, match="real number"):
        R.check("x", "0.9", ">=", 0.5)
    R.check("x", 1.0, ">=", 0.5)
    with pytest.raises(TargetMissed, match="no results"):
        Results("empty", smoke=True).finish()


def test_a_result_recorded_again_replaces_the_earlier_one(capsys):
    R = Results("nb", smoke=False)  # a cell run again in a live notebook, e.g. for an exercise
    R.check("x", 0.1, ">=", 0.5)
    R.check("y", 1.0, ">=", 0.5)
    assert not R.check("x", 0.2, ">=", 0.5)
    assert "replaces the earlier 0.1" in capsys.readouterr().out
    assert [(r.name, r.value) for r in R.items] == [("x", 0.2), ("y", 1.0)]
    R.check("x", 0.9, ">=", 0.5)
    R.finish()  # the missed values were replaced: nothing is missed


def test_nan_never_passes_is_flagged_and_fails_even_in_smoke(capsys):
    R = Results("nb", smoke=True)
    assert not R.check("x", float("nan"), "<=", 1.0)
    assert "NaN" in capsys.readouterr().out
    with pytest.raises(TargetMissed, match="NaN"):
        R.finish()
    with pytest.raises(ValueError, match="target"):
        R.check("y", 1.0, "<=", float("nan"))


def test_collect_reads_results_back_from_a_notebook():
    item = {"name": "acc", "value": 0.9, "target": 0.8, "op": ">=", "passed": True, "enforced": True}
    nb = {"cells": [{"cell_type": "markdown", "source": ""},
                    {"cell_type": "code", "outputs": [{"output_type": "display_data",
                                                       "data": {MIME: item, "text/plain": "x"}}]}]}
    assert collect(nb) == [item]
