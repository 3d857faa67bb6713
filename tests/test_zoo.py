import shutil

import pytest
import torch
import torch.nn as nn

from mmcourse import zoo


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    calls = []

    def train(model, *, seed, smoke, device):
        calls.append((seed, smoke))
        with torch.no_grad():
            model.weight.fill_(seed + (0.5 if smoke else 0.0))
        return {"score": 1.0}

    zoo.register("toy", 1, lambda: nn.Linear(2, 2), train, "a test recipe")
    yield calls
    zoo.RECIPES.pop("toy", None)


def test_trains_once_then_loads_from_the_cache(cache):
    a = zoo.load("toy", seed=3)
    b = zoo.load("toy", seed=3)
    assert cache == [(3, False)]
    assert torch.equal(a.weight, b.weight) and not b.training
    meta = zoo.info("toy", seed=3)
    assert meta["metrics"] == {"score": 1.0} and meta["seed"] == 3 and meta["version"] == 1


def test_seed_smoke_and_version_are_part_of_the_key(cache):
    zoo.load("toy", seed=0)
    zoo.load("toy", seed=1)
    zoo.load("toy", seed=0, smoke=True)
    assert cache == [(0, False), (1, False), (0, True)]
    assert len({zoo.path("toy", s, k) for s, k in [(0, False), (1, False), (0, True)]}) == 3
    assert zoo.load("toy", seed=0, smoke=True).weight[0, 0].item() == 0.5  # SMOKE never reads FULL's entry
    old = zoo.path("toy", 0)
    zoo.register("toy", 2, lambda: nn.Linear(2, 2), zoo.RECIPES["toy"].train, "v2")
    assert zoo.path("toy", 0) != old
    zoo.load("toy", seed=0)
    assert cache[-1] == (0, False) and len(cache) == 4


def test_a_corrupt_file_is_retrained_with_a_warning(cache):
    zoo.load("toy", seed=2)
    zoo.path("toy", 2).write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="training again"):
        model = zoo.load("toy", seed=2)
    assert cache == [(2, False), (2, False)] and model.weight[0, 0].item() == 2.0
    assert zoo.info("toy", seed=2)["seed"] == 2  # rewritten and readable again


def test_a_file_made_for_another_key_is_not_used(cache):
    zoo.load("toy", seed=5)
    shutil.copy(zoo.path("toy", 5), zoo.path("toy", 6))
    with pytest.warns(UserWarning, match="made for"):
        model = zoo.load("toy", seed=6)
    assert model.weight[0, 0].item() == 6.0


def test_weights_that_do_not_fit_the_architecture_are_retrained(cache):
    zoo.load("toy", seed=0)
    zoo.register("toy", 1, lambda: nn.Linear(3, 3), zoo.RECIPES["toy"].train, "changed without a version bump")
    with pytest.warns(UserWarning, match="do not fit"):
        model = zoo.load("toy", seed=0)
    assert model.weight.shape == (3, 3)


def test_bad_names_and_seeds_are_clear_errors(cache):
    with pytest.raises(ValueError, match="valid choices: .*attribute-classifier"):
        zoo.load("resnet-imagenet")
    with pytest.raises(ValueError, match="seed"):
        zoo.load("toy", seed=-1)


def test_checkpoints_load_with_weights_only(cache, monkeypatch):
    zoo.load("toy", seed=0)
    seen = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or real(*a, **k))
    zoo.load("toy", seed=0)
    assert seen == [True]


def test_attribute_classifier_recipe_in_smoke_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    model = zoo.load("attribute-classifier", seed=0, smoke=True)
    images, labels = zoo._attribute_data(8, seed=1, resolution=zoo.ATTRIBUTE_RESOLUTION)
    pred = model.predict(images)
    assert {k: v.shape for k, v in pred.items()} == {k: (8,) for k in ("colour", "shape", "size")}
    meta = zoo.info("attribute-classifier", seed=0, smoke=True)
    assert set(meta["metrics"]) == {"colour_accuracy", "shape_accuracy", "size_accuracy"}
    with pytest.raises(ValueError, match="labels lack"):
        model.loss(images, {"colour": labels["colour"]})


def test_dual_encoder_recipe_in_smoke_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    model = zoo.load("dual-encoder-32", seed=0, smoke=True)
    images, _ = zoo._attribute_data(4, seed=1, resolution=zoo.ATTRIBUTE_RESOLUTION)
    emb = model.encode_image(images)
    assert emb.shape == (4, 64) and torch.isfinite(emb).all()
    meta = zoo.info("dual-encoder-32", seed=0, smoke=True)
    assert set(meta["metrics"]) == {"zero_shot_colour", "zero_shot_shape"}
    assert all(0.0 <= v <= 1.0 for v in meta["metrics"].values())
    held = zoo.held_out_combinations()
    assert len(held) == 7 and len({s for _, s in held}) == 5  # every colour loses one shape, every shape is hit


def test_grid_cnn_recipe_in_smoke_mode(tmp_path, monkeypatch):
    from mmcourse.world.scenes import render, sample_scenes

    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    cnn = zoo.load("grid-cnn", seed=0, smoke=True)
    grid = cnn(render(sample_scenes(3, seed=1), zoo.GRID_RESOLUTION), grid=True)
    assert grid.shape == (3, 36, 128) and torch.isfinite(grid).all()
    meta = zoo.info("grid-cnn", seed=0, smoke=True)
    assert set(meta["metrics"]) == {"cell_colour_accuracy", "cell_shape_accuracy", "cell_size_accuracy",
                                    "centre_cell_accuracy"}
    assert all(0.0 <= v <= 1.0 for v in meta["metrics"].values())
