"""Metrics: retrieval for 1:N matching, and BLEU for generated text.

Retrieval:

A similarity matrix ``sim`` (Q queries x G gallery items) and a boolean ``relevant`` (Q x G)
saying which gallery items are correct for each query: one image per caption for text->image,
several captions per image for image->text. recall@K is the share of queries with at least
one correct item among their K most similar (the cross-modal retrieval convention, also
called hit rate); the rank of a query is the 1-based position of its first correct item.

BLEU (Papineni et al., 2002) is computed by NLTK's ``corpus_bleu``, the implementation the
captioning literature has long used: modified n-gram precisions pooled over the corpus,
geometric mean, brevity penalty against the closest reference length.
"""
from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F

from . import checks


def _check(sim, relevant) -> tuple[torch.Tensor, torch.Tensor]:
    """sim (Q, G) finite numbers (as floats) and relevant (Q, G) as bool, Q and G >= 1."""
    sim = checks.tensor(sim, "sim", dtype="number")
    relevant = checks.tensor(relevant, "relevant")
    if sim.ndim != 2 or relevant.shape != sim.shape:
        raise ValueError(f"sim and relevant must be the same (Q, G) shape, got {tuple(sim.shape)}, {tuple(relevant.shape)}")
    if sim.numel() == 0:
        raise ValueError(f"sim needs at least one query and one gallery item, got shape {tuple(sim.shape)}")
    if relevant.is_complex():
        raise ValueError(f"relevant must be bool (or 0/1), got dtype {relevant.dtype}")
    relevant = relevant.bool()
    if not relevant.any(dim=1).all():
        raise ValueError("every query needs at least one relevant gallery item")
    return (sim if sim.is_floating_point() else sim.float()), relevant


def first_relevant_rank(sim: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(Q,) 1-based rank of the best-ranked relevant item for each query (ties: pessimistic)."""
    sim, relevant = _check(sim, relevant)
    best = sim.masked_fill(~relevant, float("-inf")).max(dim=1).values  # score of the best relevant item
    return (sim > best.unsqueeze(1)).sum(dim=1) + (sim == best.unsqueeze(1)).sum(dim=1)


def recall_at_k(sim: torch.Tensor, relevant: torch.Tensor, ks=(1, 5, 10)) -> dict[int, float]:
    """{k: share of queries whose first relevant item ranks <= k} for every k in ``ks``."""
    ks = [checks.integer(k, f"ks[{i}]", low=1) for i, k in enumerate(checks.items(ks, "ks", nonempty=True))]
    ranks = first_relevant_rank(sim, relevant)
    return {k: (ranks <= k).float().mean().item() for k in ks}


def median_rank(sim: torch.Tensor, relevant: torch.Tensor) -> float:
    """The median over queries of the rank of the first relevant item."""
    return first_relevant_rank(sim, relevant).float().median().item()


def relevance(query_ids: torch.Tensor, gallery_ids: torch.Tensor) -> torch.Tensor:
    """(Q, G) boolean: query q and gallery item g belong to the same scene."""
    query_ids = checks.tensor(query_ids, "query_ids", dtype="number", ndim=1)
    gallery_ids = checks.tensor(gallery_ids, "gallery_ids", dtype="number", ndim=1)
    return query_ids.view(-1, 1) == gallery_ids.view(1, -1)


def bleu(references, hypotheses, max_n: int = 4) -> dict[int, float]:
    """Corpus BLEU-1..``max_n`` (uniform weights): ``{1: ..., 4: ...}``.

    ``references``: one list of reference sentences per hypothesis; ``hypotheses``: one
    sentence each. A sentence is a string (split on spaces) or a list of tokens (words or ids).
    NLTK's convention: a hypothesis shorter than n tokens still counts one (unmatched) n-gram,
    so very short outputs lower BLEU-n even when they equal a reference. No n-gram in common
    gives BLEU-n = 0 (without NLTK's warning).
    """
    from nltk.translate.bleu_score import corpus_bleu

    def toks(s, name):
        if isinstance(s, str):
            return s.split()
        tokens = checks.items(s, name)
        for i, t in enumerate(tokens):
            if not isinstance(t, (str, numbers.Integral)) or isinstance(t, bool):
                raise TypeError(f"{name}[{i}] must be a word or a token id, got {t!r}")
        return list(tokens)

    references, hypotheses = checks.items(references, "references"), checks.items(hypotheses, "hypotheses")
    if len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(f"need one list of references per hypothesis (and at least one), got "
                         f"{len(references)} reference lists for {len(hypotheses)} hypotheses")
    if any(isinstance(r, str) or not hasattr(r, "__len__") or not len(r) for r in references):
        raise ValueError("each entry of references must be a non-empty list of reference sentences")
    max_n = checks.integer(max_n, "max_n", low=1, high=4)
    refs = [[toks(r, f"references[{i}][{j}]") for j, r in enumerate(checks.items(rs, f"references[{i}]"))]
            for i, rs in enumerate(references)]
    hyps = [toks(h, f"hypotheses[{i}]") for i, h in enumerate(hypotheses)]
    with warnings.catch_warnings():  # NLTK warns when no n-gram matches; the score is then 0, which is the answer
        warnings.filterwarnings("ignore", message=r"\s*The hypothesis contains 0 counts", category=UserWarning)
        return {n: float(corpus_bleu(refs, hyps, weights=(1 / n,) * n)) for n in range(1, max_n + 1)}


# ------------------------------------------------------------------ sound source localisation
def localisation_iou(maps: torch.Tensor, masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """IoU of each localisation map with the sounding object's mask: (B,) in [0, 1].

    maps (B, h, w) real scores (a coarse grid: a feature map); masks (B, H, W) bool, the
    object's pixels. Each map is upsampled bilinearly to H x W, and the pixels scoring at
    least ``threshold`` times the map's maximum form the predicted region (cells below zero
    never do) - the binarisation of Senocak et al. 2018, with one annotator's mask as the
    consensus. Their cIoU@0.5 is ``(localisation_iou(...) >= 0.5).float().mean()``.
    """
    maps = checks.tensor(maps, "maps", dtype="number", ndim=3)
    masks = checks.tensor(masks, "masks", ndim=3)
    threshold = checks.number(threshold, "threshold", low=0, high=1, low_open=True)
    if masks.dtype != torch.bool:
        raise TypeError(f"masks must be a bool tensor (B, H, W), got dtype {masks.dtype}")
    if len(maps) != len(masks) or len(maps) == 0:
        raise ValueError(f"maps and masks must pair up, one mask per map (B >= 1): got {len(maps)} and {len(masks)}")
    if not masks.flatten(1).any(1).all():
        raise ValueError("every mask needs at least one pixel of the object; an empty mask has no IoU")
    up = F.interpolate(maps.float()[:, None], size=masks.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = up.flatten(1).amax(1).clamp(min=1e-12)[:, None, None]
    region = up >= threshold * peak
    return (region & masks).flatten(1).sum(1) / (region | masks).flatten(1).sum(1)


def success_auc(ious: torch.Tensor, steps: int = 21) -> float:
    """Area under the success curve: the share of samples with IoU >= t, averaged over t in
    ``steps`` evenly spaced thresholds from 0 to 1 (the AUC of Senocak et al. 2018)."""
    ious = checks.tensor(ious, "ious", dtype="number", ndim=1)
    steps = checks.integer(steps, "steps", low=2, high=10_000)
    if len(ious) == 0 or (ious < 0).any() or (ious > 1).any():
        raise ValueError("ious must be a non-empty 1-D tensor of values in [0, 1]")
    t = torch.linspace(0, 1, steps)
    return float((ious.float()[None] >= t[:, None]).float().mean(1).mean())


# ------------------------------------------------------------------ source separation
def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, zero_mean: bool = True) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), one per signal.

    estimate and reference: (..., samples) real tensors of the same shape. The reference is
    scaled to fit the estimate best (alpha = <est, ref> / <ref, ref>); SI-SDR = 10 log10(
    |alpha ref|^2 / |est - alpha ref|^2). ``zero_mean`` removes each signal's mean first (as
    torchmetrics and the paper do). A silent reference has no defined SI-SDR and is refused.
    The *improvement* (SI-SDRi) of a separator is si_sdr(estimate, ref) - si_sdr(mixture, ref).
    """
    estimate = checks.features(estimate, "estimate", ndim=(1, None), shape="(..., samples)")
    reference = checks.features(reference, "reference", ndim=(1, None), shape="(..., samples)")
    zero_mean = checks.flag(zero_mean, "zero_mean")
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate and reference must have the same shape (..., samples), got "
                         f"{tuple(estimate.shape)} and {tuple(reference.shape)}")
    if estimate.shape[-1] < 2:
        raise ValueError(f"signals need at least 2 samples, got shape {tuple(estimate.shape)}")
    est, ref = estimate.double(), reference.double()
    if zero_mean:
        est, ref = est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True)
    energy = ref.pow(2).sum(-1, keepdim=True)
    if (energy <= 1e-20).any():
        raise ValueError("a reference signal is silent (all zeros after removing its mean): its SI-SDR is undefined")
    target = (est * ref).sum(-1, keepdim=True) / energy * ref
    noise = est - target
    eps = torch.finfo(torch.float64).tiny
    return (10 * torch.log10(target.pow(2).sum(-1).clamp(min=eps) / noise.pow(2).sum(-1).clamp(min=eps))).float()


# ------------------------------------------------------------------ 3D shapes
def voxel_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of occupancy grids, one per shape: pred and target (B, D, H, W),
    boolean or values in [0, 1] (occupied where > ``threshold``). Two empty grids agree: IoU 1."""
    pred = checks.tensor(pred, "pred", ndim=4)
    target = checks.tensor(target, "target", ndim=4)
    threshold = checks.number(threshold, "threshold", low=0.0, high=1.0)
    for name, grid in (("pred", pred), ("target", target)):
        if grid.is_complex():
            raise ValueError(f"{name} must be a boolean or real-valued occupancy grid, got dtype {grid.dtype}")
    if pred.shape != target.shape or pred.shape[0] == 0:
        raise ValueError(f"pred and target must be non-empty grids of the same shape (B, D, H, W), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    a = pred > threshold if pred.dtype != torch.bool else pred
    b = target > threshold if target.dtype != torch.bool else target
    inter = (a & b).flatten(1).sum(1).double()
    union = (a | b).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).float()


def chamfer_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Symmetric Chamfer distance between point clouds a (N, 3) and b (M, 3): the mean squared
    distance from each point of a to its nearest point of b, plus the same from b to a."""
    a = checks.features(a, "a", ndim=2, dim=3, nonempty=True, shape="(N, 3)")
    b = checks.features(b, "b", ndim=2, dim=3, nonempty=True, shape="(M, 3)")
    if len(a) * len(b) > 10 ** 8:
        raise ValueError(f"{len(a)} x {len(b)} point pairs are more than 10^8: subsample the clouds first")
    d = torch.cdist(a.double(), b.double()).pow(2)
    out = (d.min(1).values.mean() + d.min(0).values.mean()).item()
    if not math.isfinite(out):
        raise ValueError("the squared distances between a and b overflow float64: the coordinates are too large")
    return out


def part_iou(pred: torch.Tensor, target: torch.Tensor, n_parts: int) -> torch.Tensor:
    """IoU of each part label over all points (n_parts,): points predicted as part k and truly
    of it, over points predicted as k or truly of it; NaN for a part in neither. The mean over
    the parts present (``.nanmean()``) is the mIoU of part segmentation."""
    n_parts = checks.integer(n_parts, "n_parts", low=1, high=100_000)
    pred = checks.tensor(pred, "pred", dtype="number")
    target = checks.tensor(target, "target", dtype="number")
    if pred.shape != target.shape or pred.numel() == 0:
        raise ValueError(f"pred and target must be non-empty labels of the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    for name, x in (("pred", pred), ("target", target)):
        if x.is_floating_point() and not torch.equal(x, x.round()):
            raise ValueError(f"{name} must hold integer part labels, got fractional values")
        if x.min() < 0 or x.max() >= n_parts:
            raise ValueError(f"{name} must hold part labels 0..{n_parts - 1}, got {int(x.min())}..{int(x.max())}")
    pred, target = pred.long().flatten(), target.long().flatten()
    inter = torch.bincount(target[pred == target], minlength=n_parts).double()
    union = (torch.bincount(pred, minlength=n_parts) + torch.bincount(target, minlength=n_parts)).double() - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, float("nan"))).float()
