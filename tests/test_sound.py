import pytest
import torch

from mmcourse.world import Obj
from mmcourse.world.sound import COLOUR_PITCH, SAMPLE_RATE, object_sound, scene_sound


def peak_hz(x):
    f = torch.fft.rfftfreq(x.shape[-1], 1 / SAMPLE_RATE)
    return f[torch.fft.rfft(x).abs().argmax()].item()


@pytest.mark.parametrize("colour", list(COLOUR_PITCH))
def test_pitch_is_where_the_colour_says(colour):
    for shape in ("circle", "square", "cross"):
        s = object_sound(Obj(shape, colour, "large", 0.5, 0.5), duration=1.0).mean(0)
        assert abs(peak_hz(s) - COLOUR_PITCH[colour]) <= 1.0


def test_loudness_by_size_and_pan_by_position():
    small = object_sound(Obj("circle", "red", "small", 0.5, 0.5))
    large = object_sound(Obj("circle", "red", "large", 0.5, 0.5))
    assert large.pow(2).mean() > 4 * small.pow(2).mean()
    left = object_sound(Obj("circle", "red", "large", 0.1, 0.5))
    assert left[0].pow(2).sum() > 5 * left[1].pow(2).sum()
    assert small.shape == (2, SAMPLE_RATE // 2) and small.dtype == torch.float32


def test_scene_sound_and_errors():
    scene = (Obj("circle", "red", "large", 0.7, 0.5), Obj("square", "blue", "small", 0.2, 0.5))
    s = scene_sound(scene, duration=0.25)
    assert s.shape == (2, 2 * SAMPLE_RATE // 4)
    first = s[:, : SAMPLE_RATE // 4].mean(0)  # leftmost object (blue) plays first
    assert abs(peak_hz(first) - COLOUR_PITCH["blue"]) < 10
    with pytest.raises(ValueError, match="empty"):
        scene_sound(())
    with pytest.raises(ValueError, match="Nyquist"):
        object_sound(scene[1], sample_rate=2000)
