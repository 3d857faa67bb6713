import math

import numpy as np
import pytest
import torch

from mmcourse.world.faces import (FACE_ATTRIBUTES, FRAME_RATE, OPENING, VOICE_SR, VOWELS, Face, face_attributes,
                                  formants, pitch, random_syllables, render_faces, sample_faces, speech, voice)

MID = Face(0.5, 0.5, 0.5, 0.5, 0.5)


def f0_estimate(wave, sr=VOICE_SR):
    """The f0 (80..400 Hz, 0.5 Hz steps) whose first 8 harmonics gather the most spectral magnitude.
    (The autocorrelation peak is fooled by a strong F2 ringing in "i".)"""
    x = wave.double().numpy()
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    candidates = np.arange(80.0, 400.0, 0.5)
    score = [np.interp(np.arange(1, 9) * c, freqs, mag).sum() for c in candidates]
    return float(candidates[int(np.argmax(score))])


def centroid(wave, sr=VOICE_SR):
    power = torch.fft.rfft(wave.double()).abs() ** 2
    return float((power * torch.fft.rfftfreq(len(wave), 1 / sr)).sum() / power.sum())


def test_faces_sample_and_validate():
    faces = sample_faces(5, seed=1)
    assert len(faces) == 5 and all(isinstance(f, Face) for f in faces)
    assert faces == sample_faces(5, seed=1) and faces != sample_faces(5, seed=2)
    a = face_attributes(faces)
    assert a.shape == (5, len(FACE_ATTRIBUTES)) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert Face(1, 0, 0, 0, 0).width == 1.0 and isinstance(Face(1, 0, 0, 0, 0).width, float)
    for i, name in enumerate(FACE_ATTRIBUTES):
        values = [0.5] * 5
        values[i] = 1.5
        with pytest.raises(ValueError, match=name):
            Face(*values)
        values[i] = "big"
        with pytest.raises(TypeError, match=name):
            Face(*values)
    with pytest.raises(ValueError, match="n must be"):
        sample_faces(0)
    with pytest.raises(TypeError, match="n must be"):
        sample_faces(2.0)
    with pytest.raises(ValueError, match="seed"):
        sample_faces(2, seed=-1)


def test_render_shapes_and_determinism():
    faces = sample_faces(3, seed=4)
    img = render_faces(faces)
    assert img.shape == (3, 3, 32, 32) and img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
    assert render_faces(faces, 48, mouth_open=[0.0, 0.5, 1.0]).shape == (3, 3, 48, 48)
    assert torch.equal(render_faces([faces[2]])[0], img[2])  # the same picture in any batch
    assert torch.equal(render_faces(faces, mouth_open=torch.zeros(3)), img)  # None = closed


def test_render_attributes_change_the_picture():
    def face(**kw):
        return Face(**{**dict(width=0.5, eyes=0.5, mouth=0.5, skin=0.8, hair=0.3), **kw})

    narrow, wide = render_faces([face(width=0.0), face(width=1.0)])
    background = narrow[:, 0, 0].view(3, 1, 1)
    drawn = [((img - background).abs().sum(0) > 0.1).sum() for img in (narrow, wide)]
    assert drawn[1] > drawn[0] * 1.2
    closed, opened = render_faces([face(), face()], mouth_open=[0.0, 1.0])
    dark = [(img.mean(0) < 0.3).sum() for img in (closed, opened)]
    assert dark[1] > dark[0] + 5
    red, cyan = render_faces([face(hair=0.0), face(hair=0.5)])
    assert (red[:, 5:9] - cyan[:, 5:9]).abs().max() > 0.3  # the top rows: the hair cap
    assert red[0, 5:9].mean() > cyan[0, 5:9].mean()
    assert torch.equal(red[:, 13:], cyan[:, 13:])  # below the hair line nothing changes
    big, small = render_faces([face(eyes=1.0), face(eyes=0.0)])
    assert (big.mean(0) < 0.3).sum() > (small.mean(0) < 0.3).sum()


def test_render_errors():
    with pytest.raises(TypeError, match="faces"):
        render_faces(MID)
    with pytest.raises(ValueError, match="faces is empty"):
        render_faces([])
    with pytest.raises(ValueError, match="resolution"):
        render_faces([MID], resolution=4)
    with pytest.raises(ValueError, match="mouth_open must hold one value per face"):
        render_faces([MID, MID], mouth_open=[0.5])
    with pytest.raises(ValueError, match="mouth_open values must be in"):
        render_faces([MID], mouth_open=[1.5])
    with pytest.raises(TypeError, match="mouth_open"):
        render_faces([MID], mouth_open="open")


def test_voice_shape_determinism_and_silent_attributes():
    w = voice(MID)
    assert w.shape == (VOICE_SR // 2,) and w.dtype == torch.float32
    assert abs(w.abs().max().item() - 0.5) < 1e-6
    assert torch.equal(w, voice(MID)) and not torch.equal(w, voice(MID, seed=1))
    for vowel in VOWELS:  # skin and hair are not heard at all
        a = voice(Face(0.3, 0.6, 0.7, 0.0, 0.0), vowel=vowel, seed=5)
        b = voice(Face(0.3, 0.6, 0.7, 1.0, 0.9), vowel=vowel, seed=5)
        assert torch.equal(a, b)
    assert voice(MID, duration=0.25, sample_rate=16000).shape == (4000,)


@pytest.mark.parametrize("vowel", list(VOWELS))
def test_width_lowers_the_pitch(vowel):
    estimates = []
    for width in (0.0, 0.5, 1.0):
        face = Face(width, 0.2, 0.9, 0.5, 0.5)
        f0 = f0_estimate(voice(face, seed=3, vowel=vowel))
        assert abs(f0 / pitch(face) - 1) < 0.05  # jitter <= 3 %, vibrato 1 %
        estimates.append(f0)
    assert estimates[0] > estimates[1] > estimates[2]
    assert pitch(Face(0, .5, .5, .5, .5)) == 260.0 and math.isclose(pitch(Face(1, .5, .5, .5, .5)), 110.0)


@pytest.mark.parametrize("vowel", list(VOWELS))
def test_mouth_raises_f2_and_eyes_shift_f1(vowel):
    f1, f2, f3 = formants(MID, vowel)
    assert (f1, f2) == VOWELS[vowel] and f3 < VOICE_SR / 2
    assert formants(Face(0.5, 0.5, 1.0, 0.5, 0.5), vowel)[1] == f2 + 200
    assert formants(Face(0.5, 1.0, 0.5, 0.5, 0.5), vowel)[0] == f1 + 50
    for width in (0.0, 0.5, 1.0):
        narrow, wide = (voice(Face(width, 0.5, m, 0.5, 0.5), vowel=vowel, seed=2) for m in (0.0, 1.0))
        assert centroid(wide) > centroid(narrow)
    small, big = (voice(Face(0.5, e, 0.5, 0.5, 0.5), vowel=vowel) for e in (0.0, 1.0))
    assert centroid(big) > centroid(small)


def test_voice_errors():
    with pytest.raises(TypeError, match="face must be a Face"):
        voice((0.5,) * 5)
    with pytest.raises(ValueError, match="unknown vowel 'o'; valid choices: a, e, i, u"):
        voice(MID, vowel="o")
    with pytest.raises(ValueError, match="sample_rate 4000 Hz is too low.*Nyquist"):
        voice(MID, sample_rate=4000)
    with pytest.raises(TypeError, match="sample_rate"):
        voice(MID, sample_rate=8000.0)
    with pytest.raises(ValueError, match="duration"):
        voice(MID, duration=0)
    with pytest.raises(ValueError, match="duration"):
        voice(MID, duration=1e9)
    with pytest.raises(ValueError, match="seed"):
        voice(MID, seed=-3)


def test_random_syllables():
    s = random_syllables(20, seed=1)
    assert len(s) == 20 and set(s) <= set(VOWELS) and s == random_syllables(20, seed=1)
    assert s != random_syllables(20, seed=2)
    with pytest.raises(ValueError, match="n must be"):
        random_syllables(0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_speech_mouth_follows_the_sound(seed):
    face = sample_faces(1, seed=seed)[0]
    syllables = random_syllables(6, seed=seed)
    syllable, gap = 0.18, 0.06
    wave, mouth, rate = speech(face, syllables, seed=seed)
    assert rate == FRAME_RATE == 25
    assert wave.dtype == mouth.dtype == torch.float32 and wave.ndim == mouth.ndim == 1
    n_gap, n_syl = round(gap * VOICE_SR), round(syllable * VOICE_SR)
    assert len(wave) == len(syllables) * (n_syl + n_gap) + n_gap
    assert len(mouth) == math.ceil(len(wave) / VOICE_SR * 25)  # frames of the clip at 25 fps
    assert abs(wave.abs().max().item() - 0.5) < 1e-6
    hop = VOICE_SR // 25
    centres = ((torch.arange(len(mouth)) + 0.5) * hop).long().clamp(max=len(wave) - 1)  # samples
    period = n_syl + n_gap
    in_gap = ((centres % period) < n_gap) | (centres >= len(syllables) * period)
    assert in_gap.sum() >= len(syllables) and (mouth[in_gap] == 0).all()  # closed in the gaps
    assert (mouth[~in_gap] > 0).all() and mouth.max() <= max(OPENING.values())
    frames = torch.zeros(len(mouth) * hop)
    frames[:len(wave)] = wave
    rms = frames.view(len(mouth), hop).pow(2).mean(1).sqrt()
    corr = torch.corrcoef(torch.stack([rms, mouth]))[0, 1]
    assert corr > 0.8
    again = speech(face, syllables, seed=seed)
    assert torch.equal(again[0], wave) and torch.equal(again[1], mouth)
    assert not torch.equal(speech(face, syllables, seed=seed + 10)[0], wave)


def test_speech_open_vowels_open_wider_and_errors():
    _, mouth, _ = speech(MID, ["a", "i"], seed=0, syllable=0.4, gap=0.1)
    half = len(mouth) // 2
    assert mouth[:half].max() > mouth[half:].max()  # "a" opens wider than "i"
    assert render_faces([MID] * len(mouth), mouth_open=mouth).shape == (len(mouth), 3, 32, 32)
    with pytest.raises(ValueError, match="syllables is empty"):
        speech(MID, [])
    with pytest.raises(ValueError, match="unknown vowel 'x' in syllables"):
        speech(MID, ["a", "x"])
    with pytest.raises(TypeError, match="syllables must be a list or tuple"):
        speech(MID, "aei")
    with pytest.raises(ValueError, match="syllable must be"):
        speech(MID, ["a"], syllable=0.01)
    with pytest.raises(ValueError, match="gap must be"):
        speech(MID, ["a"], gap=-0.1)
    with pytest.raises(ValueError, match="MAX_DURATION"):
        speech(MID, ["a"] * 500, syllable=0.5)
    with pytest.raises(TypeError, match="face must be a Face"):
        speech(None, ["a"])
