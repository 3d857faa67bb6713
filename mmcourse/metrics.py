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

import torch


def _check(sim, relevant):
    if sim.ndim != 2 or relevant.shape != sim.shape:
        raise ValueError(f"sim and relevant must be the same (Q, G) shape, got {tuple(sim.shape)}, {tuple(relevant.shape)}")
    if not relevant.any(dim=1).all():
        raise ValueError("every query needs at least one relevant gallery item")


def first_relevant_rank(sim: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(Q,) 1-based rank of the best-ranked relevant item for each query (ties: pessimistic)."""
    _check(sim, relevant)
    best = sim.masked_fill(~relevant.bool(), float("-inf")).max(dim=1).values  # score of the best relevant item
    return (sim > best.unsqueeze(1)).sum(dim=1) + (sim == best.unsqueeze(1)).sum(dim=1)


def recall_at_k(sim: torch.Tensor, relevant: torch.Tensor, ks=(1, 5, 10)) -> dict[int, float]:
    ranks = first_relevant_rank(sim, relevant)
    return {k: (ranks <= k).float().mean().item() for k in ks}


def median_rank(sim: torch.Tensor, relevant: torch.Tensor) -> float:
    return first_relevant_rank(sim, relevant).float().median().item()


def relevance(query_ids: torch.Tensor, gallery_ids: torch.Tensor) -> torch.Tensor:
    """(Q, G) boolean: query q and gallery item g belong to the same scene."""
    return query_ids.view(-1, 1) == gallery_ids.view(1, -1)


def bleu(references, hypotheses, max_n: int = 4) -> dict[int, float]:
    """Corpus BLEU-1..``max_n`` (uniform weights): ``{1: ..., 4: ...}``.

    ``references``: one list of reference sentences per hypothesis; ``hypotheses``: one
    sentence each. A sentence is a string (split on spaces) or a list of tokens (words or ids).
    NLTK's convention: a hypothesis shorter than n tokens still counts one (unmatched) n-gram,
    so very short outputs lower BLEU-n even when they equal a reference.
    """
    from nltk.translate.bleu_score import corpus_bleu

    def toks(s):
        return s.split() if isinstance(s, str) else list(s)

    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(f"need one list of references per hypothesis (and at least one), got "
                         f"{len(references)} reference lists for {len(hypotheses)} hypotheses")
    if any(isinstance(r, str) or not len(r) for r in references):
        raise ValueError("each entry of references must be a non-empty list of reference sentences")
    if not 1 <= max_n <= 4:
        raise ValueError(f"max_n must be 1..4, got {max_n}")
    refs = [[toks(r) for r in rs] for rs in references]
    hyps = [toks(h) for h in hypotheses]
    return {n: float(corpus_bleu(refs, hyps, weights=(1 / n,) * n)) for n in range(1, max_n + 1)}
