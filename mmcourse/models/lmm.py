"""Large multimodal models in miniature (notebook 09): how a frozen language model is taught to
see and hear, and how one space binds many modalities.

Binder          ImageBind (Girdhar et al., 2023): a new modality's encoder + projection trained
                with InfoNCE against *frozen* anchor embeddings (the image side of an image-text
                model), so that it lands in the space the text already shares with the images
Projector       LLaVA (Liu et al., 2023): a Linear (v1) or a two-layer MLP (v1.5) from the vision
                encoder's features to the language model's token-embedding width: each image
                feature becomes one soft token
QFormerLayer    one layer of InstructBLIP's Q-Former (Dai et al., 2023): self-attention over the
                learned queries *and the instruction's words*, cross-attention from the queries
                to the image features, an MLP
QFormer         learned queries + QFormerLayers: features (B, L, F) -> (B, n_queries, out_dim) soft
                tokens; ``instruction_aware=False`` is the ablation (BLIP-2's Q-Former), whose
                queries never read the instruction
SoftPromptLM    a trainable bridge (Projector or QFormer) in front of a frozen TinyGPT: the soft
                tokens sit after <start>, where a text context would be; only the bridge learns
                (X-InstructBLIP: the same frozen language model, another Q-Former for sound)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from .contrastive import InfoNCE, ProjectionHead
from .lm import TinyGPT, freeze


class Binder(nn.Module):
    """ImageBind's recipe for one new modality: ``encoder`` (anything with an int ``out_dim``)
    -> ProjectionHead -> L2-normalised ``dim``-d embedding, trained against the frozen anchor
    embeddings of the paired images: ``loss(x, anchor) = InfoNCE(embed(x), anchor)``."""

    def __init__(self, encoder: nn.Module, dim: int):
        super().__init__()
        checks.instance(encoder, "encoder", nn.Module)
        out = checks.integer(getattr(encoder, "out_dim", None), "encoder.out_dim", low=1)
        self.encoder, self.proj = encoder, ProjectionHead(out, checks.integer(dim, "dim", low=1))
        self.info_nce = InfoNCE()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.encoder(x))                       # (B, dim), unit length

    def loss(self, x: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        checks.features(anchor, "anchor", ndim=2, dim=self.dim, shape="(B, dim)")
        if anchor.requires_grad:
            raise ValueError("anchor must be frozen (no gradient): compute it under torch.no_grad() or .detach() it")
        emb = self(x)
        if emb.shape[0] != anchor.shape[0]:
            raise ValueError(f"x and anchor must hold the same number of pairs, got {emb.shape[0]} and {anchor.shape[0]}")
        return self.info_nce(emb, F.normalize(anchor, dim=-1))


def _check_feats(feats, feat_dim: int, dtype) -> torch.Tensor:
    return checks.features(feats, "feats", ndim=3, dim=feat_dim, dtype=dtype, nonempty=True, shape="(B, L, feat_dim)")


class Projector(nn.Module):
    """(B, L, feat_dim) -> (B, L, out_dim): LLaVA's bridge, one soft token per feature vector.
    ``hidden=None``: one Linear (LLaVA); an int: Linear, GELU, Linear (LLaVA-1.5)."""

    def __init__(self, feat_dim: int, out_dim: int, hidden: int | None = None):
        super().__init__()
        self.feat_dim = checks.integer(feat_dim, "feat_dim", low=1)
        out_dim = checks.integer(out_dim, "out_dim", low=1)
        if hidden is None:
            self.net = nn.Linear(feat_dim, out_dim)
        else:
            hidden = checks.integer(hidden, "hidden", low=1)
            self.net = nn.Sequential(nn.Linear(feat_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, feats: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        """``instruction`` is accepted and ignored: LLaVA's projector never reads the question."""
        return self.net(_check_feats(feats, self.feat_dim, next(self.parameters()).dtype))


class QFormerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1, self.self_attn = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2, self.cross_attn = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, queries: torch.Tensor, feats: torch.Tensor, words: torch.Tensor | None = None,
                word_pad: torch.Tensor | None = None, attention: list | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``attention``: a list to which the cross-attention weights (B, queries, L) are appended."""
        n = queries.shape[1]
        x = queries if words is None else torch.cat([queries, words], dim=1)   # queries and instruction together
        pad = None if words is None else F.pad(word_pad, (n, 0), value=False)  # never mask a query
        h = self.ln1(x)
        x = x + self.self_attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        q, w = x[:, :n], x[:, n:]
        h = self.ln2(q)                                                        # only the queries look at the image
        looked, weights = self.cross_attn(h, feats, feats, need_weights=attention is not None)
        if attention is not None:
            attention.append(weights)                                          # mean over the heads
        q = q + looked
        x = torch.cat([q, w], dim=1)
        x = x + self.mlp(self.ln3(x))
        return x[:, :n], (None if words is None else x[:, n:])


class QFormer(nn.Module):
    """``n_queries`` learned vectors that read the features (B, L, feat_dim) through
    cross-attention and, when ``instruction_aware``, the instruction's words (B, T) through
    self-attention; -> (B, n_queries, out_dim) soft tokens for the language model."""

    def __init__(self, feat_dim: int, out_dim: int, vocab_size: int, n_queries: int = 4, dim: int = 64,
                 layers: int = 2, heads: int = 4, instruction_aware: bool = True, pad_id: int = 0,
                 max_words: int = 48):
        super().__init__()
        self.feat_dim = checks.integer(feat_dim, "feat_dim", low=1)
        out_dim, dim = checks.integer(out_dim, "out_dim", low=1), checks.integer(dim, "dim", low=1)
        self.vocab_size = checks.integer(vocab_size, "vocab_size", low=2)
        n_queries, layers = checks.integer(n_queries, "n_queries", low=1), checks.integer(layers, "layers", low=1)
        heads = checks.integer(heads, "heads", low=1)
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
        self.instruction_aware = checks.flag(instruction_aware, "instruction_aware")
        self.pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
        self.max_words = checks.integer(max_words, "max_words", low=1)
        self.queries = nn.Parameter(torch.randn(n_queries, dim) * 0.02)
        self.feat_in = nn.Sequential(nn.LayerNorm(feat_dim), nn.Linear(feat_dim, dim))
        self.words = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_words, dim)
        self.layers = nn.ModuleList(QFormerLayer(dim, heads) for _ in range(layers))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def forward(self, feats: torch.Tensor, instruction: torch.Tensor | None = None,
                attention: list | None = None) -> torch.Tensor:
        """``attention``: a list to which each layer's cross-attention weights (B, n_queries, L) are appended."""
        feats = self.feat_in(_check_feats(feats, self.feat_dim, self.queries.dtype))   # (B, L, dim)
        q = self.queries.expand(feats.shape[0], -1, -1)                               # (B, Q, dim)
        words = pad = None
        if self.instruction_aware:
            if instruction is None:
                raise ValueError("an instruction-aware QFormer needs the instruction's token ids (B, T); "
                                 "build it with instruction_aware=False for one that never reads them")
            instruction = checks.token_ids(instruction, "instruction", self.vocab_size)
            if instruction.shape[0] != feats.shape[0] or not 1 <= instruction.shape[1] <= self.max_words:
                raise ValueError(f"instruction must be (B={feats.shape[0]}, T) with 1 <= T <= {self.max_words}, "
                                 f"got shape {tuple(instruction.shape)}")
            pad = instruction == self.pad_id
            words = self.words(instruction) + self.pos(torch.arange(instruction.shape[1], device=feats.device))
        for layer in self.layers:
            q, words = layer(q, feats, words, pad, attention)
        return self.out(q)                                                            # (B, Q, out_dim)


class SoftPromptLM(nn.Module):
    """``bridge`` (Projector or QFormer) in front of a frozen ``lm``: features -> soft tokens ->
    the language model. Only the bridge has gradients; ``train()`` leaves the LM in eval mode."""

    def __init__(self, bridge: nn.Module, lm: TinyGPT):
        super().__init__()
        checks.instance(bridge, "bridge", (Projector, QFormer))
        checks.instance(lm, "lm", TinyGPT)
        self.bridge, self.lm = bridge, freeze(lm)

    def train(self, mode: bool = True):
        super().train(mode)
        self.lm.eval()
        return self

    def prefix(self, feats: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        return self.bridge(feats, instruction)                                        # (B, P, lm.dim)

    def loss(self, feats: torch.Tensor, tokens: torch.Tensor, targets: torch.Tensor,
             instruction: torch.Tensor | None = None) -> torch.Tensor:
        """The frozen LM's cross-entropy on the ``targets`` tokens (B, T) bool, after the soft tokens."""
        return self.lm.loss(tokens, self.prefix(feats, instruction), targets=targets)

    @torch.no_grad()
    def next_token_logits(self, feats, tokens, lengths, instruction=None) -> torch.Tensor:
        return self.lm.next_token_logits(tokens, lengths, self.prefix(feats, instruction))

    @torch.no_grad()
    def generate(self, feats, tokens, eos: int, instruction=None, max_new_tokens: int = 40) -> list[list[int]]:
        return self.lm.generate(tokens, eos, self.prefix(feats, instruction), max_new_tokens=max_new_tokens)


def pad_sequences(seqs, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists -> (B, T) right-padded int64 tensor and (B,) lengths."""
    seqs = checks.items(seqs, "seqs", nonempty=True)
    if any(not len(s) for s in seqs):
        raise ValueError("seqs holds an empty sequence")
    rows = [torch.as_tensor(list(s), dtype=torch.long) for s in seqs]
    return (nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad_id),
            torch.tensor([len(s) for s in seqs]))



def fit_bridge(model: SoftPromptLM, make_batch, n: int, steps: int, *, batch: int = 32, lr: float = 2e-3,
               seed: int = 0, desc: str = "bridge") -> SoftPromptLM:
    """Train only ``model``'s bridge (the language model is frozen): ``steps`` AdamW steps on a
    one-cycle schedule over reshuffles of ``n`` examples; ``make_batch(indices)`` returns (feats,
    tokens, targets, instruction) for them, on the model's device (instruction None for a bridge
    that reads none). Returns the model in eval mode."""
    from .vqa import fit

    checks.instance(model, "model", SoftPromptLM)
    return fit(model, n, make_batch, lambda m, b: m.loss(*b), steps=steps, lr=lr, seed=seed, batch=batch,
               weight_decay=0.01, pct_start=0.1, desc=desc)
