"""A second opinion on the curators' own decisions: accepted or corrected labels that the model
strongly contradicts, for a second look. Nothing is changed; each item names the reviewer and when.

"Strongly": on the audit's calibrated probabilities, another class is given at least `STRONG`
(the model is right that often at that confidence, if calibrated) and the decided class at most
`1 - STRONG` of it. Ranked by how much more the model believes its class than the decided one.
"""

from __future__ import annotations

from typing import Any

import torch

STRONG = 0.7


def contradicted(probs: torch.Tensor, decided: torch.Tensor, strong: float = STRONG) -> tuple[torch.Tensor, ...]:
    """(mask, suggested class, p(decided), p(suggested)) over rows of `probs` with decided labels."""
    n, c = probs.shape
    if n == 0:
        empty = torch.zeros(0)
        return empty.bool(), empty.long(), empty, empty
    onehot = torch.nn.functional.one_hot(decided.long(), c).bool()
    p_dec = probs.gather(1, decided.long()[:, None])[:, 0]
    p_other, other = probs.masked_fill(onehot, float("-inf")).max(dim=1)
    mask = (p_other >= strong) & (p_dec <= (1.0 - strong) * p_other)
    return mask, other, p_dec, p_other


def second_opinion(project: Any, st: dict[str, Any], strong: float = STRONG) -> list[dict[str, Any]]:
    """Decisions the model strongly contradicts, most contradicted first (JSON-ready rows)."""
    ids = list(st["decided"])
    if not ids:
        return []
    probs = st["probs"][st["decided_rows"]]
    mask, other, p_dec, p_other = contradicted(probs, st["decided_labels"], strong)
    cids = st["ctx"].class_ids
    out = []
    for p in torch.nonzero(mask)[:, 0].tolist():
        iid = ids[p]
        last = next((d for d in reversed(project.decision_history(iid)) if d.action != "undo"), None)
        out.append({
            "image_id": iid,
            "decided_class_id": cids[int(st["decided_labels"][p])],
            "suggested_class_id": cids[int(other[p])],
            "p_decided": round(float(p_dec[p]), 6),
            "p_suggested": round(float(p_other[p]), 6),
            "action": last.action if last else None,
            "reviewer": last.reviewer if last else None,
            "at": last.at.isoformat(timespec="seconds") if last else None,
            "note": last.note if last else None,
        })
    out.sort(key=lambda r: (r["p_decided"] - r["p_suggested"], r["image_id"]))
    return out
