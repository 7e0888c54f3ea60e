"""The "active" review order (issue #17 item 6): the images whose decision should help the learned
model most come first.

Three terms, each in [0, 1], summed with weights (`ActiveWeights`):

- uncertainty: the current prediction's top-2 margin, as a rank (smallest margin = 1), so the
  term does not depend on the score scale of the model or of a learned run;
- class balance: 1 / (1 + decisions so far of the image's predicted class, counting the images
  already placed earlier in this queue), so classes with few decisions are asked about first;
- diversity: distance (1 - cosine) of the image's cached global feature to the nearest decided or
  already queued image, over the largest such distance: k-center greedy, so the queue does not
  spend many decisions on near-duplicates.

The queue is built greedily in steps of `STEP` images for its first `GREEDY` places (each step
updates the class counts and the nearest-neighbour distances on tensors); the rest follows by
uncertainty and balance. Ties go to the lower image id, so the order is deterministic. Images
without a prediction come last, as in the other orders. docs/architecture.md, "The active review order".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

GREEDY = 1024  # queue places chosen with the diversity term (a review session rarely goes further)
STEP = 8  # images placed per greedy step
#: global features are randomly projected (seeded) to this many dimensions for the distances:
#: cosines keep to about 0.1, near-duplicates stay near-duplicates, and each greedy step reads
#: 4x less memory at D = 512
PROJECT_DIM = 128


@dataclass(frozen=True)
class ActiveWeights:
    uncertainty: float = 1.0
    balance: float = 0.5
    diversity: float = 0.5


def active_rank(
    margin: torch.Tensor,
    pred: torch.Tensor,
    n_classes: int,
    *,
    features: torch.Tensor | None = None,
    decided_counts: torch.Tensor | None = None,
    decided_features: torch.Tensor | None = None,
    weights: ActiveWeights = ActiveWeights(),
    greedy: int = GREEDY,
    step: int = STEP,
) -> torch.Tensor:
    """The queue as a permutation of the candidates' rows.

    `margin` [n] (NaN = no prediction), `pred` [n] predicted class index (-1 = none), `features`
    [n, D] unit global features (None: no diversity term; zero rows: unknown), `decided_counts` [C]
    decisions per class, `decided_features` [m, D] unit features of the decided images.
    """
    n = int(margin.shape[0])
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    margin = margin.float()
    known = ~torch.isnan(margin)
    # uncertainty: rank of the margin among predicted candidates, smallest margin -> 1
    u = torch.zeros(n)
    if known.any():
        m = margin[known]
        ranks = torch.empty(len(m))
        ranks[torch.argsort(m, stable=True)] = torch.arange(len(m), dtype=torch.float32)
        u[known] = 1.0 - ranks / max(1, len(m) - 1) if len(m) > 1 else torch.ones(1)
    counts = (decided_counts.float().clone() if decided_counts is not None else torch.zeros(n_classes))
    cls = pred.long().clamp(min=0)
    has_cls = pred >= 0
    if features is not None and weights.diversity > 0:
        f = features.float()
        usable = f.norm(dim=1) > 0
        dec = decided_features.float() if decided_features is not None else None
        if f.shape[1] > PROJECT_DIM:
            proj = torch.randn(f.shape[1], PROJECT_DIM, generator=torch.Generator().manual_seed(0))
            f = torch.nn.functional.normalize(f @ proj, dim=1) * usable[:, None]
            dec = torch.nn.functional.normalize(dec @ proj, dim=1) if dec is not None else None
        if dec is not None and len(dec):
            nearest = 1.0 - (f @ dec.T).max(dim=1).values
        else:
            nearest = torch.full((n,), 2.0)  # nothing decided yet: every image is as far as can be
        nearest = torch.where(usable, nearest, torch.zeros(n))
    else:
        f, usable, nearest = None, None, None
    order: list[torch.Tensor] = []
    placed = torch.zeros(n, dtype=torch.bool)
    placed[~known] = True  # no prediction: appended at the end
    ids = torch.arange(n)
    tie = ids.double() * 1e-12  # equal scores: the lower row (image id) first

    def score(with_diversity: bool) -> torch.Tensor:
        s = weights.uncertainty * u + weights.balance * torch.where(has_cls, 1.0 / (1.0 + counts[cls]), 0.0)
        if with_diversity and nearest is not None:
            top = nearest[~placed].max() if (~placed).any() else torch.tensor(0.0)
            s = s + weights.diversity * (nearest / top.clamp(min=1e-6))
        return s

    limit = min(int(greedy), int((~placed).sum()))
    while limit > 0:
        s = (score(True).double() - tie).masked_fill(placed, float("-inf"))
        take = torch.topk(s, min(step, limit)).indices
        order.append(take)
        placed[take] = True
        limit -= len(take)
        counts.index_add_(0, cls[take][has_cls[take]], torch.ones(int(has_cls[take].sum())))
        if nearest is not None and f is not None:
            sims = f @ f[take].T  # [n, step]
            nearest = torch.minimum(nearest, torch.where(usable, 1.0 - sims.max(dim=1).values, nearest))
    rest = ~placed & known
    if rest.any():
        s = score(False)[rest]
        order.append(ids[rest][torch.argsort(-s, stable=True)])
    order.append(ids[~known])
    return torch.cat(order) if order else torch.zeros(0, dtype=torch.long)


def active_order(project: Any, filter: Any = None, seed: int = 0, *, weights: ActiveWeights | None = None) -> list[int]:
    """Image ids of the queue (default: readable, unreviewed images), most useful decision first.

    Reads the current predictions (top-1 class and margin, whichever run made them), the decisions
    per class, and the cached global features (never encodes). `seed` is accepted for parity with
    the other orders; the order does not depend on it.
    """
    from db.queries import ImageFilter
    from engine.learn.learners import one_thread
    from workflows.errors import UserError
    from workflows.neighbours import cached_features
    from workflows.refine import decided_labels

    filter = filter if filter is not None else ImageFilter(status="ok", review_status="unreviewed")
    ids = project.image_ids(filter, sort="name")
    if not ids:
        return []
    ids.sort()
    rows = {r.id: r for r in project.images(ids)}
    class_ids = list(project.class_names_by_id())
    index = {c: i for i, c in enumerate(class_ids)}
    pred = torch.tensor([index.get(rows[i].pred_class_id, -1) if rows[i].pred_class_id is not None else -1
                         for i in ids], dtype=torch.long)
    margin = torch.tensor([rows[i].pred_margin if rows[i].pred_margin is not None else float("nan")
                           for i in ids], dtype=torch.float32)
    decided = decided_labels(project)
    counts = torch.zeros(len(class_ids))
    hits = [index[c] for c in decided.values() if c in index]
    if hits:
        counts.index_add_(0, torch.tensor(hits), torch.ones(len(hits)))
    features = decided_features = None
    try:
        cf = cached_features(project, image_ids=ids + [i for i in decided if i not in rows])
    except UserError:  # the model named in the settings is unknown: the order works without diversity
        cf = None
    if cf is not None and len(cf.image_ids):
        row = {iid: k for k, iid in enumerate(cf.image_ids)}
        D = cf.features.shape[1]
        features = torch.zeros(len(ids), D)
        have = [(k, row[i]) for k, i in enumerate(ids) if i in row]
        if have:
            a, b = zip(*have)
            features[list(a)] = cf.features[list(b)]
        dec = [row[i] for i in decided if i in row]
        decided_features = cf.features[dec] if dec else torch.zeros(0, D)
    with one_thread():  # small tensors: torch's intra-op threads only spin on a busy machine
        perm = active_rank(margin, pred, len(class_ids), features=features, decided_counts=counts,
                           decided_features=decided_features, weights=weights or ActiveWeights())
    return [ids[k] for k in perm.tolist()]
