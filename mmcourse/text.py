"""Text helpers: skip-gram word2vec with negative sampling (Mikolov et al., 2013).

Skip-gram learns a vector for every word by predicting the words around it: for each
(centre, context) pair within ``window`` tokens, push the centre's input vector towards
the context's output vector and away from ``negatives`` words drawn from the unigram
distribution raised to 3/4. Words used in the same contexts end up close.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def skipgram_pairs(sentences, window: int = 2, subsample: float | None = None, seed: int = 0) -> torch.Tensor:
    """All (centre, context) id pairs within ``window`` of each other: (P, 2) long.

    ``subsample``: Mikolov's threshold t; a token of frequency f is dropped with
    probability 1 - sqrt(t / f), thinning out "a", "the", "is".
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    sentences = [list(map(int, s)) for s in sentences]
    if subsample:
        counts = np.bincount(np.concatenate([s for s in sentences if s]).astype(np.int64))
        freq = counts / counts.sum()
        keep_p = np.minimum(1.0, np.sqrt(subsample / np.maximum(freq, 1e-12)))
        rng = np.random.Generator(np.random.PCG64(seed))
        sentences = [[t for t in s if rng.random() < keep_p[t]] for s in sentences]
    pairs = [(s[i], s[j]) for s in sentences for i in range(len(s))
             for j in range(max(0, i - window), min(len(s), i + window + 1)) if j != i]
    if not pairs:
        raise ValueError("no skip-gram pairs: the sentences are empty or shorter than two tokens")
    return torch.tensor(pairs, dtype=torch.long)


def negative_sampling_loss(v: torch.Tensor, u_context: torch.Tensor, u_negatives: torch.Tensor) -> torch.Tensor:
    """Skip-gram's negative-sampling loss, averaged over the batch:
    -log sigma(u_context . v) - sum_k log sigma(-u_k . v).

    v: (B, D) centre (input) vectors; u_context: (B, D) output vectors of the observed
    context words; u_negatives: (B, K, D) output vectors of K noise words per pair.
    """
    if v.ndim != 2 or u_context.shape != v.shape:
        raise ValueError(f"v and u_context must both be (B, D), got {tuple(v.shape)} and {tuple(u_context.shape)}")
    if u_negatives.ndim != 3 or u_negatives.shape[0] != v.shape[0] or u_negatives.shape[2] != v.shape[1]:
        raise ValueError(f"u_negatives must be (B, K, D) = ({v.shape[0]}, K, {v.shape[1]}), got {tuple(u_negatives.shape)}")
    pos = (v * u_context).sum(-1)  # (B,)
    neg = torch.bmm(u_negatives, v.unsqueeze(-1)).squeeze(-1)  # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


class SkipGram(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 32):
        super().__init__()
        self.inp = nn.Embedding(vocab_size, dim)  # the word vectors we keep
        self.out = nn.Embedding(vocab_size, dim)  # context vectors, used only in training
        nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out.weight)

    def loss(self, centre, context, negatives) -> torch.Tensor:
        """Negative-sampling loss: centre/context (B,), negatives (B, K)."""
        return negative_sampling_loss(self.inp(centre), self.out(context), self.out(negatives))

    @property
    def vectors(self) -> torch.Tensor:
        return self.inp.weight.detach()


def train_skipgram(sentences, vocab_size: int, dim: int = 32, window: int = 2, negatives: int = 5,
                   epochs: int = 5, batch_size: int = 1024, lr: float = 0.01, subsample: float | None = 1e-3,
                   seed: int = 0, device=None, max_steps: int | None = None, progress: bool = True):
    """Train skip-gram on token-id sentences; returns (model, history)."""
    from .train import fit

    torch.manual_seed(seed)
    pairs = skipgram_pairs(sentences, window, subsample, seed)
    counts = torch.bincount(pairs[:, 0], minlength=vocab_size).float()
    noise = (counts ** 0.75) / (counts ** 0.75).sum()
    device = torch.device(device or "cpu")
    noise = noise.to(device)
    model = SkipGram(vocab_size, dim)
    loader = torch.utils.data.DataLoader(pairs, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))

    def loss_fn(m, batch):
        neg = torch.multinomial(noise, batch.shape[0] * negatives, replacement=True).view(-1, negatives)
        return m.loss(batch[:, 0], batch[:, 1], neg)

    hist = fit(model, loader, loss_fn, lr=lr, epochs=epochs, max_steps=max_steps, device=device,
               progress=progress, desc="skip-gram")
    return model, hist


def nearest(vectors: torch.Tensor, vocab, word: str, k: int = 3, candidates=None) -> list[tuple[str, float]]:
    """The ``k`` words with highest cosine similarity to ``word`` (itself excluded).

    ``candidates`` restricts the search to those words (e.g. content words only).
    """
    if word not in vocab:
        raise ValueError(f"{word!r} is not in the vocabulary")
    ids = [vocab.stoi[w] for w in (candidates or vocab.itos) if w in vocab and w != word]
    v = F.normalize(vectors.float(), dim=-1)
    sims = v[ids] @ v[vocab.stoi[word]]
    top = sims.topk(min(k, len(ids)))
    return [(vocab.itos[ids[i]], float(s)) for s, i in zip(top.values, top.indices)]
