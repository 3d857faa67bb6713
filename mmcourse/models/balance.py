"""Why multimodal training is hard, and three remedies (notebook 10).

A late-fusion network trained on its fused loss alone can end up worse than its best single
modality: the modalities overfit and learn at different rates, and the one that learns fastest
dominates the shared gradient while the other stays under-trained (Wang, Tran & Feiszli, "What
makes training multi-modal classification networks hard?", CVPR 2020; Peng, Wei, Deng, Wang &
Hu, "Balanced multimodal learning via on-the-fly gradient modulation", CVPR 2022). This module
measures that and holds the remedies; the notebook trains.

LateFusion                  two encoders, one linear head per modality and a fused output ("sum"
                            of the two heads, or a linear layer on the "concat"enated features);
                            returns the fused logits and each modality's logits
grad_norms                  L2 norm of the .grad of named parameter groups (read after backward)
modality_dropout            zero a whole modality per sample, never every modality of one sample

Gradient-Blending (Wang et al. 2020)
overfitting_generalisation  Delta-O and Delta-G of one head over a window of its loss curves
ogr                         the overfitting-to-generalisation ratio |Delta-O / Delta-G|
gblend_weights              w_k proportional to Delta-G_k / Delta-O_k^2, summing to 1
GBlendSchedule              online G-Blend: keeps the curves, re-estimates every `every` epochs
blended_loss                sum_k w_k L_k

OGM-GE (Peng et al. 2022)
ogm_score                   s = sum_i softmax(logits_i)[y_i]: one branch's confidence in the truth
ogm_coefficients            rho = s_a / s_b and the modulation k = 1 - tanh(alpha (rho - 1)) of
                            the dominant modality (1 for the other)
apply_ogm                   scale each encoder's .grad by its k and add Gaussian noise (GE), in place
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn as nn

from .. import checks

DEFAULT_FLOOR = 0.01  # nats: the least overfitting a head is credited with (see gblend_weights)
MIN_FLOOR = 1e-6      # nats: far below what any held-out loss estimate resolves


# ---------------------------------------------------------------- a late-fusion model
class FusionOutput(NamedTuple):
    fused: torch.Tensor  # (B, n_classes): the multimodal prediction
    a: torch.Tensor      # (B, n_classes): modality a's own head
    b: torch.Tensor      # (B, n_classes): modality b's own head


class LateFusion(nn.Module):
    """Two encoders, a linear classifier on each modality's features, and a fused output.

    fusion="sum":    fused = head_a(f_a) + head_b(f_b). The unimodal heads *are* the two halves
                     of the fused classifier - a linear layer on the concatenation [f_a, f_b] with
                     W = [W_a W_b] and b = b_a + b_b. These are the branch logits OGM-GE scores
                     (Peng et al. split the bias in two halves the same way). Trained on the fused
                     loss alone it is the naive late-fusion network.
    fusion="concat": fused = Linear([f_a, f_b]), a layer of its own; head_a and head_b are
                     separate classifiers (G-Blend's unimodal heads), which learn only from
                     their own losses.

    The encoders check their own inputs; their outputs must be (B, dim) features, with dim their
    ``out_dim`` attribute or given in ``dims``.
    """

    def __init__(self, encoder_a: nn.Module, encoder_b: nn.Module, n_classes: int, fusion: str = "sum",
                 dims: tuple[int, int] | None = None):
        super().__init__()
        checks.instance(encoder_a, "encoder_a", nn.Module)
        checks.instance(encoder_b, "encoder_b", nn.Module)
        self.n_classes = checks.integer(n_classes, "n_classes", low=2)
        checks.choice(fusion, "fusion", ("sum", "concat"))
        if dims is None:
            dims = (getattr(encoder_a, "out_dim", None), getattr(encoder_b, "out_dim", None))
            if None in dims:
                raise ValueError("dims is needed: encoder_a or encoder_b has no out_dim attribute; "
                                 "pass dims=(features of encoder_a, features of encoder_b)")
        dims = checks.items(dims, "dims")
        if len(dims) != 2:
            raise ValueError(f"dims must be a (dim_a, dim_b) pair, got {dims!r}")
        self.dims = tuple(checks.integer(d, "dims", low=1) for d in dims)
        self.fusion = fusion
        self.encoder_a, self.encoder_b = encoder_a, encoder_b
        self.head_a = nn.Linear(self.dims[0], self.n_classes)
        self.head_b = nn.Linear(self.dims[1], self.n_classes)
        self.fuse = nn.Linear(sum(self.dims), self.n_classes) if fusion == "concat" else None

    def _features(self, encoder: nn.Module, x, name: str, dim: int) -> torch.Tensor:
        f = encoder(x)
        return checks.features(f, f"the output of encoder_{name}", ndim=2, dim=dim, shape="(B, dim)")

    def forward(self, x_a, x_b) -> FusionOutput:
        f_a = self._features(self.encoder_a, x_a, "a", self.dims[0])          # (B, dim_a)
        f_b = self._features(self.encoder_b, x_b, "b", self.dims[1])          # (B, dim_b)
        if f_a.shape[0] != f_b.shape[0]:
            raise ValueError(f"x_a and x_b must hold the same examples, got {f_a.shape[0]} and {f_b.shape[0]}")
        logits_a, logits_b = self.head_a(f_a), self.head_b(f_b)               # (B, n_classes) each
        fused = logits_a + logits_b if self.fuse is None else self.fuse(torch.cat([f_a, f_b], dim=1))
        return FusionOutput(fused, logits_a, logits_b)


# ---------------------------------------------------------------- gradients and modality dropout
def _params(value, name: str) -> tuple:
    """A module's parameters, or an iterable of tensors, each holding a .grad; no duplicates."""
    if isinstance(value, nn.Module):
        value = value.parameters()
    params = checks.items(value, name, torch.Tensor, nonempty=True)
    for i, p in enumerate(params):
        if p.grad is None:
            raise ValueError(f"{name}[{i}] has no .grad: call loss.backward() first, and pass only "
                             f"parameters that the loss reaches")
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"{name} lists a parameter more than once")
    return params


def grad_norms(groups: Mapping) -> dict[str, float]:
    """{name: L2 norm of the gradient of that group's parameters} - how far one backward pass
    would move each part of the network (read from .grad, so call it after backward and before
    optimizer.step; after apply_ogm it shows the modulated gradients). A group is a module or
    an iterable of parameters, each with a .grad."""
    if not isinstance(groups, Mapping) or not groups:
        raise TypeError(f"groups must be a non-empty dict {{name: module or parameters}}, got "
                        f"{type(groups).__name__}")
    norms = {}
    for key, params in groups.items():
        params = _params(params, f"groups[{key!r}]")
        norms[key] = torch.linalg.vector_norm(torch.stack([p.grad.detach().float().norm() for p in params])).item()
    return norms


def _check_generator(generator, device: torch.device):
    if generator is None:
        return
    checks.instance(generator, "generator", torch.Generator)
    if generator.device.type != device.type:
        raise ValueError(f"generator is on {generator.device} but the tensors are on {device}; "
                         f"make it with torch.Generator(device={device.type!r})")


def modality_dropout(features, p: float, training: bool, generator: torch.Generator | None = None) -> list:
    """Drop whole modalities per sample: each modality of each sample is zeroed with probability
    ``p``, independently; a sample that would lose every modality keeps one of them, chosen at
    random. So the fusion learns to predict from any subset, and cannot lean on one modality
    alone (ModDrop, Neverova et al. 2016). With two modalities a modality is dropped with
    probability p - p^2 / 2; p = 1 keeps exactly one per sample.

    features: a list of M >= 2 tensors (B, ...) of one batch. No rescaling (unlike unit dropout):
    a missing modality reads as zeros, as it would at test time. Identity (the same tensors) when
    ``training`` is False or p = 0. Returns a new list; gradients flow through the kept entries.
    """
    features = checks.items(features, "features", torch.Tensor)
    if len(features) < 2:
        raise ValueError(f"features must hold at least two modalities, got {len(features)}")
    for i, f in enumerate(features):
        checks.features(f, f"features[{i}]", ndim=(1, None), nonempty=True, shape="(B, ...)")
        if f.shape[0] != features[0].shape[0]:
            raise ValueError(f"features[{i}] has {f.shape[0]} samples but features[0] has {features[0].shape[0]}: "
                             f"every modality must hold the same batch")
    p = checks.number(p, "p", low=0.0, high=1.0)
    training = checks.flag(training, "training")
    device = features[0].device
    _check_generator(generator, device)
    if not training or p == 0.0:
        return list(features)
    batch, m = features[0].shape[0], len(features)
    drop = torch.rand(batch, m, generator=generator, device=device) < p                      # (B, M)
    rescue = torch.randint(m, (batch,), generator=generator, device=device)                   # one to keep
    every = drop.all(dim=1)
    drop[every, rescue[every]] = False
    keep = ~drop
    return [f * keep[:, i].to(device=f.device, dtype=f.dtype).view(-1, *[1] * (f.ndim - 1))
            for i, f in enumerate(features)]


# ---------------------------------------------------------------- Gradient-Blending
class Deltas(NamedTuple):
    delta_o: float  # growth of the overfitting gap O = L_val - L_train over the window
    delta_g: float  # fall of the validation loss over the window (the generalisation gained)


def _curve(values, name: str) -> list[float]:
    """One loss per epoch: a list, tuple, numpy array or 1-D tensor of finite numbers, >= 2 points."""
    t = checks.tensor(values, name, dtype="number", ndim=1, convert=None if torch.is_tensor(values) else torch.float64)
    if len(t) < 2:
        raise ValueError(f"{name} needs at least 2 points (one loss per epoch), got {len(t)}")
    return t.double().tolist()


def _deltas(train: list, val: list, start, end, where: str) -> Deltas:
    n = len(train)
    start = checks.integer(start, "start", low=0, high=n - 2)
    end = n - 1 if end is None else checks.integer(end, "end", low=start + 1, high=n - 1)
    delta_o = (val[end] - train[end]) - (val[start] - train[start])
    delta_g = val[start] - val[end]
    if not (math.isfinite(delta_o) and math.isfinite(delta_g)):
        raise ValueError(f"{where} holds losses too large to subtract (|loss| up to {max(map(abs, train + val)):.3g})")
    return Deltas(delta_o, delta_g)


def overfitting_generalisation(train_loss, val_loss, start: int = 0, end: int | None = None) -> Deltas:
    """Delta-O and Delta-G of one head between epochs ``start`` and ``end`` (default: the last).

    Wang et al. define the overfitting at epoch N as the gap O_N = L^V_N - L^T_N between
    the loss on held-out data and on the training data, and over a window from N to N + n

        Delta-O = O_{N+n} - O_N               (how much more the head overfits)
        Delta-G = L^V_N - L^V_{N+n}           (how much it generalises: the held-out loss it gains)

    train_loss[i] and val_loss[i] are the head's losses at the same moment (after epoch i, index
    0 ideally before training); val_loss is measured on a held-out split of the *training* data,
    never on the test set that reports the result.
    """
    train, val = _curve(train_loss, "train_loss"), _curve(val_loss, "val_loss")
    if len(train) != len(val):
        raise ValueError(f"train_loss and val_loss must have one point per epoch each, got {len(train)} and "
                         f"{len(val)} points")
    return _deltas(train, val, start, end, "train_loss or val_loss")


def ogr(train_loss, val_loss, start: int = 0, end: int | None = None) -> float:
    """The overfitting-to-generalisation ratio OGR = |Delta-O / Delta-G| (Wang et al.) over a
    window of one head's curves: small is good (it gains on held-out data what it gains on
    training data); math.inf when Delta-G = 0 (it gained nothing on held-out data). A negative
    Delta-G (held-out loss rose) gives a finite ratio: read it together with Delta-G."""
    d = overfitting_generalisation(train_loss, val_loss, start, end)
    return abs(d.delta_o / d.delta_g) if d.delta_g != 0 else math.inf


def gblend_weights(curves: Mapping, start: int = 0, end: int | None = None,
                   floor: float = DEFAULT_FLOOR) -> dict[str, float]:
    """Gradient-Blending weights from each head's loss curves over one window.

    curves: {head: (train_loss, val_loss)}, e.g. {"fused": ..., "image": ..., "sound": ...},
    every head's curves from the same run with one point per epoch. Wang et al.'s Proposition 1
    gives the blend sum_k w_k L_k with the smallest OGR as w_k = <grad L*, v_k> / (Z sigma_k^2),
    estimated from the curves (sigma_k^2 by Delta-O_k^2, <grad L*, v_k> by Delta-G_k) by

        w_k = (1 / Z) * Delta-G_k / Delta-O_k^2,   Z normalising the weights (here to sum 1).

    Two rules the paper leaves open, so that every window gives finite weights:
    * Delta-G_k <= 0 (the held-out loss did not fall) counts as 0: that head gets weight 0;
      if no head generalised in the window, every head gets the same weight.
    * Delta-O_k below ``floor`` (nats; the gap did not grow, or grew less than a loss measured
      on a few thousand held-out examples can resolve) counts as ``floor``: the head gets a
      large but finite weight.

    Offline G-Blend: weights from a pre-training run's curves, kept for the whole real run.
    Online G-Blend: recomputed every few epochs from the latest window (GBlendSchedule).
    """
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"curves must be a non-empty dict {{head: (train_loss, val_loss)}}, got "
                        f"{type(curves).__name__}")
    floor = checks.number(floor, "floor", low=MIN_FLOOR)
    pairs, first = {}, None
    for head, pair in curves.items():
        where = f"curves[{head!r}]"
        if isinstance(pair, (str, bytes, Mapping)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(f"{where} must be a (train_loss, val_loss) pair of curves, got {type(pair).__name__}")
        train, val = _curve(pair[0], f"{where} train_loss"), _curve(pair[1], f"{where} val_loss")
        if len(train) != len(val):
            raise ValueError(f"{where} has {len(train)} training and {len(val)} validation points: "
                             f"one of each per epoch")
        if first is not None and len(train) != len(pairs[first][0]):
            raise ValueError(f"{where} has {len(train)} points but curves[{first!r}] has {len(pairs[first][0])}: "
                             f"every head needs one point per epoch of the same run")
        first = head if first is None else first
        pairs[head] = (train, val)
    deltas = {head: _deltas(t, v, start, end, f"curves[{head!r}]") for head, (t, v) in pairs.items()}
    if all(d.delta_g <= 0 for d in deltas.values()):
        return {head: 1.0 / len(deltas) for head in deltas}
    # log(Delta-G / Delta-O^2), shifted by its maximum before exp: the same ratios, never an overflow
    logs = {head: math.log(d.delta_g) - 2 * math.log(max(d.delta_o, floor))
            for head, d in deltas.items() if d.delta_g > 0}
    top = max(logs.values())
    raw = {head: math.exp(logs[head] - top) if head in logs else 0.0 for head in deltas}
    total = sum(raw.values())
    return {head: w / total for head, w in raw.items()}


def _weights(weights, heads: tuple, name: str) -> dict[str, float]:
    if not isinstance(weights, Mapping) or set(weights) != set(heads):
        got = sorted(map(str, weights)) if isinstance(weights, Mapping) else type(weights).__name__
        raise ValueError(f"{name} must be a dict with one weight per head {list(heads)}, got {got}")
    return {h: checks.number(weights[h], f"{name}[{h!r}]", low=0.0) for h in heads}


def blended_loss(losses: Mapping, weights: Mapping) -> torch.Tensor:
    """sum_k w_k L_k over the heads (the G-Blend objective): losses {head: scalar tensor},
    weights {head: number >= 0} with the same heads."""
    if not isinstance(losses, Mapping) or not losses:
        raise TypeError(f"losses must be a non-empty dict {{head: scalar loss tensor}}, got {type(losses).__name__}")
    heads = tuple(losses)
    weights = _weights(weights, heads, "weights")
    for h in heads:
        loss = losses[h]
        if not torch.is_tensor(loss) or loss.ndim != 0 or not loss.is_floating_point():
            raise TypeError(f"losses[{h!r}] must be a scalar floating-point tensor (a loss), got {checks._short(loss)}")
    return sum(weights[h] * losses[h] for h in heads)


class GBlendSchedule:
    """Online Gradient-Blending: record each head's training and held-out loss after every epoch;
    every ``every`` epochs the weights are re-estimated with gblend_weights over the window of
    the last ``every`` epochs (Wang et al.'s "super-epoch"), and used until the next estimate.

        schedule = GBlendSchedule(["fused", "image", "sound"], every=2)
        schedule.record(losses_before_training)           # point 0 (recommended)
        for epoch in range(epochs):
            ...  loss = blended_loss({"fused": l_f, "image": l_i, "sound": l_s}, schedule.weights)
            schedule.record({"fused": (train_f, val_f), "image": (...), "sound": (...)})

    Until the first estimate the weights are ``weights`` (default: equal; offline weights from
    gblend_weights make a warm start). ``history`` lists (points recorded, weights) for a figure.
    The paper estimates each super-epoch from a separate copy of the model trained for those
    epochs; this cheaper variant uses the run's own curves - gblend_weights supports both.
    """

    def __init__(self, heads, every: int, floor: float = DEFAULT_FLOOR, weights: Mapping | None = None):
        self.heads = checks.items(heads, "heads", str, nonempty=True)
        if len(set(self.heads)) != len(self.heads):
            raise ValueError(f"heads must be distinct names, got {list(self.heads)}")
        self.every = checks.integer(every, "every", low=1)
        self.floor = checks.number(floor, "floor", low=MIN_FLOOR)
        self.weights = ({h: 1.0 / len(self.heads) for h in self.heads} if weights is None
                        else _weights(weights, self.heads, "weights"))
        self.curves = {h: ([], []) for h in self.heads}
        self.history = [(0, dict(self.weights))]

    def record(self, losses: Mapping) -> dict[str, float]:
        """Add one point per head, {head: (train_loss, val_loss)} as numbers; returns the weights
        to train with next (re-estimated when a window is complete)."""
        if not isinstance(losses, Mapping) or set(losses) != set(self.heads):
            got = sorted(map(str, losses)) if isinstance(losses, Mapping) else type(losses).__name__
            raise ValueError(f"losses must be a dict {{head: (train_loss, val_loss)}} for the heads "
                             f"{list(self.heads)}, got {got}")
        points = {}
        for h in self.heads:
            pair = losses[h]
            if isinstance(pair, (str, bytes, Mapping)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise ValueError(f"losses[{h!r}] must be a (train_loss, val_loss) pair of numbers, got {pair!r}")
            points[h] = tuple(checks.number(float(v) if torch.is_tensor(v) and v.numel() == 1 else v,
                                            f"losses[{h!r}]") for v in pair)
        for h, (t, v) in points.items():
            self.curves[h][0].append(t)
            self.curves[h][1].append(v)
        n = len(self.curves[self.heads[0]][0])
        if n > self.every and (n - 1) % self.every == 0:
            self.weights = gblend_weights(self.curves, start=n - 1 - self.every, floor=self.floor)
            self.history.append((n, dict(self.weights)))
        return self.weights


# ---------------------------------------------------------------- OGM-GE
class OGMCoefficients(NamedTuple):
    k_a: float  # gradient scale for modality a's encoder
    k_b: float  # gradient scale for modality b's encoder
    rho: float  # discrepancy ratio s_a / s_b (> 1: a dominates)


def ogm_score(logits: torch.Tensor, targets) -> float:
    """Peng et al.'s score of one modality on a batch: s = sum_i softmax(logits_i)[y_i],
    the summed probability its branch gives the true class. logits (B, n_classes) are that
    modality's branch (LateFusion's ``a`` or ``b``), targets (B,) class indices."""
    checks.features(logits, "logits", ndim=2, nonempty=True, shape="(B, n_classes)")
    if logits.shape[1] < 2:
        raise ValueError(f"logits must have at least 2 classes (B, n_classes), got shape {tuple(logits.shape)}")
    targets = checks.token_ids(targets, "targets", logits.shape[1], ndim=1, what="class indices")
    if len(targets) != len(logits):
        raise ValueError(f"targets must hold one class per row of logits ({len(logits)}), got {len(targets)}")
    with torch.no_grad():
        probs = logits.float().softmax(dim=1)
        return probs.gather(1, targets.to(logits.device)[:, None]).sum().item()


def _score(value, name: str) -> float:
    if torch.is_tensor(value):
        if value.numel() != 1:
            raise ValueError(f"{name} must be one number (a 1-element tensor), got shape {tuple(value.shape)}")
        value = value.detach().item()
    return checks.number(value, name, low=0.0, low_open=True)


def ogm_coefficients(score_a, score_b, alpha: float, shifted: bool = True) -> OGMCoefficients:
    """On-the-fly gradient modulation coefficients from two branches' scores (Peng et al.).

    rho = s_a / s_b is the discrepancy ratio (rho^b = 1 / rho). The dominant modality u (rho^u > 1)
    has its encoder's gradient scaled by

        k_u = 1 - tanh(alpha * (rho^u - 1))      (shifted=True, the default)
        k_u = 1 - tanh(alpha * rho^u)            (shifted=False: Eq. 10 as printed and coded by the authors)

    and the other modality keeps k = 1. The shifted form is continuous at rho = 1 (balanced
    branches are left alone); Eq. 10 jumps from 1 to 1 - tanh(alpha) as soon as one branch leads.
    alpha > 0 sets the strength (the authors use 0.1 to 0.8). Scores are numbers or 1-element
    tensors, > 0 (ogm_score's sums of probabilities).
    """
    s_a, s_b = _score(score_a, "score_a"), _score(score_b, "score_b")
    alpha = checks.number(alpha, "alpha", low=0.0, low_open=True)
    shifted = checks.flag(shifted, "shifted")
    rho = s_a / s_b
    k_a = k_b = 1.0
    if rho > 1:
        k_a = 1.0 - math.tanh(alpha * (rho - 1 if shifted else rho))
    elif rho < 1:
        k_b = 1.0 - math.tanh(alpha * (1 / rho - 1 if shifted else 1 / rho))
    return OGMCoefficients(k_a, k_b, rho)


def apply_ogm(encoder_params_a, encoder_params_b, coeffs, noise: bool = True,
              generator: torch.Generator | None = None) -> None:
    """Modulate the gradients of the two encoders in place, between loss.backward() and
    optimizer.step() (Peng et al.: OGM, then GE):

        g <- k * g                              for every parameter of modality u's encoder (k = k_u)
        g <- g + N(0, std(g)^2)                 if noise (GE, generalisation enhancement)

    The noise has the standard deviation of the (modulated) gradient itself, per parameter
    tensor, and goes to both encoders. (The authors' code, GeWu-Lab/OGM-GE_CVPR2022, draws it
    with the std of the *unmodulated* gradient and only for convolution weights; the paper's
    covariance of the SGD noise is approximated by this per-tensor std either way.) encoder_params_a / _b: a module
    or an iterable of parameters, each with a .grad, no parameter in both. Pass the encoders
    only - the fusion head is not modulated. coeffs: ogm_coefficients' result or a (k_a, k_b)
    pair in [0, 1]. Under AMP call it after scaler.unscale_(optimizer). ``generator`` (on the
    gradients' device) makes the noise reproducible.
    """
    params_a = _params(encoder_params_a, "encoder_params_a")
    params_b = _params(encoder_params_b, "encoder_params_b")
    shared = {id(p) for p in params_a} & {id(p) for p in params_b}
    if shared:
        raise ValueError(f"encoder_params_a and encoder_params_b share {len(shared)} parameter(s): each "
                         f"parameter belongs to one modality's encoder")
    if isinstance(coeffs, OGMCoefficients):
        coeffs = (coeffs.k_a, coeffs.k_b)
    if isinstance(coeffs, (str, bytes, Mapping)) or torch.is_tensor(coeffs) or not hasattr(coeffs, "__len__") \
            or len(coeffs) != 2:
        raise TypeError(f"coeffs must be ogm_coefficients(...) or a (k_a, k_b) pair, got {checks._short(coeffs)}")
    k_a, k_b = (checks.number(k, "coeffs", low=0.0, high=1.0) for k in coeffs)
    noise = checks.flag(noise, "noise")
    if noise:
        for p in params_a + params_b:
            _check_generator(generator, p.grad.device)
    elif generator is not None:
        checks.instance(generator, "generator", torch.Generator)
    with torch.no_grad():
        for params, k in ((params_a, k_a), (params_b, k_b)):
            for p in params:
                g = p.grad
                g.mul_(k)
                if noise and g.numel():
                    std = g.std(correction=0)
                    g.add_(torch.randn(g.shape, generator=generator, device=g.device, dtype=g.dtype) * std)
