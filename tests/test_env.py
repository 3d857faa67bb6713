import pytest
import torch

from mmcourse import env


def test_auto_device_is_available():
    dev = env.get_device("auto")
    assert dev.type in ("cuda", "mps", "cpu")
    assert env.get_device(None) == dev


def test_cpu_by_name():
    assert env.get_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x", "cpu:zero"])
def test_unknown_device_names_the_choices(name):
    with pytest.raises(ValueError, match="valid choices"):
        env.get_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        env.get_device("cuda")


def test_env_override(monkeypatch):
    monkeypatch.setenv("MMCOURSE_DEVICE", "cpu")
    assert env.get_device("auto") == torch.device("cpu")


def test_seed_everything_repeats_random_streams():
    import random

    import numpy as np

    env.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    env.seed_everything(7)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())
    with pytest.raises(ValueError):
        env.seed_everything(-1)


def test_smoke_switch(monkeypatch):
    monkeypatch.setenv("MMCOURSE_SMOKE", "0")
    assert env.smoke_mode(False) is False
    assert env.smoke_mode(True) is True
    monkeypatch.setenv("MMCOURSE_SMOKE", "1")
    assert env.smoke_mode(False) is True
    monkeypatch.setenv("MMCOURSE_SMOKE", "maybe")
    with pytest.raises(ValueError, match="MMCOURSE_SMOKE"):
        env.smoke_mode(False)


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert env.in_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    assert env.in_colab() is True


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, mmcourse; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_describe_tells_a_colab_user_without_a_gpu_how_to_get_one(monkeypatch):
    monkeypatch.setenv("MMCOURSE_DEVICE", "cpu")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert "Change runtime type" not in env.describe()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    line = env.describe()
    assert "device cpu" in line and "Runtime > Change runtime type" in line
