"""Notebook 10's package pieces (issue 18): Gradient-Blending weights from hand-made loss curves,
OGM-GE coefficients and gradient modulation, modality dropout, the late-fusion model, and clear
errors on bad input."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmcourse.models import balance as B

# Hand-made curves (losses after epochs 0, 1, 2).
# "image" overfits: O goes 0.1 -> 0.9 (Delta-O 0.8) while its held-out loss falls 2.1 -> 1.4 (Delta-G 0.7).
# "sound" barely overfits: O goes 0.0 -> 0.2 (Delta-O 0.2), held-out loss 2.0 -> 1.4 (Delta-G 0.6).
IMAGE = ([2.0, 1.0, 0.5], [2.1, 1.5, 1.4])
SOUND = ([2.0, 1.5, 1.2], [2.0, 1.6, 1.4])


# ------------------------------------------------------------------ G-Blend: Delta-O, Delta-G, OGR
def test_deltas_and_ogr_match_a_hand_computation():
    d = B.overfitting_generalisation(*IMAGE)
    assert d.delta_o == pytest.approx(0.8) and d.delta_g == pytest.approx(0.7)
    assert B.ogr(*IMAGE) == pytest.approx(0.8 / 0.7)
    # the window from epoch 1 to 2: O 0.5 -> 0.9, held-out 1.5 -> 1.4
    d = B.overfitting_generalisation(*IMAGE, start=1, end=2)
    assert d == pytest.approx((0.4, 0.1))
    assert B.ogr(*IMAGE, start=0, end=1) == pytest.approx(abs((0.5 - 0.1) / (2.1 - 1.5)))


def test_curves_may_be_tensors_or_arrays_and_ogr_is_inf_without_generalisation():
    d = B.overfitting_generalisation(torch.tensor(IMAGE[0]), np.array(IMAGE[1]))
    assert d == pytest.approx((0.8, 0.7))
    assert B.ogr([1.0, 0.5], [1.0, 1.0]) == math.inf


# ------------------------------------------------------------------ G-Blend: weights
def test_gblend_weights_match_a_hand_computation_and_the_overfitting_head_gets_less():
    w = B.gblend_weights({"image": IMAGE, "sound": SOUND})
    raw = {"image": 0.7 / 0.8 ** 2, "sound": 0.6 / 0.2 ** 2}            # Delta-G / Delta-O^2
    total = sum(raw.values())
    assert list(w) == ["image", "sound"]
    assert w["image"] == pytest.approx(raw["image"] / total) and w["sound"] == pytest.approx(raw["sound"] / total)
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["image"] < w["sound"]


def test_gblend_weights_with_three_heads_and_a_window():
    fused = ([2.0, 1.2, 0.6], [2.0, 1.6, 1.5])                        # window 1 -> 2: Delta-O 0.5, Delta-G 0.1
    w = B.gblend_weights({"fused": fused, "image": IMAGE, "sound": SOUND}, start=1)
    raw = {"fused": 0.1 / 0.5 ** 2, "image": 0.1 / 0.4 ** 2, "sound": 0.2 / 0.1 ** 2}
    total = sum(raw.values())
    assert w == pytest.approx({k: v / total for k, v in raw.items()})


def test_gblend_weights_clip_negative_generalisation_and_floor_small_overfitting():
    worse = ([1.0, 0.5], [1.0, 1.2])                                  # held-out loss rose: Delta-G -0.2 -> 0
    no_gap = ([1.0, 0.8], [1.2, 0.9])                                 # gap shrank: Delta-O -0.1 -> floor
    w = B.gblend_weights({"worse": worse, "no_gap": no_gap, "image": IMAGE_2}, floor=0.1)
    raw = {"worse": 0.0, "no_gap": 0.3 / 0.1 ** 2, "image": 0.7 / 0.8 ** 2}
    total = sum(raw.values())
    assert w == pytest.approx({k: v / total for k, v in raw.items()})
    assert w["worse"] == 0.0
    # a smaller floor gives the head that does not overfit more of the weight
    assert B.gblend_weights({"no_gap": no_gap, "image": IMAGE_2}, floor=0.01)["no_gap"] > w["no_gap"]


IMAGE_2 = ([2.0, 0.5], [2.1, 1.4])                                    # IMAGE's epochs 0 and 2


def test_gblend_weights_are_equal_when_no_head_generalises():
    flat = ([1.0, 0.9], [1.0, 1.0])
    worse = ([1.0, 0.5], [1.0, 1.3])
    assert B.gblend_weights({"a": flat, "b": worse, "c": worse}) == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_gblend_weights_stay_finite_for_tiny_and_huge_losses():
    tiny = ([1e-9, 0.0], [2e-9, 1e-9])
    huge = ([1e200, 0.5e200], [1e200, 0.9e200])
    for curves in ({"a": tiny, "b": IMAGE_2}, {"a": huge, "b": IMAGE_2}):
        w = B.gblend_weights(curves, floor=B.MIN_FLOOR)
        assert all(math.isfinite(v) and v >= 0 for v in w.values()) and sum(w.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("kw, error, match", [
    ({"curves": {"a": ([1.0, 0.5, 0.4], [1.0, 0.9])}}, ValueError, r"curves\['a'\] has 3 training and 2 validation"),
    ({"curves": {"a": IMAGE, "b": IMAGE_2}}, ValueError, r"curves\['b'\] has 2 points but curves\['a'\] has 3"),
    ({"curves": {"a": ([1.0], [1.0])}}, ValueError, r"curves\['a'\] train_loss needs at least 2 points"),
    ({"curves": {"a": ([1.0, float("nan")], [1.0, 0.9])}}, ValueError, r"curves\['a'\] train_loss contains NaN"),
    ({"curves": {"a": ([1.0, 0.5], ["x", 0.4])}}, TypeError, r"curves\['a'\] val_loss must be a tensor"),
    ({"curves": {"a": IMAGE[0]}}, ValueError, r"curves\['a'\] must be a \(train_loss, val_loss\) pair"),
    ({"curves": [IMAGE, SOUND]}, TypeError, "curves must be a non-empty dict"),
    ({"curves": {}}, TypeError, "curves must be a non-empty dict"),
    ({"start": 2}, ValueError, r"start must be an int in \[0, 1\]"),
    ({"start": 1, "end": 1}, ValueError, r"end must be an int in \[2, 2\]"),
    ({"end": 3}, ValueError, r"end must be an int in \[1, 2\]"),
    ({"start": 0.5}, TypeError, "start must be an int"),
    ({"floor": 0.0}, ValueError, "floor must be a finite number >= 1e-06"),
])
def test_gblend_weights_refuse_bad_input(kw, error, match):
    args = {"curves": {"image": IMAGE, "sound": SOUND}, **kw}
    with pytest.raises(error, match=match):
        B.gblend_weights(**args)


@pytest.mark.parametrize("args, match", [
    (([1.0, 0.5, 0.4], [1.0, 0.9]), "train_loss and val_loss must have one point per epoch each, got 3 and 2"),
    (([1.0, 0.5], [[1.0, 0.9]]), r"val_loss must have 1 dimension"),
    ((None, [1.0, 0.9]), "train_loss must be a tensor"),
    (([1.0, 0.5], [1.0, float("inf")]), "val_loss contains NaN or inf"),
    (([1e308, -1e308], [-1e308, 1e308]), "too large to subtract"),
])
def test_deltas_refuse_bad_curves(args, match):
    with pytest.raises((TypeError, ValueError), match=match):
        B.overfitting_generalisation(*args)
    with pytest.raises((TypeError, ValueError), match=match):
        B.ogr(*args)


# ------------------------------------------------------------------ G-Blend: online schedule and the loss
def test_schedule_recomputes_from_the_last_window_only():
    sched = B.GBlendSchedule(["image", "sound"], every=2)
    assert sched.weights == {"image": 0.5, "sound": 0.5}
    curves = {"image": ([2.0, 1.0, 0.5, 0.4, 0.3], [2.1, 1.5, 1.4, 1.45, 1.5]),
              "sound": ([2.0, 1.5, 1.2, 1.0, 0.9], [2.0, 1.6, 1.4, 1.3, 1.25])}
    for i in range(5):
        w = sched.record({h: (torch.tensor(t[i]), v[i]) for h, (t, v) in curves.items()})
        if i < 2:
            assert w == {"image": 0.5, "sound": 0.5}
        if i == 2:                                                    # window 0 -> 2: the offline weights
            assert w == pytest.approx(B.gblend_weights({"image": IMAGE, "sound": SOUND}))
        if i == 3:
            assert w == pytest.approx(B.gblend_weights({"image": IMAGE, "sound": SOUND}))  # unchanged mid-window
    # window 2 -> 4: image's held-out loss rose (weight 0), so sound takes everything
    assert w == pytest.approx({"image": 0.0, "sound": 1.0})
    assert w == pytest.approx(B.gblend_weights(curves, start=2))
    assert [n for n, _ in sched.history] == [0, 3, 5]
    assert sched.curves["sound"][1] == curves["sound"][1]


def test_schedule_starts_from_given_weights_and_refuses_bad_input():
    sched = B.GBlendSchedule(("a", "b"), every=1, weights={"a": 0.9, "b": 0.1})
    assert sched.weights == {"a": 0.9, "b": 0.1}
    for kw, match in [({"heads": []}, "heads is empty"), ({"heads": ["a", "a"]}, "heads must be distinct"),
                      ({"every": 0}, "every must be an int >= 1"), ({"weights": {"a": 1.0}}, "weights must be a dict"),
                      ({"weights": {"a": 1.0, "b": -1.0}}, r"weights\['b'\] must be a finite number >= 0"),
                      ({"floor": -1.0}, "floor must be")]:
        with pytest.raises((TypeError, ValueError), match=match):
            B.GBlendSchedule(**{"heads": ["a", "b"], "every": 2, **kw})
    for losses, match in [({"a": (1.0, 1.0)}, "losses must be a dict"), ([(1.0, 1.0)] * 2, "losses must be a dict"),
                          ({"a": (1.0, 1.0), "b": 1.0}, r"losses\['b'\] must be a \(train_loss, val_loss\) pair"),
                          ({"a": (1.0, float("nan")), "b": (1.0, 1.0)}, r"losses\['a'\] must be a finite number")]:
        with pytest.raises((TypeError, ValueError), match=match):
            sched.record(losses)
    assert sched.curves == {"a": ([], []), "b": ([], [])}              # a refused record adds nothing


def test_blended_loss_weights_each_head():
    x = torch.tensor(2.0, requires_grad=True)
    losses = {"fused": x * 1.0, "image": x * 2.0, "sound": x * 3.0}
    out = B.blended_loss(losses, {"fused": 0.5, "image": 0.25, "sound": 0.25})
    assert out.item() == pytest.approx(0.5 * 2 + 0.25 * 4 + 0.25 * 6)
    out.backward()
    assert x.grad.item() == pytest.approx(0.5 + 0.5 + 0.75)
    with pytest.raises(ValueError, match="weights must be a dict with one weight per head"):
        B.blended_loss(losses, {"fused": 1.0})
    with pytest.raises(TypeError, match=r"losses\['image'\] must be a scalar"):
        B.blended_loss({"fused": x, "image": torch.ones(3)}, {"fused": 1.0, "image": 1.0})
    with pytest.raises(TypeError, match="losses must be a non-empty dict"):
        B.blended_loss([x], {"fused": 1.0})


# ------------------------------------------------------------------ OGM-GE: scores and coefficients
def test_ogm_score_sums_the_true_class_probability():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]])
    assert B.ogm_score(logits, torch.tensor([1, 0, 0])) == pytest.approx(0.5 + 0.75 + 0.5)
    assert B.ogm_score(logits, [0, 1, 1]) == pytest.approx(0.5 + 0.25 + 0.5)
    with pytest.raises(ValueError, match="targets must hold class indices in"):
        B.ogm_score(logits, torch.tensor([0, 2, 0]))
    with pytest.raises(ValueError, match="targets must hold one class per row of logits"):
        B.ogm_score(logits, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="targets must be a tensor of class indices"):
        B.ogm_score(logits, torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        B.ogm_score(logits.long(), torch.tensor([0, 1, 1]))


def test_ogm_coefficients_equal_scores_leave_both_alone():
    c = B.ogm_coefficients(3.0, 3.0, alpha=0.5)
    assert (c.k_a, c.k_b, c.rho) == (1.0, 1.0, 1.0)
    assert B.ogm_coefficients(3.0, 3.0, alpha=0.5, shifted=False)[:2] == (1.0, 1.0)


def test_ogm_coefficients_slow_down_the_dominant_modality_only():
    c = B.ogm_coefficients(torch.tensor(6.0), 3.0, alpha=0.5)           # a dominates: rho = 2
    assert c.rho == 2.0 and c.k_a == pytest.approx(1 - math.tanh(0.5 * (2 - 1))) and c.k_b == 1.0
    assert 0 < c.k_a < 1
    c = B.ogm_coefficients(2.0, 8.0, alpha=0.3)                         # b dominates: rho^b = 4
    assert c.rho == 0.25 and c.k_a == 1.0 and c.k_b == pytest.approx(1 - math.tanh(0.3 * 3))
    c = B.ogm_coefficients(2.0, 8.0, alpha=0.3, shifted=False)          # Eq. 10 as printed
    assert c.k_b == pytest.approx(1 - math.tanh(0.3 * 4)) and c.k_a == 1.0
    # stronger alpha, stronger modulation; a larger lead, stronger modulation
    assert B.ogm_coefficients(6.0, 3.0, 1.0).k_a < B.ogm_coefficients(6.0, 3.0, 0.5).k_a
    assert B.ogm_coefficients(9.0, 3.0, 0.5).k_a < B.ogm_coefficients(6.0, 3.0, 0.5).k_a


@pytest.mark.parametrize("kw, error, match", [
    ({"alpha": 0.0}, ValueError, "alpha must be a finite number > 0"),
    ({"alpha": -1.0}, ValueError, "alpha must be"),
    ({"alpha": "0.5"}, TypeError, "alpha must be"),
    ({"score_a": 0.0}, ValueError, "score_a must be a finite number > 0"),
    ({"score_b": -2.0}, ValueError, "score_b must be"),
    ({"score_b": float("nan")}, ValueError, "score_b must be"),
    ({"score_a": torch.ones(2)}, ValueError, "score_a must be one number"),
    ({"score_a": None}, TypeError, "score_a must be"),
    ({"shifted": 1}, TypeError, "shifted must be True or False"),
])
def test_ogm_coefficients_refuse_bad_input(kw, error, match):
    with pytest.raises(error, match=match):
        B.ogm_coefficients(**{"score_a": 2.0, "score_b": 1.0, "alpha": 0.5, **kw})


# ------------------------------------------------------------------ OGM-GE: gradient modulation
def _encoders_with_grads():
    torch.manual_seed(0)
    enc_a, enc_b, head = nn.Linear(30, 40), nn.Linear(20, 40), nn.Linear(80, 3)
    x_a, x_b = torch.randn(16, 30), torch.randn(16, 20)
    loss = F.cross_entropy(head(torch.cat([enc_a(x_a), enc_b(x_b)], 1)), torch.randint(3, (16,)))
    loss.backward()
    return enc_a, enc_b, head


def _grads(*modules):
    return [p.grad.clone() for m in modules for p in m.parameters()]


def test_apply_ogm_without_noise_scales_exactly_the_right_group():
    enc_a, enc_b, head = _encoders_with_grads()
    before_a, before_b, before_head = _grads(enc_a), _grads(enc_b), _grads(head)
    coeffs = B.ogm_coefficients(6.0, 3.0, alpha=0.5)                    # a dominates
    B.apply_ogm(enc_a, enc_b, coeffs, noise=False)
    assert all(torch.equal(p.grad, g * coeffs.k_a) for p, g in zip(enc_a.parameters(), before_a))
    assert all(torch.equal(p.grad, g) for p, g in zip(enc_b.parameters(), before_b))           # k_b = 1
    assert all(torch.equal(p.grad, g) for p, g in zip(head.parameters(), before_head))       # not passed
    # a plain pair and lists of parameters work too; the second group is scaled, the first not
    B.apply_ogm(list(enc_a.parameters()), enc_b.parameters(), (1.0, 0.25), noise=False)
    assert all(torch.equal(p.grad, g * 0.25) for p, g in zip(enc_b.parameters(), before_b))


def test_apply_ogm_noise_has_the_gradients_own_std_and_is_reproducible():
    enc_a, enc_b, head = _encoders_with_grads()
    before_a, before_head = _grads(enc_a), _grads(head)
    B.apply_ogm(enc_a, enc_b, (0.5, 1.0), generator=torch.Generator().manual_seed(1))
    once = _grads(enc_a, enc_b)
    weight, w0 = enc_a.weight.grad, before_a[0] * 0.5
    noise = weight - w0
    assert noise.std().item() == pytest.approx(w0.std(correction=0).item(), rel=0.1)
    assert noise.mean().abs().item() < 0.1 * w0.std().item()
    assert all(torch.equal(p.grad, g) for p, g in zip(head.parameters(), before_head))
    enc_a, enc_b, head = _encoders_with_grads()
    B.apply_ogm(enc_a, enc_b, (0.5, 1.0), generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(once, _grads(enc_a, enc_b)))


def test_apply_ogm_refuses_bad_input_before_touching_a_gradient():
    enc_a, enc_b, head = _encoders_with_grads()
    before = _grads(enc_a, enc_b)
    unused = nn.Linear(2, 2)
    cases = [
        ((list(enc_a.parameters()) + list(unused.parameters()), enc_b, (0.5, 1.0)), {},
         ValueError, r"encoder_params_a\[2\] has no .grad"),
        ((enc_a, [enc_b.weight, enc_a.bias], (0.5, 1.0)), {}, ValueError, "share 1 parameter"),
        ((enc_a, [enc_b.weight, enc_b.weight], (0.5, 1.0)), {}, ValueError, "encoder_params_b lists a parameter more"),
        ((enc_a, [], (0.5, 1.0)), {}, ValueError, "encoder_params_b is empty"),
        ((enc_a, enc_b.weight, (0.5, 1.0)), {}, TypeError, "encoder_params_b must be a list or tuple"),
        ((enc_a, [1.0], (0.5, 1.0)), {}, TypeError, r"encoder_params_b\[0\] must be a Tensor"),
        ((enc_a, enc_b, (0.5, 1.5)), {}, ValueError, r"coeffs must be a finite number in \[0.0, 1.0\]"),
        ((enc_a, enc_b, (0.5, 1.0, 2.0)), {}, TypeError, "coeffs must be ogm_coefficients"),
        ((enc_a, enc_b, 0.5), {}, TypeError, "coeffs must be ogm_coefficients"),
        ((enc_a, enc_b, (0.5, 1.0)), {"noise": "yes"}, TypeError, "noise must be True or False"),
        ((enc_a, enc_b, (0.5, 1.0)), {"generator": 0}, TypeError, "generator must be a Generator"),
    ]
    for args, kw, error, match in cases:
        with pytest.raises(error, match=match):
            B.apply_ogm(*args, **kw)
    assert all(torch.equal(a, b) for a, b in zip(before, _grads(enc_a, enc_b)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_apply_ogm_refuses_a_generator_on_another_device():
    enc_a, enc_b, _ = _encoders_with_grads()
    with pytest.raises(ValueError, match="generator is on cuda"):
        B.apply_ogm(enc_a, enc_b, (0.5, 1.0), generator=torch.Generator(device="cuda"))


def test_grad_norms_read_each_groups_gradient():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1, 1))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([[4.0]])
    assert B.grad_norms({"a": [a], "both": [a, b]}) == pytest.approx({"a": 3.0, "both": 5.0})
    with pytest.raises(ValueError, match=r"groups\['x'\]\[0\] has no .grad"):
        B.grad_norms({"x": [nn.Parameter(torch.zeros(2))]})
    with pytest.raises(TypeError, match="groups must be a non-empty dict"):
        B.grad_norms([a])


# ------------------------------------------------------------------ modality dropout
def test_modality_dropout_never_drops_every_modality_of_a_sample():
    g = torch.Generator().manual_seed(0)
    feats = [torch.rand(4000, 3) + 0.5, torch.rand(4000, 2, 2) + 0.5, torch.rand(4000, 5) + 0.5]
    for p in (0.3, 0.9, 1.0):
        out = B.modality_dropout(feats, p, training=True, generator=g)
        kept = torch.stack([(o.flatten(1) != 0).all(1) for o in out], 1)                   # (B, M)
        dropped = torch.stack([(o.flatten(1) == 0).all(1) for o in out], 1)
        assert (kept | dropped).all()                                  # a whole modality, or nothing
        assert kept.any(1).all()                                       # never every modality
        if p == 1.0:
            assert (kept.sum(1) == 1).all()
        for o, f, k in zip(out, feats, kept.T):
            assert torch.equal(o[k], f[k])                             # kept entries unchanged (no rescaling)


def test_modality_dropout_rate_with_two_modalities():
    a, b = torch.ones(20000, 4), torch.ones(20000, 4)
    out = B.modality_dropout([a, b], 0.5, True, torch.Generator().manual_seed(3))
    rate = (out[0][:, 0] == 0).float().mean().item()
    assert rate == pytest.approx(0.5 - 0.5 ** 2 / 2, abs=0.02)         # p - p^2 / 2 = 0.375


def test_modality_dropout_is_identity_when_not_training_and_reproducible():
    feats = [torch.rand(8, 3), torch.rand(8, 2)]
    out = B.modality_dropout(feats, 0.7, training=False)
    assert all(o is f for o, f in zip(out, feats))
    assert all(o is f for o, f in zip(B.modality_dropout(feats, 0.0, training=True), feats))
    one = B.modality_dropout(feats, 0.5, True, torch.Generator().manual_seed(5))
    two = B.modality_dropout(feats, 0.5, True, torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(one, two))


def test_modality_dropout_passes_gradients_to_the_kept_entries():
    a = torch.rand(64, 3, requires_grad=True)
    b = torch.rand(64, 3, requires_grad=True)
    out = B.modality_dropout([a, b], 0.5, True, torch.Generator().manual_seed(0))
    (out[0].sum() + out[1].sum()).backward()
    assert torch.equal(a.grad, (out[0] != 0).float()) and torch.equal(b.grad, (out[1] != 0).float())


@pytest.mark.parametrize("kw, error, match", [
    ({"features": [torch.rand(4, 3)]}, ValueError, "features must hold at least two modalities"),
    ({"features": torch.rand(2, 4, 3)}, TypeError, "features must be a list or tuple"),
    ({"features": [torch.rand(4, 3), torch.rand(5, 3)]}, ValueError,
     r"features\[1\] has 5 samples but features\[0\] has 4"),
    ({"features": [torch.rand(4, 3), torch.ones(4, 3, dtype=torch.long)]}, TypeError,
     r"features\[1\] must be a floating"),
    ({"features": [torch.rand(0, 3), torch.rand(0, 3)]}, ValueError, r"features\[0\] is empty"),
    ({"features": [torch.rand(4, 3), "x"]}, TypeError, r"features\[1\] must be a Tensor"),
    ({"p": 1.5}, ValueError, r"p must be a finite number in \[0.0, 1.0\]"),
    ({"p": -0.1}, ValueError, "p must be"),
    ({"training": 1}, TypeError, "training must be True or False"),
    ({"generator": 3}, TypeError, "generator must be a Generator"),
])
def test_modality_dropout_refuses_bad_input(kw, error, match):
    args = {"features": [torch.rand(4, 3), torch.rand(4, 2)], "p": 0.5, "training": True, **kw}
    with pytest.raises(error, match=match):
        B.modality_dropout(**args)


# ------------------------------------------------------------------ the late-fusion model
class Encoder(nn.Module):
    def __init__(self, d_in, out_dim):
        super().__init__()
        self.net, self.out_dim = nn.Linear(d_in, out_dim), out_dim

    def forward(self, x):
        return torch.relu(self.net(x))


def test_late_fusion_sum_is_the_sum_of_the_heads_and_each_head_reaches_only_its_encoder():
    torch.manual_seed(0)
    model = B.LateFusion(Encoder(5, 8), Encoder(3, 6), n_classes=4)
    out = model(torch.randn(7, 5), torch.randn(7, 3))
    assert out.fused.shape == out.a.shape == out.b.shape == (7, 4)
    assert torch.allclose(out.fused, out.a + out.b)
    F.cross_entropy(out.a, torch.randint(4, (7,))).backward()
    assert model.encoder_b.net.weight.grad is None and model.head_b.weight.grad is None
    assert model.encoder_a.net.weight.grad.abs().sum() > 0


def test_late_fusion_concat_has_its_own_fused_layer():
    torch.manual_seed(0)
    model = B.LateFusion(Encoder(5, 8), nn.Linear(3, 6), n_classes=4, fusion="concat", dims=(8, 6))
    out = model(torch.randn(7, 5), torch.randn(7, 3))
    assert model.fuse.weight.shape == (4, 14)
    assert not torch.allclose(out.fused, out.a + out.b)
    F.cross_entropy(out.fused, torch.randint(4, (7,))).backward()
    assert model.head_a.weight.grad is None                            # the unimodal heads learn only from their losses
    assert model.encoder_a.net.weight.grad.abs().sum() > 0 and model.encoder_b.weight.grad.abs().sum() > 0


def test_late_fusion_refuses_bad_input():
    for kw, error, match in [({"fusion": "product"}, ValueError, "unknown fusion 'product'"),
                             ({"n_classes": 1}, ValueError, "n_classes must be an int >= 2"),
                             ({"encoder_a": "cnn"}, TypeError, "encoder_a must be a Module"),
                             ({"encoder_b": nn.Linear(3, 6)}, ValueError, "dims is needed"),
                             ({"dims": (8,)}, ValueError, r"dims must be a \(dim_a, dim_b\) pair"),
                             ({"dims": (8, 0)}, ValueError, "dims must be an int >= 1")]:
        with pytest.raises(error, match=match):
            B.LateFusion(**{"encoder_a": Encoder(5, 8), "encoder_b": Encoder(3, 6), "n_classes": 4, **kw})
    model = B.LateFusion(Encoder(5, 8), Encoder(3, 6), n_classes=4)
    with pytest.raises(ValueError, match="x_a and x_b must hold the same examples, got 7 and 6"):
        model(torch.randn(7, 5), torch.randn(6, 3))
    wrong = B.LateFusion(Encoder(5, 8), nn.Linear(3, 5), n_classes=4, dims=(8, 6))
    with pytest.raises(ValueError, match="the output of encoder_b must have 6 features"):
        wrong(torch.randn(7, 5), torch.randn(7, 3))
