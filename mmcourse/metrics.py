"""Retrieval metrics for 1:N matching.

A similarity matrix ``sim`` (Q queries x G gallery items) and a boolean ``relevant`` (Q x G)
saying which gallery items are correct for each query: one image per caption for text->image,
several captions per image for image->text. recall@K is the share of queries with at least
one correct item among their K most similar (the cross-modal retrieval convention, also
called hit rate); the rank of a query is the 1-based position of its first correct item.
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
