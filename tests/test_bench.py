"""The timing helpers count what they should; no timing is asserted (DESIGN: timings come
from benchmarks/, never from tests)."""
import pytest

from mmcourse.bench import audio_features, format_table, median_seconds, median_seconds_rounds


def test_rounds_call_counts_and_shapes():
    calls = [0, 0]
    fns = [lambda: calls.__setitem__(0, calls[0] + 1), lambda: calls.__setitem__(1, calls[1] + 1)]
    out = median_seconds_rounds(fns, repeats=3, rounds=2)
    assert len(out) == 2 and all(t >= 0 for t in out)
    assert calls == [2 * (3 + 2)] * 2  # per round: two untimed + three timed calls
    assert median_seconds(lambda: None, 3) >= 0
    with pytest.raises(ValueError, match="repeats"):
        median_seconds_rounds(fns, repeats=0)


def test_audio_feature_table_runs():
    rows = audio_features(batch=2, repeats=1, rounds=1)
    assert [r["feature"] for r in rows] == ["stft", "log-mel", "mfcc"]
    assert all(r["mmcourse_ms"] > 0 and r["librosa_over_ours"] > 0 for r in rows)
    assert "librosa/ours" in format_table(rows).splitlines()[0]


def test_audio_feature_table_one_feature():
    rows = audio_features(batch=2, repeats=1, rounds=1, features=("log-mel",))
    assert [r["feature"] for r in rows] == ["log-mel"]
    with pytest.raises(ValueError, match="valid choices"):
        audio_features(batch=2, features=("mel",))


def test_cpu_threads_limits_and_restores():
    import torch
    from threadpoolctl import threadpool_info

    from mmcourse.bench import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with cpu_threads(0):
            pass
    rows = audio_features(batch=2, repeats=1, rounds=1, features=("stft",), threads=1)
    assert rows[0]["feature"] == "stft" and torch.get_num_threads() == before
