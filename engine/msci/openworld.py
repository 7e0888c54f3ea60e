"""Open world for MSCI: every state × object pair is a candidate, and feasibility scores filter out
the unlikely ones (the authors' `download_data/feasibility.py` + `threshold_with_feasibility`).

Feasibility of an unseen pair (s, o), as in CompCos and the authors' code: the mean of (a) the
highest similarity of o to another object seen with s and (b) the highest similarity of s to
another state seen with o; -1 for a side with no such neighbour; seen pairs score 1. The authors
embed words with GloVe; offline we use the frozen CLIP text tower's "a photo of {word}" (their
file's `clip_embeddings` helper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def feasibility_scores(state_emb: torch.Tensor, obj_emb: torch.Tensor, seen_pairs: torch.Tensor) -> torch.Tensor:
    """[S, D] state and [O, D] object embeddings, [K, 2] seen (state, object) indices -> [S, O]."""
    n_s, n_o = len(state_emb), len(obj_emb)
    seen = torch.zeros(n_s, n_o, dtype=torch.bool)
    seen[seen_pairs[:, 0], seen_pairs[:, 1]] = True
    s = F.normalize(state_emb.float(), dim=-1)
    o = F.normalize(obj_emb.float(), dim=-1)
    o_sim = (o @ o.T).fill_diagonal_(float("-inf"))  # [O, O'], never the object itself
    s_sim = (s @ s.T).fill_diagonal_(float("-inf"))  # [S, S']
    ninf = torch.tensor(float("-inf"))
    # (a): for (s, o) the best o' with (s, o') seen: [S, O, O'] masked by seen[s, o']
    by_obj = torch.where(seen[:, None, :], o_sim[None, :, :], ninf).amax(-1)
    # (b): for (s, o) the best s' with (s', o) seen: [S, S', O] masked by seen[s', o]
    by_state = torch.where(seen[None, :, :], s_sim[:, :, None], ninf).amax(1)
    by_obj = torch.where(torch.isinf(by_obj), torch.full_like(by_obj, -1.0), by_obj)
    by_state = torch.where(torch.isinf(by_state), torch.full_like(by_state, -1.0), by_state)
    return torch.where(seen, torch.ones_like(by_obj), (by_obj + by_state) / 2)


def threshold_with_feasibility(scores: torch.Tensor, feasibility: torch.Tensor, seen_mask: torch.Tensor,
                               threshold: float, *, faithful: bool = False) -> torch.Tensor:
    """Drop candidate pairs below the feasibility threshold (seen pairs always stay).

    scores [N, K] over pairs, feasibility and seen_mask [K]. By default a dropped pair scores -inf.
    ``faithful=True`` is the authors' exact line, ``score * (mask + seen_mask)``: a dropped pair
    scores 0 (not the lowest score when logits can be negative) and a seen pair is doubled.
    """
    mask = (feasibility >= threshold).to(scores.dtype)
    if faithful:
        return scores * (mask + seen_mask.to(scores.dtype))
    keep = (mask > 0) | seen_mask.bool()
    return scores.masked_fill(~keep[None, :], float("-inf"))


def threshold_candidates(feasibility: torch.Tensor, seen_mask: torch.Tensor, trials: int = 50) -> torch.Tensor:
    """The authors' sweep: `trials` thresholds between the lowest and highest unseen feasibility."""
    seen = seen_mask.float()
    lo = float((feasibility + seen * 10.0).min())
    hi = float((feasibility - seen * 10.0).max())
    return torch.linspace(lo, hi, trials)
