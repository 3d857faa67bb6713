"""Notebook 07a's pieces: noisy note recordings, the sound encoders, SoundNet's loss, the
sound localiser, and the localisation metrics (cIoU, AUC) on hand-made cases."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmcourse import metrics as M
from mmcourse.models import audiovisual as AV
from mmcourse.models.encoders import ConvEncoder
from mmcourse.world.scenes import Obj, sample_scenes
from mmcourse.world.sound import note_clips, object_sound

OBJS = [s[0] for s in sample_scenes(6, seed=1, max_objects=1)]


# ------------------------------------------------------------------ recordings
def test_note_clips_are_deterministic_and_shaped():
    a, b = note_clips(OBJS, seed=3), note_clips(OBJS, seed=3)
    assert a.waves.shape == (6, 4000) and a.waves.dtype == torch.float32
    assert torch.equal(a.waves, b.waves) and a.onsets == b.onsets
    assert not torch.equal(a.waves, note_clips(OBJS, seed=4).waves)
    assert a.objects == tuple(OBJS) and a.sample_rate == 8000


def test_note_clips_noise_level_matches_the_snr():
    clean = note_clips(OBJS, seed=0, snr_db=(100.0, 100.0))
    noisy = note_clips(OBJS, seed=0, snr_db=(10.0, 10.0))
    noise = noisy.waves - clean.waves   # same seed: same note, gain and onset; only the noise differs
    snr = 10 * torch.log10(clean.waves.pow(2).mean(1) / noise.pow(2).mean(1))
    assert torch.allclose(snr, torch.full_like(snr, 10.0), atol=0.8)


def test_note_clips_without_jitter_is_the_object_note():
    obj = Obj("square", "red", "large", 0.5, 0.5)
    c = note_clips([obj], seed=0, duration=0.4, note=0.4, snr_db=(100.0, 100.0), detune_cents=0.0, gain=(1.0, 1.0))
    assert c.onsets == (0.0,)
    assert torch.allclose(c.waves[0], object_sound(obj, 0.4, 8000).sum(0), atol=1e-4)


@pytest.mark.parametrize("kw, match", [({"objects": []}, "empty"), ({"note": 0.6}, "note <= duration"),
                                       ({"snr_db": (5.0, 1.0)}, "low <= high"), ({"gain": (0.0, 1.0)}, "0 < low"),
                                       ({"sample_rate": 1000}, "Nyquist"), ({"objects": ["red"]}, "Obj")])
def test_note_clips_refuses_bad_input(kw, match):
    args = {"objects": OBJS[:2], **kw}
    with pytest.raises((TypeError, ValueError), match=match):
        note_clips(**args)


# ------------------------------------------------------------------ encoders and classifier
def test_encoders_give_one_vector_per_clip_and_ignore_the_onset_roughly():
    torch.manual_seed(0)
    x = torch.randn(3, 4000)
    for enc in (AV.WaveformCNN(out_dim=16, width=8), AV.LogMelCNN(out_dim=16, width=8)):
        assert enc.eval()(x).shape == (3, 16)
    with pytest.raises(ValueError, match="at least 256 samples"):
        AV.WaveformCNN()(torch.randn(2, 100))
    with pytest.raises(ValueError, match=r"\(B, samples\)"):
        AV.WaveformCNN()(torch.randn(400))


def test_log_mel_is_the_package_pipeline():
    from mmcourse import audio

    enc = AV.LogMelCNN(sample_rate=8000, n_fft=512, hop_length=128, n_mels=64)
    x = torch.randn(2, 4000)
    mel = audio.melspectrogram(x, 8000, n_fft=512, hop_length=128, n_mels=64)
    assert torch.allclose(enc.log_mel(x), (audio.power_to_db(mel, top_db=80.0) + 40) / 40)


def test_sound_classifier_learns_pitch_from_a_few_steps():
    torch.manual_seed(0)
    objs = [Obj("circle", c, "large", 0.5, 0.5) for c in ("red", "blue")] * 16
    clips = note_clips(objs, seed=0, snr_db=(30.0, 30.0))
    y = torch.tensor([0, 1] * 16)
    model = AV.SoundClassifier(AV.LogMelCNN(out_dim=16, width=8), {"colour": 2})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(30):
        loss = model.loss(clips.waves, {"colour": y})
        opt.zero_grad(), loss.backward(), opt.step()
    assert (model.eval().predict(clips.waves)["colour"] == y).float().mean() == 1.0
    with pytest.raises(ValueError, match="does not have"):
        model.loss(clips.waves, {"shape": y})
    with pytest.raises(ValueError, match="class indices"):
        model.loss(clips.waves, {"colour": y + 5})


def test_distillation_loss_is_kl_and_zero_for_the_teacher():
    torch.manual_seed(0)
    s, t = {"a": torch.randn(4, 3)}, {"a": torch.randn(4, 3)}
    kl = F.kl_div(F.log_softmax(s["a"], -1), F.softmax(t["a"], -1), reduction="batchmean")
    assert torch.allclose(AV.distillation_loss(s, t), kl)
    assert AV.distillation_loss(t, t).abs() < 1e-6
    p_t, p_s = F.softmax(t["a"] / 2, -1), F.softmax(s["a"] / 2, -1)
    manual = 4 * (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    assert torch.allclose(AV.distillation_loss(s, t, temperature=2.0), manual, atol=1e-6)
    with pytest.raises(ValueError, match="lacks heads"):
        AV.distillation_loss({"b": s["a"]}, t)
    with pytest.raises(ValueError, match="differ"):
        AV.distillation_loss({"a": torch.randn(4, 5)}, t)


# ------------------------------------------------------------------ localiser
def test_localiser_scores_are_the_attended_similarity():
    torch.manual_seed(0)
    loc = AV.SoundLocaliser(6, AV.WaveformCNN(out_dim=8, width=4), dim=8, sharpness=3.0).eval()
    fm, w = torch.randn(3, 6, 4, 4), torch.randn(3, 400)
    sim = loc.similarity(fm, w)
    assert sim.shape == (3, 3, 4, 4) and sim.abs().max() <= 1 + 1e-5
    flat = sim.flatten(2)
    manual = (torch.softmax(3.0 * flat, -1) * flat).sum(-1) * loc.log_scale.exp()
    assert torch.allclose(loc.scores(fm, w), manual, atol=1e-6)
    assert torch.allclose(loc.localise(fm, w), torch.stack([sim[i, i] for i in range(3)]), atol=1e-6)
    with pytest.raises(ValueError, match="6 channels"):
        loc.loss(torch.randn(3, 5, 4, 4), w)
    with pytest.raises(ValueError, match="pair up"):
        loc.localise(fm, w[:2])


def test_fine_grid_is_the_layer_before_the_last_pool():
    enc = ConvEncoder(width=4).eval()
    x = torch.rand(2, 3, 48, 48)
    fine = enc.fine_grid(x)
    assert fine.shape == (2, 16, 12, 12)
    coarse = enc.features[-4:](fine).flatten(2).transpose(1, 2)
    assert torch.allclose(coarse, enc(x, grid=True))


# ------------------------------------------------------------------ localisation metrics
def test_localisation_iou_hand_made_cases():
    masks = torch.zeros(3, 48, 48, dtype=torch.bool)
    masks[:, 8:16, 8:16] = True
    maps = torch.zeros(3, 12, 12)
    maps[0, 2:4, 2:4] = 1.0       # right on the object
    maps[1, 9, 9] = 1.0           # far from it
    maps[2] = -1.0                # a map with nothing above zero but one cell
    maps[2, 2:4, 2:4] = -0.5
    iou = M.localisation_iou(maps, masks)
    assert iou[0] > 0.9 and iou[1] == 0.0
    assert 0 <= iou[2] <= 1
    # a perfect map at the mask's own resolution gives IoU 1
    assert M.localisation_iou(masks.float(), masks).eq(1).all()
    with pytest.raises(ValueError, match="at least one pixel"):
        M.localisation_iou(maps, masks & False)
    with pytest.raises(TypeError, match="bool"):
        M.localisation_iou(maps, masks.float())


def test_success_auc():
    assert M.success_auc(torch.ones(4)) == 1.0
    assert math.isclose(M.success_auc(torch.zeros(4)), 1 / 21, rel_tol=1e-6)   # only the threshold 0 is met
    assert math.isclose(M.success_auc(torch.tensor([0.5]), steps=3), 2 / 3, rel_tol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.success_auc(torch.tensor([1.5]))


# ------------------------------------------------------------------ SI-SDR
def test_si_sdr_matches_torchmetrics_and_hand_made_cases():
    tm = pytest.importorskip("torchmetrics.functional.audio")
    torch.manual_seed(0)
    ref = torch.randn(4, 800)
    est = ref + 0.3 * torch.randn(4, 800)
    expected = tm.scale_invariant_signal_distortion_ratio(est, ref, zero_mean=True)
    assert torch.allclose(M.si_sdr(est, ref), expected, atol=1e-3)
    # scale invariance; a noise 10x weaker in amplitude than an orthogonal signal: 20 dB
    assert torch.allclose(M.si_sdr(5 * est, ref), M.si_sdr(est, ref), atol=1e-4)
    t = torch.arange(8000) / 8000
    s, n = torch.sin(2 * math.pi * 100 * t), torch.sin(2 * math.pi * 300 * t)
    assert abs(M.si_sdr(s + 0.1 * n, s).item() - 20.0) < 0.01
    with pytest.raises(ValueError, match="silent"):
        M.si_sdr(est, torch.zeros(4, 800))
    with pytest.raises(ValueError, match="same shape"):
        M.si_sdr(est, ref[:, :700])


def test_object_guided_keeps_the_sound_choice_and_the_object_extent():
    maps = torch.tensor([[[0.9, -0.5], [0.2, 0.1]]])
    fmaps = torch.zeros(1, 3, 2, 2)
    fmaps[0, 0] = torch.tensor([[2.0, 5.0], [0.0, 1.0]])
    out = AV.object_guided(maps, fmaps)
    assert torch.allclose(out, torch.tensor([[[1.8, 0.0], [0.0, 0.1]]]))
    with pytest.raises(ValueError, match="must match"):
        AV.object_guided(maps, torch.zeros(1, 3, 3, 3))
