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


from mmcourse.world.sound import load_wav, mixture, save_wav  # noqa: E402

OBJS = (Obj("circle", "red", "large", 0.2, 0.5), Obj("cross", "green", "small", 0.8, 0.5),
        Obj("square", "blue", "large", 0.5, 0.5))


def test_mixture_is_the_sum_of_its_sources_and_deterministic():
    m = mixture(OBJS, duration=1.0, note=0.4, seed=3)
    assert m.sources.shape == (3, 2, SAMPLE_RATE) and m.mix.shape == (2, SAMPLE_RATE)
    torch.testing.assert_close(m.mix, m.sources.sum(0))
    for src, obj, onset in zip(m.sources, m.objects, m.onsets):
        start = round(onset * SAMPLE_RATE)
        assert src[:, :start].abs().max() == 0 and src[:, start + int(0.4 * SAMPLE_RATE):].abs().max() == 0
        assert abs(peak_hz(src.mean(0)) - COLOUR_PITCH[obj.colour]) <= 3.0
    again, other = mixture(OBJS, 1.0, 0.4, seed=3), mixture(OBJS, 1.0, 0.4, seed=4)
    assert torch.equal(again.mix, m.mix) and again.onsets == m.onsets and other.onsets != m.onsets


def test_mixture_in_sequence_and_errors():
    m = mixture(OBJS, duration=1.5, note=0.5, overlap=False)
    assert m.onsets == (0.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        mixture(OBJS, duration=1.0, note=0.5, overlap=False)
    with pytest.raises(ValueError, match="at least one"):
        mixture(())
    with pytest.raises(ValueError, match="note"):
        mixture(OBJS, duration=0.2, note=0.5)


@pytest.mark.parametrize("subtype,tol", [("PCM_16", 1 / 32768), ("FLOAT", 0.0)])
def test_wav_round_trip(tmp_path, subtype, tol):
    clip = mixture(OBJS, 0.5, 0.25).mix
    save_wav(tmp_path / "clip.wav", clip, subtype=subtype)
    back, sr = load_wav(tmp_path / "clip.wav")
    assert sr == SAMPLE_RATE and back.shape == clip.shape and back.dtype == torch.float32
    assert (back - clip).abs().max() <= tol
    save_wav(tmp_path / "mono.wav", clip[0])
    assert load_wav(tmp_path / "mono.wav")[0].shape == (1, clip.shape[1])


def test_wav_errors(tmp_path):
    with pytest.raises(ValueError, match="clip"):
        save_wav(tmp_path / "x.wav", torch.full((2, 100), 1.5))
    with pytest.raises(ValueError, match="subtype"):
        save_wav(tmp_path / "x.wav", torch.zeros(2, 100), subtype="MP3")
    with pytest.raises(ValueError, match="float"):
        save_wav(tmp_path / "x.wav", torch.zeros(2, 100, dtype=torch.int16))
    with pytest.raises(ValueError, match="NaN"):
        save_wav(tmp_path / "x.wav", torch.tensor([0.0, float("nan")]))


def test_speech_clip_ships_with_the_package():
    from mmcourse.world.sound import speech_clip

    wave, sr, text = speech_clip()
    assert sr == SAMPLE_RATE and wave.shape[0] == 1 and 2 * sr < wave.shape[1] < 6 * sr
    assert 0.5 < wave.abs().max() <= 0.9 + 1e-4 and "red circle" in text
    # voiced speech: most energy between 80 Hz and 4 kHz
    power = torch.fft.rfft(wave[0]).abs() ** 2
    f = torch.fft.rfftfreq(wave.shape[1], 1 / sr)
    assert power[(f > 80) & (f < 4000)].sum() > 0.8 * power.sum()


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
def test_mixture_of_a_note_whose_length_rounds_up():
    """round(note * sr) = 1601 but a note has int(note * sr) = 1600 samples: this used to crash."""
    from mmcourse.world.sound import mixture

    mix = mixture((Obj("circle", "red", "large", 0.3, 0.5),), duration=0.2, note=0.10004375, overlap=False)
    assert mix.sources.shape == (1, 2, 3200) and torch.isfinite(mix.mix).all()


def test_save_wav_writes_wav_whatever_the_file_name(tmp_path):
    from mmcourse.world.sound import load_wav, save_wav

    audio = torch.rand(2, 100) - 0.5
    save_wav(tmp_path / "new folder" / "clip", audio.half())  # no extension, a new folder, float16
    back, sr = load_wav(tmp_path / "new folder" / "clip")
    assert sr == SAMPLE_RATE and back.shape == (2, 100)
    with pytest.raises(IsADirectoryError):
        save_wav(tmp_path, audio)
    with pytest.raises(FileNotFoundError, match="no sound file"):
        load_wav(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not a sound")
    with pytest.raises(ValueError, match="not a sound file"):
        load_wav(tmp_path / "text.wav")


@pytest.mark.parametrize("call, error, match", [
    (lambda: object_sound("circle"), TypeError, "obj must be a Obj"),
    (lambda: object_sound(Obj("circle", "red", "large", 0.5, 0.5), duration=10 ** 6), ValueError, "MAX_SAMPLES"),
    (lambda: object_sound(Obj("circle", "red", "large", 0.5, 0.5), sample_rate=2 ** 63), ValueError, "sample_rate"),
    (lambda: scene_sound([None]), TypeError, r"scene\[0\]"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()
