"""Classifiers of the world's attributes, used to measure what other models produce.

AttributeClassifier  an image of one object -> logits for its colour, shape and size
                     (a ConvEncoder trunk with three linear heads). Notebooks use it as a
                     judge: does a generated image carry the asked attributes?
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from .encoders import ConvEncoder


class AttributeClassifier(nn.Module):
    """(B, 3, H, W) -> {"colour": (B, n_colours), "shape": (B, n_shapes), "size": (B, n_sizes)}.

    Images are float in [0, 1] (uint8 images are refused: scale them with ``images.float() / 255``),
    at least 8 x 8 pixels; the trunk (a ConvEncoder) checks them."""

    def __init__(self, n_colours: int, n_shapes: int, n_sizes: int, width: int = 32):
        super().__init__()
        n_colours = checks.integer(n_colours, "n_colours", low=1)
        n_shapes = checks.integer(n_shapes, "n_shapes", low=1)
        n_sizes = checks.integer(n_sizes, "n_sizes", low=1)
        self.trunk = ConvEncoder(out_dim=128, width=width)
        self.heads = nn.ModuleDict({"colour": nn.Linear(128, n_colours), "shape": nn.Linear(128, n_shapes),
                                    "size": nn.Linear(128, n_sizes)})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.relu(self.trunk(images))
        return {k: head(h) for k, head in self.heads.items()}

    def loss(self, images: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """Summed cross-entropy of the three heads; labels {"colour": (B,), "shape": (B,), "size": (B,)}
        class indices."""
        if not isinstance(labels, dict):
            raise TypeError(f"labels must be a dict with keys {sorted(self.heads)}, got {type(labels).__name__}")
        missing = set(self.heads) - set(labels)
        if missing:
            raise ValueError(f"labels lack {sorted(missing)}; expected keys {sorted(self.heads)}")
        logits = self(images)
        targets = {}
        for k, head in self.heads.items():
            targets[k] = checks.token_ids(labels[k], f"labels[{k!r}]", head.out_features, ndim=1, what="class indices")
            if len(targets[k]) != len(images):
                raise ValueError(f"labels[{k!r}] must hold one class per image ({len(images)}), got {len(targets[k])}")
        return sum(F.cross_entropy(logits[k], targets[k]) for k in self.heads)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.argmax(-1) for k, v in self(images).items()}
