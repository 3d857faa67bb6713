"""Contrastive and metric learning in a shared embedding space.

ProjectionHead   features -> shared dimension, L2-normalised (cosine similarity = dot product)
info_nce         CLIP's symmetric cross-entropy at a given scale (1 / temperature)
InfoNCE          the same as a module with a learnable temperature
hinge_rank_loss  DeViSE-style ranking loss for image tagging (several correct tags per image)
zero_shot        classify images by the nearest class prompt (with prompt ensembles)
analogy          image - old attribute + new attribute, renormalised (multimodal arithmetic)
DualEncoder      an image tower and a text tower meeting in one space, trained with InfoNCE
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks

MAX_SCALE = 1e4  # 1 / temperature; CLIP caps it at 100. Far above, float32 logits overflow into NaN losses
MAX_MARGIN = 1e4  # hinge margin; cosines differ by at most 2


def _same(a, b, names: str):
    """Two feature tensors that meet in one matmul: one dtype, one device."""
    if a.dtype != b.dtype:
        raise TypeError(f"{names} must have one dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{names} must be on one device, got {a.device} and {b.device}")


class ProjectionHead(nn.Module):
    """Linear (or a 2-layer MLP with ``hidden``) to ``out_dim``, then L2 normalisation."""

    def __init__(self, in_dim: int, out_dim: int = 128, hidden: int | None = None):
        super().__init__()
        in_dim = checks.integer(in_dim, "in_dim", low=1)
        out_dim = checks.integer(out_dim, "out_dim", low=1)
        if hidden is not None:
            hidden = checks.integer(hidden, "hidden", low=1)
        self.in_dim = in_dim
        self.net = (nn.Linear(in_dim, out_dim) if hidden is None else
                    nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim), of the model's dtype -> (..., out_dim), unit length."""
        dtype = (self.net if isinstance(self.net, nn.Linear) else self.net[0]).weight.dtype
        checks.features(x, "x", ndim=(1, None), dim=self.in_dim, dtype=dtype, shape=f"(..., {self.in_dim})")
        return F.normalize(self.net(x), dim=-1)


def info_nce(img: torch.Tensor, txt: torch.Tensor, scale) -> torch.Tensor:
    """Symmetric InfoNCE of B matched pairs: row i of ``img`` belongs with row i of ``txt``
    (both (B, D), L2-normalised); ``scale`` = 1 / temperature multiplies the cosines: a number
    in (0, MAX_SCALE] or a 0-d tensor (InfoNCE's learned one)."""
    checks.features(img, "img", ndim=2, nonempty=True, shape="(B, D)")
    checks.features(txt, "txt", ndim=2, nonempty=True, shape="(B, D)")
    if img.shape != txt.shape:
        raise ValueError(f"img and txt must be two (B, D) batches of matched pairs, got {tuple(img.shape)} and "
                         f"{tuple(txt.shape)}")
    _same(img, txt, "img and txt")
    if torch.is_tensor(scale):
        if scale.ndim != 0 or not scale.is_floating_point():
            raise ValueError(f"scale must be a number or a 0-d floating-point tensor, got shape {tuple(scale.shape)}, "
                             f"dtype {scale.dtype}")
    else:
        scale = checks.number(scale, "scale", low=0, low_open=True, high=MAX_SCALE)
    logits = scale * img @ txt.T                       # (B, B): row i = image i against every text
    target = torch.arange(len(img), device=img.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class InfoNCE(nn.Module):
    """Symmetric InfoNCE as in CLIP: logits = exp(t) * img @ txt.T; cross-entropy image->text
    and text->image with the diagonal as the right answer, averaged.

    The temperature is learned as a log-scale initialised to log(1/0.07) and clamped at
    log(100), as CLIP does, so logits never exceed 100 x cosine.
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        init_temperature = checks.number(init_temperature, "init_temperature", low=0, low_open=True)
        max_scale = checks.number(max_scale, "max_scale", low=0, low_open=True, high=MAX_SCALE)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))
        self.max_log_scale = math.log(max_scale)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        return info_nce(img, txt, self.scale)


def hinge_rank_loss(img: torch.Tensor, tag_emb: torch.Tensor, targets: torch.Tensor, margin: float = 0.2):
    """DeViSE's ranking loss for multi-label tagging.

    img (B, D) and tag_emb (T, D) L2-normalised; targets (B, T) in {0, 1}. For every image,
    every (correct tag p, wrong tag n) pair costs max(0, margin - s(p) + s(n)); the mean over
    the pairs that exist. ``margin`` in [0, MAX_MARGIN].
    """
    checks.features(img, "img", ndim=2, shape="(B, D)")
    checks.features(tag_emb, "tag_emb", ndim=2, shape="(T, D)")
    if img.shape[1] != tag_emb.shape[1]:
        raise ValueError(f"img (B, D) and tag_emb (T, D) must have one D, got {tuple(img.shape)} and "
                         f"{tuple(tag_emb.shape)}")
    _same(img, tag_emb, "img and tag_emb")
    if not torch.is_tensor(targets):
        raise TypeError(f"targets must be a tensor (B, T) of 0/1, got {type(targets).__name__}")
    if targets.is_complex():
        raise TypeError(f"targets must hold 0/1 (bool, int or float), got dtype {targets.dtype}")
    if targets.shape != (img.shape[0], tag_emb.shape[0]):
        raise ValueError(f"targets must be (B, T) = {(img.shape[0], tag_emb.shape[0])} for img (B, D) and "
                         f"tag_emb (T, D), got {tuple(targets.shape)}")
    margin = checks.number(margin, "margin", low=0, high=MAX_MARGIN)
    s = img @ tag_emb.T                                          # (B, T)
    pos, neg = targets.bool(), ~targets.bool()
    cost = (margin - s.unsqueeze(2) + s.unsqueeze(1)).clamp(min=0)  # (B, P=T, N=T): [b, p, n]
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    return (cost * valid).sum() / valid.sum().clamp(min=1)


def class_embeddings(encode_text, prompts_per_class) -> torch.Tensor:
    """One L2-normalised vector per class: the mean of its prompts' embeddings (a prompt
    ensemble, as CLIP uses), renormalised. ``encode_text(list[str]) -> (N, D)`` normalised."""
    out = []
    for prompts in prompts_per_class:
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts:
            raise ValueError("every class needs at least one prompt")
        out.append(F.normalize(encode_text(list(prompts)).mean(0), dim=-1))
    return torch.stack(out)


def zero_shot(img_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """Predicted class index per image: the class whose text embedding is most similar.
    img_emb (N, D) or (D,); class_emb (C, D) with C >= 1."""
    checks.features(img_emb, "img_emb", ndim=(1, 2), shape="(N, D)")
    checks.features(class_emb, "class_emb", ndim=2, nonempty=True, shape="(C, D)")
    if img_emb.shape[-1] != class_emb.shape[1]:
        raise ValueError(f"img_emb (N, D) and class_emb (C, D) must have one D, got {tuple(img_emb.shape)} and "
                         f"{tuple(class_emb.shape)}")
    _same(img_emb, class_emb, "img_emb and class_emb")
    return (img_emb @ class_emb.T).argmax(dim=-1)


def analogy(img: torch.Tensor, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """embed(image) - embed(old attribute) + embed(new attribute), L2-normalised: the query
    of a multimodal analogy ("this red circle, but blue"). Shapes broadcast: (D,) or (N, D)."""
    for x, name in ((img, "img"), (old, "old"), (new, "new")):
        checks.features(x, name, ndim=(1, None), shape="(D,) or (N, D)")
    if not img.shape[-1] == old.shape[-1] == new.shape[-1]:
        raise ValueError(f"img, old and new (image and attribute vectors) need one dimension, got {img.shape[-1]}, "
                         f"{old.shape[-1]}, {new.shape[-1]}")
    try:
        torch.broadcast_shapes(img.shape, old.shape, new.shape)
    except RuntimeError:
        raise ValueError(f"img, old and new must broadcast to one shape, got {tuple(img.shape)}, {tuple(old.shape)}, "
                         f"{tuple(new.shape)}") from None
    _same(img, old, "img and old")
    _same(img, new, "img and new")
    return F.normalize(img - old + new, dim=-1)


class DualEncoder(nn.Module):
    """CLIP in miniature: image encoder -> projection, text encoder -> projection, both
    L2-normalised into one ``dim``-d space; ``loss`` is the symmetric InfoNCE."""

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, dim: int = 128):
        super().__init__()
        for enc, name in ((image_encoder, "image_encoder"), (text_encoder, "text_encoder")):
            checks.instance(enc, name, nn.Module)
            checks.integer(getattr(enc, "out_dim", None), f"{name}.out_dim", low=1)
        dim = checks.integer(dim, "dim", low=1)
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_proj = ProjectionHead(image_encoder.out_dim, dim)
        self.text_proj = ProjectionHead(text_encoder.out_dim, dim)
        self.info_nce = InfoNCE()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_proj(self.image_encoder(images))

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text_encoder(tokens, lengths))

    def loss(self, images, tokens, lengths) -> torch.Tensor:
        return self.info_nce(self.encode_image(images), self.encode_text(tokens, lengths))


@torch.no_grad()
def embed_in_batches(fn, *tensors, batch_size: int = 512, device=None) -> torch.Tensor:
    """fn(*chunk) over chunks of the leading dimension, results concatenated on the CPU;
    uint8 images are scaled to [0, 1] floats on the way."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    tensors = checks.items(tensors, "tensors", torch.Tensor, nonempty=True)
    batch_size = checks.integer(batch_size, "batch_size", low=1)
    device = checks.device(device)
    if any(t.ndim == 0 or len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"tensors must share their first dimension, got shapes {[tuple(t.shape) for t in tensors]}")
    out = []
    for i in range(0, len(tensors[0]), batch_size):
        chunk = [t[i:i + batch_size] for t in tensors]
        chunk = [c.float() / 255 if c.dtype == torch.uint8 else c for c in chunk]
        out.append(fn(*[c.to(device) if device is not None else c for c in chunk]).cpu())
    return torch.cat(out)
