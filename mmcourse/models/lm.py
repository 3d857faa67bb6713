"""A small decoder-only language model: GPT in miniature, after Karpathy's nanoGPT.

TinyGPT         token ids (B, T) -> next-token logits (B, T, V): token embeddings, ``layers``
                pre-LayerNorm blocks (causal self-attention, then an MLP), a final
                LayerNorm and a head that shares its weights with the token embedding
Block           one transformer block: x + attn(ln(x)), then x + mlp(ln(x))
CausalSelfAttention  multi-head attention where position t only sees positions <= t, with rotary
                position encoding of queries and keys

Notebook 09 trains one on the world's text (the zoo's ``world-lm``) and then keeps it frozen:
the multimodal models of that notebook (LLaVA, the Q-Former) feed it *soft tokens*, vectors
of its embedding width that stand where words would, through ``prefix``.

Two things differ from nanoGPT, both for those soft tokens. ``forward`` takes a ``prefix`` of
embeddings that sits right after the first token (<start>), where a text context would be. And
positions are rotary (RoPE, Su et al. 2021) rather than a learned table: attention scores then
depend on how far apart two tokens are, not on where they sit, so text that follows 36 image
tokens reads the same as text that follows a 10-word caption.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks

MAX_NEW_TOKENS = 1000  # generate(): tokens written per prompt at most


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of channels (2i, 2i+1) of x (B, h, T, d) by the angle position * 10000^(-2i/d)
    (``cos``/``sin`` (T, d/2) hold those angles): then q_s . k_t depends on s - t only."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def rotary_angles(positions: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, each (positions, head_dim / 2)."""
    freqs = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.arange(positions, dtype=torch.float32)[:, None] * freqs[None]
    return angles.cos(), angles.sin()


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)   # queries, keys and values of all heads in one matmul
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, C/h)
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)               # positions enter here, and only here
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # softmax(q k^T / sqrt(d) + causal mask) v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), CausalSelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cos, sin)
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """(B, T) token ids -> (B, T [+ P], vocab_size) logits; ``block_size`` positions at most."""
    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, vocab_size: int, dim: int = 128, layers: int = 4, heads: int = 4, block_size: int = 96,
                 pad_id: int = 0):
        super().__init__()
        self.vocab_size = checks.integer(vocab_size, "vocab_size", low=2)
        self.dim = checks.integer(dim, "dim", low=1)
        layers, heads = checks.integer(layers, "layers", low=1), checks.integer(heads, "heads", low=1)
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim}, heads={heads}")
        self.block_size = checks.integer(block_size, "block_size", low=2)
        self.pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
        self.tok = nn.Embedding(vocab_size, dim)
        cos, sin = rotary_angles(block_size, dim // heads)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying: reading a word and writing it share one vector
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by 1/sqrt(2 layers)
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _check(self, tokens, prefix) -> tuple[torch.Tensor, torch.Tensor | None]:
        tokens = checks.token_ids(tokens, "tokens", self.vocab_size)
        if tokens.shape[1] == 0:
            raise ValueError("tokens is empty: give at least one token (<start>) per sequence")
        if prefix is not None:
            checks.features(prefix, "prefix", ndim=3, dim=self.dim, dtype=self.tok.weight.dtype, shape="(B, P, dim)")
            if prefix.shape[0] != tokens.shape[0]:
                raise ValueError(f"prefix and tokens must hold the same number of sequences, got "
                                 f"{prefix.shape[0]} and {tokens.shape[0]}")
        total = tokens.shape[1] + (0 if prefix is None else prefix.shape[1])
        if total > self.block_size:
            raise ValueError(f"prefix + tokens = {total} positions, more than block_size={self.block_size}")
        return tokens, prefix

    def table(self, words: torch.Tensor) -> torch.Tensor:
        """(B, cells, k) word ids -> (B, cells, dim) soft tokens: each cell is the sum of the
        embeddings of its words (padding ids count as nothing: an empty cell is a zero vector).
        How notebook 09 writes a scene into the context (``language.lm_table``)."""
        words = checks.token_ids(words, "words", self.vocab_size, ndim=3)
        return (self.tok(words) * (words != self.pad_id).unsqueeze(-1)).sum(dim=-2)

    def forward(self, tokens: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for the next token at every position. ``prefix`` (B, P, dim): embeddings placed
        right after the first token, so the output has T + P positions (the prefix's included)."""
        tokens, prefix = self._check(tokens, prefix)
        x = self.tok(tokens)                                               # (B, T, dim)
        if prefix is not None:
            x = torch.cat([x[:, :1], prefix, x[:, 1:]], dim=1)            # <start>, soft tokens, the text
        T = x.shape[1]
        for block in self.blocks:
            x = block(x, self.cos[:T], self.sin[:T])
        return self.head(self.ln_f(x))                                     # (B, T [+ P], vocab)

    def loss(self, tokens: torch.Tensor, prefix: torch.Tensor | None = None,
             targets: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy of predicting each token from the ones before it. ``targets``
        (B, T) bool: which tokens are predicted (default: every token after the first that is not
        padding); the prefix is never a target."""
        logits = self(tokens, prefix)
        if prefix is not None:                       # drop the outputs at the soft tokens' positions
            logits = torch.cat([logits[:, :1], logits[:, 1 + prefix.shape[1]:]], dim=1)
        if targets is None:
            targets = tokens != self.pad_id
        elif not torch.is_tensor(targets) or targets.dtype != torch.bool or targets.shape != tokens.shape:
            raise ValueError(f"targets must be a bool tensor of the tokens' shape {tuple(tokens.shape)}, got "
                             f"{getattr(targets, 'dtype', type(targets).__name__)} {tuple(getattr(targets, 'shape', ()))}")
        targets = targets[:, 1:]
        if not targets.any():
            raise ValueError("targets selects no token to predict")
        return F.cross_entropy(logits[:, :-1][targets], tokens[:, 1:][targets])

    @torch.no_grad()
    def next_token_logits(self, tokens: torch.Tensor, lengths: torch.Tensor,
                          prefix: torch.Tensor | None = None) -> torch.Tensor:
        """(B, vocab): the logits after each sequence's last real token (``lengths`` of right-padded
        prompts; padding comes after the prompt, so causal attention never reads it)."""
        tokens = checks.token_ids(tokens, "tokens", self.vocab_size)
        lengths = checks.lengths(lengths, "lengths", tokens.shape[0], low=1, high=tokens.shape[1])
        logits = self(tokens, prefix)
        last = lengths.to(logits.device) - 1 + (0 if prefix is None else prefix.shape[1])
        return logits[torch.arange(len(last), device=logits.device), last]

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, eos: int, prefix: torch.Tensor | None = None,
                 max_new_tokens: int = 40) -> list[list[int]]:
        """Greedy continuation of prompts of equal length (B, T): per prompt, the new token ids up
        to (not including) ``eos``; stops when every prompt has written ``eos`` or after
        ``max_new_tokens`` (or the block size)."""
        tokens = checks.token_ids(tokens, "tokens", self.vocab_size)
        eos = checks.integer(eos, "eos", low=0, high=self.vocab_size - 1)
        max_new_tokens = checks.integer(max_new_tokens, "max_new_tokens", low=1, high=MAX_NEW_TOKENS)
        used = tokens.shape[1] + (0 if prefix is None else prefix.shape[1])
        steps = min(max_new_tokens, self.block_size - used)
        if steps < 1:
            raise ValueError(f"the prompt fills all {self.block_size} positions: no room to generate")
        out, done = [[] for _ in range(len(tokens))], torch.zeros(len(tokens), dtype=torch.bool)
        for _ in range(steps):
            nxt = self(tokens, prefix)[:, -1].argmax(-1)          # (B,) greedy
            for i, t in enumerate(nxt.tolist()):
                if not done[i]:
                    if t == eos:
                        done[i] = True
                    else:
                        out[i].append(t)
            if done.all():
                break
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        return out


def targets_after(tokens: torch.Tensor, marker: int) -> torch.Tensor:
    """(B, T) bool: True at every token that follows a ``marker`` token (e.g. the answer words
    after "answer"): a ``targets`` mask that trains on those tokens only."""
    if not torch.is_tensor(tokens) or tokens.ndim != 2 or tokens.is_floating_point() or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be a (B, T) integer tensor, got {getattr(tokens, 'shape', type(tokens).__name__)}")
    out = torch.zeros_like(tokens, dtype=torch.bool)
    out[:, 1:] = tokens[:, :-1] == marker
    return out


def freeze(module: nn.Module) -> nn.Module:
    """No gradient and eval mode for every parameter of ``module`` (returned, for chaining):
    a frozen part of a larger model, as LLaVA and InstructBLIP keep their language model."""
    checks.instance(module, "module", nn.Module)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def perplexity(model: TinyGPT, tokens: torch.Tensor, batch: int = 256) -> float:
    """exp(mean cross-entropy per predicted token) over right-padded sequences (B, T)."""
    checks.instance(model, "model", TinyGPT)
    tokens = checks.token_ids(tokens, "tokens", model.vocab_size)
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(tokens), batch):
            t = tokens[i:i + batch].to(device)
            n = int((t[:, 1:] != model.pad_id).sum())
            total += model.loss(t).item() * n
            count += n
    return math.exp(total / count)
