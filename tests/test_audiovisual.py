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


# ------------------------------------------------------------------ notebook 07b: Looking to Listen
def _separator(n_sources=1, cond_dim=0):
    return AV.MaskSeparator(n_sources, cond_dim=cond_dim, n_fft=64, hop_length=16, hidden=8, dilations=(1, 2)).eval()


@pytest.mark.parametrize("n_sources", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 3])
def test_mask_separator_shapes_and_masks_in_unit_range(n_sources, cond_dim):
    torch.manual_seed(0)
    sep = _separator(n_sources, cond_dim)
    mix = torch.randn(3, 500)
    cond = torch.randn(3, cond_dim) if cond_dim else None
    masks = sep.masks(mix, cond)
    assert masks.shape == (3, n_sources, 33, 1 + 500 // 16)
    assert masks.min() >= 0 and masks.max() <= 1
    out = sep(mix, cond)
    assert out.shape == (3, n_sources, 500) and torch.isfinite(out).all()


def test_mask_separator_condition_changes_the_estimate():
    torch.manual_seed(0)
    sep = _separator(1, cond_dim=3)
    with torch.no_grad():
        sep.film[1].weight.normal_()   # a FiLM layer that does something (its init is random, but be sure)
    mix = torch.randn(1, 400)
    a, b = sep(mix, torch.tensor([[1.0, 0.0, 0.0]])), sep(mix, torch.tensor([[0.0, 0.0, 1.0]]))  # (layer-normalised: not a scaling)
    assert not torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("n_sources", [1, 2])
def test_mask_separator_with_masks_of_one_gives_back_the_mixture(n_sources):
    torch.manual_seed(0)
    sep = _separator(n_sources)
    with torch.no_grad():
        sep.out.weight.zero_()
        sep.out.bias.fill_(50.0)   # sigmoid(50) == 1 in float32: every mask passes everything
    mix = torch.randn(2, 517)
    assert torch.equal(sep.masks(mix), torch.ones_like(sep.masks(mix)))
    out = sep(mix)
    assert torch.allclose(out, mix[:, None].expand_as(out), atol=1e-4)


def test_mask_separator_with_masks_of_zero_is_silent():
    sep = _separator(2)
    with torch.no_grad():
        sep.out.weight.zero_()
        sep.out.bias.fill_(-50.0)
    assert sep(torch.randn(2, 300)).abs().max() < 1e-6


@pytest.mark.parametrize("cond_dim, mix, cond, match", [
    (0, torch.randn(2, 300), torch.randn(2, 3), "cond"),                   # audio-only separator given cond
    (3, torch.randn(2, 300), None, "cond"),                                # conditioned one without it
    (3, torch.randn(2, 300), torch.randn(2, 4), "cond"),                   # wrong width
    (3, torch.randn(2, 300), torch.randn(3, 3), "cond"),                   # rows != mixtures
    (3, torch.randn(2, 300), torch.randn(3), "cond"),                      # 1-D cond
    (0, torch.randn(2, 40), None, "mix"),                                  # shorter than n_fft (64)
    (0, torch.randn(2, 1, 300), None, "mix"),                              # 3-D mix
    (0, torch.randn(2, 300).double(), None, "mix"),                        # not the model's dtype
    (0, torch.full((2, 300), float("nan")), None, "mix"),
])
def test_mask_separator_refuses_bad_input(cond_dim, mix, cond, match):
    sep = _separator(2, cond_dim)
    with pytest.raises((ValueError, TypeError), match=match):
        sep(mix, cond)


def test_pit_loss_is_minus_the_best_permutation_si_sdr_as_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.audio")
    torch.manual_seed(0)
    for n in (2, 3):
        src = torch.randn(4, n, 400)
        est = src[:, torch.randperm(n)] + 0.5 * torch.randn(4, n, 400)
        best, _ = tm.permutation_invariant_training(est, src, tm.scale_invariant_signal_distortion_ratio,
                                                    mode="speaker-wise", eval_func="max", zero_mean=True)
        loss = AV.pit_loss(est, src)
        assert loss.shape == ()
        assert torch.allclose(loss, -best.mean(), rtol=1e-3)
        # and by hand: the mean over the batch of the best assignment's mean SI-SDR
        import itertools
        per = torch.stack([M.si_sdr(est[:, list(p)], src).mean(1) for p in itertools.permutations(range(n))], 1)
        assert torch.allclose(loss, -per.amax(1).mean(), atol=1e-5)


def test_pit_loss_ignores_the_order_of_the_estimates():
    torch.manual_seed(1)
    src = torch.randn(3, 3, 300)
    est = src + 0.3 * torch.randn(3, 3, 300)
    loss = AV.pit_loss(est, src)
    for perm in ([1, 0, 2], [2, 0, 1], [2, 1, 0]):
        assert torch.allclose(AV.pit_loss(est[:, perm], src), loss, atol=1e-5)
    # only the best assignment counts: it is never worse than the identity assignment
    assert loss <= -M.si_sdr(est[:, [1, 0, 2]], src).mean() + 1e-5


def test_pit_loss_of_a_perfect_estimate_is_very_negative_and_it_has_gradients():
    torch.manual_seed(2)
    src = torch.randn(2, 2, 300)
    assert AV.pit_loss(src.flip(1).clone(), src) < -50
    est = (src + 0.5 * torch.randn(2, 2, 300)).requires_grad_()
    loss = AV.pit_loss(est, src)
    loss.backward()
    assert est.grad is not None and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    with torch.no_grad():   # a small step against the gradient lowers the loss
        assert AV.pit_loss(est - 0.05 * est.grad / est.grad.norm(), src) < loss


@pytest.mark.parametrize("est, src, match", [
    (torch.randn(2, 2, 100), torch.randn(2, 2, 90), "same shape"),
    (torch.randn(2, 2, 100), torch.randn(2, 3, 100), "same shape"),
    (torch.randn(1, 7, 50), torch.randn(1, 7, 50), "1 to 6 sources"),
    (torch.randn(2, 100), torch.randn(2, 100), "estimates"),
    (torch.randn(2, 2, 100), torch.randn(2, 100), "sources"),
    (torch.randn(2, 2, 100), torch.zeros(2, 2, 100), "sources"),              # a silent source
    (torch.randn(2, 2, 100), torch.ones(2, 2, 100), "sources"),               # constant: silent once centred
    (torch.randn(2, 0, 100), torch.randn(2, 0, 100), "estimates"),            # no sources at all
    (torch.randn(2, 2, 1), torch.randn(2, 2, 1), "estimates"),                # one sample
])
def test_pit_loss_refuses_bad_input(est, src, match):
    with pytest.raises((ValueError, TypeError), match=match):
        AV.pit_loss(est, src)


# ------------------------------------------------------------------ Speech2Face
def test_face_targets_treat_hue_as_an_angle():
    attrs = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0], [0.1, 0.2, 0.3, 0.4, 1.0], [0.5, 0.5, 0.5, 0.5, 0.25]])
    t = AV.face_targets(attrs)
    assert t.shape == (3, 6)
    assert torch.allclose(t[0], t[1], atol=1e-6)                            # hair 0 and 1: the same red
    assert torch.equal(t[:, :4], attrs[:, :4])
    assert torch.allclose(t[2, 4:], torch.tensor([1.0, 0.0]), atol=1e-6)    # hue 0.25: (sin, cos) = (1, 0)
    assert torch.allclose(t[0, 4:], torch.tensor([0.0, 1.0]), atol=1e-6)
    for bad in (torch.rand(3, 4), torch.rand(3, 6), torch.rand(5)):
        with pytest.raises(ValueError, match="attributes"):
            AV.face_targets(bad)


def test_face_encoder_shapes_and_attributes_invert_the_targets():
    from mmcourse.world import faces as FW

    torch.manual_seed(0)
    enc = AV.FaceEncoder(dim=6, width=4).eval()
    images = FW.render_faces(FW.sample_faces(3, seed=0))
    assert enc(images).shape == (3, 6)
    assert AV.FaceEncoder(dim=10, width=4).eval()(images).shape == (3, 10)
    hue = enc.attributes(torch.randn(50, 6))[:, 4]
    assert hue.min() >= 0 and hue.max() < 1
    # a head that is the identity (after a shift keeping the ReLU's input positive) gives back
    # the attributes that made the targets, hue included
    attrs = FW.face_attributes(FW.sample_faces(8, seed=1))
    with torch.no_grad():
        enc.head.weight.copy_(torch.eye(6))
        enc.head.bias.fill_(-2.0)
    assert torch.allclose(enc.attributes(AV.face_targets(attrs) + 2.0), attrs, atol=1e-5)
    with pytest.raises(ValueError, match="features"):
        enc.attributes(torch.randn(2, 5))


def test_face_encoder_fits_a_few_real_faces():
    from mmcourse.world import faces as FW

    torch.manual_seed(0)
    faces = FW.sample_faces(16, seed=3)
    images, attrs = FW.render_faces(faces), FW.face_attributes(faces)
    enc = AV.FaceEncoder(dim=16, width=4)
    opt = torch.optim.Adam(enc.parameters(), 1e-2)
    first = enc.loss(images, attrs).item()
    for _ in range(25):
        loss = enc.loss(images, attrs)
        opt.zero_grad(), loss.backward(), opt.step()
    assert loss.item() < 0.5 * first
    with pytest.raises(ValueError, match="attributes"):
        enc.loss(images, attrs[:3])    # one row of attributes per image


def test_face_decoder_gives_pictures_in_unit_range():
    torch.manual_seed(0)
    dec = AV.FaceDecoder(dim=8)
    out = dec(torch.randn(4, 8) * 5)
    assert out.shape == (4, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    assert dec.eval()(torch.randn(1, 8)).shape == (1, 3, 32, 32)
    for bad in (torch.randn(4, 7), torch.randn(8), torch.randn(0, 8)):
        with pytest.raises(ValueError, match="features"):
            dec(bad)


# ------------------------------------------------------------------ image -> units -> sound
def _tone(freq, n=4000, sr=8000, amp=0.5):
    return amp * torch.sin(2 * math.pi * freq * torch.arange(n) / sr)


def test_unit_features_shape_range_and_loudness_invariance():
    torch.manual_seed(0)
    x = torch.randn(3, 2000) * torch.linspace(0.1, 1, 2000)
    f = AV.unit_features(x, 8000, chunk=400, n_mels=32)
    assert f.shape == (3, 5, 32)
    assert f.min() >= -1 and f.max() <= 0
    assert torch.equal(f.amax(-1), torch.zeros(3, 5))              # the loudest band of every chunk is 0
    assert torch.allclose(AV.unit_features(10 * x, 8000, 400, 32), f, atol=1e-4)
    assert torch.allclose(AV.unit_features(0.01 * x, 8000, 400, 32), f, atol=1e-4)
    # floor_db: the floor moves, the ratio stays in [-1, 0]
    g = AV.unit_features(x, 8000, 400, 32, floor_db=20.0)
    assert g.min() >= -1 and torch.allclose(g, (f * 60 / 20).clamp(min=-1), atol=1e-5)


def test_unit_features_drop_trailing_samples_and_tell_tones_apart():
    x = torch.stack([_tone(300), _tone(1200)])
    f = AV.unit_features(x, 8000, 400, 16)
    assert torch.equal(AV.unit_features(torch.cat([x, torch.randn(2, 399)], 1), 8000, 400, 16), f)
    assert f.shape == (2, 10, 16)
    assert (f[0] - f[1]).abs().mean() > 0.1                          # different pitch, different features
    assert torch.allclose(f[0], f[0, :1].expand_as(f[0]), atol=1e-3)  # a steady tone: the same every chunk
    assert f[0].argmax() < f[1, 0].argmax()                          # the higher tone peaks in a higher band
    assert torch.allclose(AV.unit_features(x[:, :400], 8000, 400, 16), f[:, :1], atol=1e-6)
    # Hann-windowed: a tone between two FFT bins (310 Hz, 20 Hz bins) leaks nothing into far bands
    off = AV.unit_features(_tone(310)[None], 8000, 400, 16)
    assert torch.equal(off[0, :, 4:], torch.full((10, 12), -1.0))


@pytest.mark.parametrize("kw, match", [({"waves": torch.randn(2, 300)}, "chunk"),
                                       ({"n_mels": 202}, "n_mels"),
                                       ({"sample_rate": 500}, "sample_rate"),
                                       ({"sample_rate": 8000.0}, "sample_rate"),
                                       ({"waves": torch.randn(800)}, "waves"),
                                       ({"waves": torch.randn(2, 800).half()}, "waves"),
                                       ({"floor_db": 0.0}, "floor_db")])
def test_unit_features_refuses_bad_input(kw, match):
    args = {"waves": torch.randn(2, 800), "sample_rate": 8000, "chunk": 400, "n_mels": 16, **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        AV.unit_features(**args)


def test_unit_vocoder_shapes_and_target():
    torch.manual_seed(0)
    voc = AV.UnitVocoder(5, n_fft=64, hop_length=16, frames_per_unit=3, dim=8)
    units = torch.tensor([[0, 1, 4, 2], [3, 3, 3, 3]])
    out = voc(units)
    assert out.shape == (2, 33, 4 * 3)
    waves = torch.randn(2, 4 * 3 * 16)
    target = voc.target(waves)
    assert target.shape == out.shape
    spec = torch.stft(waves, 64, 16, window=torch.hann_window(64), return_complex=True)
    assert torch.allclose(target, torch.log(spec.abs() + 1e-3)[..., :12])
    assert voc.target(torch.randn(2, 4 * 3 * 16 + 40)).shape == out.shape   # trimmed to whole units
    # one unit held for its frames: before the smoothing, the same vector frames_per_unit times
    assert torch.allclose(voc(units[:, :1]), voc(units[:, :1].clone()))


def test_unit_vocoder_speaks():
    torch.manual_seed(0)
    voc = AV.UnitVocoder(5, n_fft=64, hop_length=16, frames_per_unit=2, dim=8)
    one = voc.speak(torch.tensor([1, 2, 3]), n_iter=4)
    assert one.ndim == 1 and abs(len(one) - 3 * 2 * 16) <= 16 and torch.isfinite(one).all()
    two = voc.speak(torch.tensor([[1, 2, 3], [4, 0, 0]]), n_iter=4)
    assert two.shape == (2, len(one)) and torch.isfinite(two).all()


@pytest.mark.parametrize("units, match", [(torch.tensor([[0, 5]]), "unit ids"), (torch.tensor([[-1, 2]]), "unit ids"),
                                          (torch.tensor([[0.0, 1.0]]), "units"),
                                          (torch.zeros(1, 0, dtype=torch.long), "at least one unit"),
                                          (torch.zeros(0, dtype=torch.long), "at least one unit"),
                                          (torch.zeros(2, 2, 2, dtype=torch.long), "units")])
def test_unit_vocoder_refuses_bad_units(units, match):
    voc = AV.UnitVocoder(5, n_fft=64, hop_length=16, frames_per_unit=2, dim=8)
    with pytest.raises((ValueError, TypeError), match=match):
        voc.speak(units, n_iter=2)
    if units.ndim == 2:
        with pytest.raises((ValueError, TypeError), match=match):
            voc(units)


def test_unit_vocoder_target_refuses_bad_waves():
    voc = AV.UnitVocoder(5, n_fft=64, hop_length=16, frames_per_unit=2, dim=8)
    for bad in (torch.randn(2, 20), torch.randn(100), torch.full((2, 100), float("nan"))):
        with pytest.raises((ValueError, TypeError), match="waves"):
            voc.target(bad)


# ------------------------------------------------------------------ lip movement
def test_lip_features_shape_and_alignment_with_speech():
    from mmcourse.world import faces as FW

    x = torch.randn(2, 5 * 320 + 17)
    assert AV.lip_features(x, 8000).shape == (2, 40, 6)                 # ceil(1617 / 320)
    assert AV.lip_features(x[:, :1600], 8000, frame_rate=25, n_mels=20).shape == (2, 20, 5)
    assert AV.lip_features(x, 16000, frame_rate=50).shape == (2, 40, 6)  # 320 samples per frame again
    face = FW.sample_faces(1, seed=0)[0]
    wave, mouth, rate = FW.speech(face, FW.random_syllables(8, seed=1), seed=2)
    f = AV.lip_features(wave[None], FW.VOICE_SR, frame_rate=rate)
    assert f.shape == (1, 40, len(mouth))
    loudness = f[0].mean(0)                                              # louder where the mouth is open
    assert torch.corrcoef(torch.stack([loudness, mouth]))[0, 1] > 0.5


def test_lip_features_frames_are_centred_on_the_video_frames():
    hop = 320
    for k in (0, 2, 4):
        for offset in (hop // 4, hop // 2, 3 * hop // 4):                # a click early, mid or late in frame k
            x = torch.zeros(1, 5 * hop)
            x[0, k * hop + offset] = 1.0
            assert AV.lip_features(x, 8000)[0].mean(0).argmax() == k, (k, offset)


@pytest.mark.parametrize("kw, match", [({"sample_rate": 8001}, "multiple of frame_rate"),
                                       ({"frame_rate": 7}, "multiple of frame_rate"),
                                       ({"waves": torch.randn(2, 300)}, "at least one video frame"),
                                       ({"waves": torch.randn(800)}, "waves"),
                                       ({"waves": torch.randn(2, 800).half()}, "waves"),
                                       ({"sample_rate": 500}, "sample_rate")])
def test_lip_features_refuse_bad_input(kw, match):
    args = {"waves": torch.randn(2, 800), "sample_rate": 8000, **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        AV.lip_features(**args)


def test_lip_regressor_gives_one_opening_per_frame():
    torch.manual_seed(0)
    reg = AV.LipRegressor(n_mels=8, hidden=4)
    out = reg(torch.randn(3, 8, 11) * 10)
    assert out.shape == (3, 11) and out.min() > 0 and out.max() < 1
    assert reg(torch.randn(1, 8, 1)).shape == (1, 1)
    for bad in (torch.randn(3, 7, 11), torch.randn(8, 11), torch.randn(3, 8, 11).double()):
        with pytest.raises((ValueError, TypeError), match="frames"):
            reg(bad)
