"""The active review order against lowest margin and random on the demo world, under a simulated
curator who decides K images of the queue, then learns (issue #17 item 6). Shared by
`scripts/bench_active.py` (the numbers in docs/architecture.md, "The active review order") and the
floor test `tests/refine/test_active_demo.py`. Reads the demo project's feature cache only.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from workflows.active_order import ActiveWeights

World = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Curve = list[tuple[int, float]]


def load_world(work: Path, n_images: int) -> World:
    """(zero-shot [n, C], terms [n, A], attribute class [A], unit global features [n, D], labels [n],
    best-region similarities [n, A]: the presence cue `lazlabel learn` uses)."""
    import torch.nn.functional as F

    from db import Project
    from engine.demo_world.classes import descriptors
    from engine.learn.terms import cached_terms_best
    from engine.types import ClassSpec
    from workflows.demo import PROJECT_NAME, build_demo_project
    from workflows.progress import drive
    from workflows.scoring import ScoringContext

    t0 = time.perf_counter()
    # an existing demo is only read (its feature cache); its attribute set may have been edited
    drive(build_demo_project(work, n_images, prelabel=not (work / PROJECT_NAME).exists()))
    truth = {r["path"]: r["class"] for r in json.loads((work / "ground_truth.json").read_text())["images"]}
    specs = [ClassSpec(name, tuple(attrs)) for name, attrs in descriptors().items()]
    names = [s.name for s in specs]
    with Project.open(work / PROJECT_NAME) as project:
        ctx = ScoringContext.from_project(project)
        rows = [r for r in project.images(project.image_ids()) if r.rel_path in truth and r.content_hash]
        hashes = [r.content_hash for r in rows]
    ctx = ScoringContext(**{**ctx.__dict__, "classes": specs, "class_ids": list(range(len(specs)))})
    cfg = replace(ctx.engine_cfg, topk=1, explain_top=0, prefilter_k=None)
    parts = []
    for _i, res in ctx.score_chunks(list(range(len(hashes))), dict(enumerate(hashes)), config=cfg, return_all=True):
        assert res.all_scores is not None
        parts.append(res.all_scores.float())
    zs = torch.cat(parts)
    terms, best, owner = cached_terms_best(ctx.model, ctx.cache, hashes, specs, ctx.engine_cfg)
    feats = F.normalize(ctx.cache.global_features(hashes).float(), dim=1)
    y = torch.tensor([names.index(truth[r.rel_path]) for r in rows])
    print(f"demo world: {len(rows)} scenes, {len(specs)} classes, {terms.shape[1]} attributes "
          f"({time.perf_counter() - t0:.0f} s to build/reuse and read the cache)")
    return zs, terms, owner, feats, y, best


def fit_scores(zs: torch.Tensor, terms: torch.Tensor, owner: torch.Tensor, y: torch.Tensor, rows: list[int], seed: int,
               best: torch.Tensor | None = None) -> torch.Tensor:
    """Learned scores of every image after learning from `rows` (decided with the truth), with the
    presence cue over every image as `lazlabel learn` computes it (workflows/learning.py)."""
    from engine.learn.learners import LearnData, get_learner, presence_stats, select_and_fit

    learner = get_learner("attributes")
    rows_t = torch.as_tensor(rows, dtype=torch.long)
    data = LearnData(zero_shot=zs[rows_t], pos_rows=torch.arange(len(rows_t)), pos_class=y[rows_t],
                     terms=terms[rows_t], attr_class=owner,
                     best=None if best is None else best[rows_t],
                     best_stats=None if best is None else presence_stats(best))
    rep = select_and_fit(learner, data, seed=seed)
    out: torch.Tensor = learner.score(rep.params, zs, terms, None, best)
    return out


def margins(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    top = scores.topk(2, dim=1)
    return top.values[:, 0] - top.values[:, 1], top.indices[:, 0]


def next_batch(order: str, scores: torch.Tensor, feats: torch.Tensor, y: torch.Tensor, cand: list[int], decided: list[int], k: int,
               C: int, rng: torch.Generator, weights: ActiveWeights | None = None) -> list[int]:
    from workflows.active_order import active_rank

    c = torch.as_tensor(cand, dtype=torch.long)
    m, pred = margins(scores[c])
    if order == "lowest_margin":
        pick = torch.argsort(m, stable=True)[:k]
    elif order == "random":
        pick = torch.randperm(len(c), generator=rng)[:k]
    else:
        counts = torch.bincount(y[torch.as_tensor(decided, dtype=torch.long)], minlength=C).float() \
            if decided else torch.zeros(C)
        dfeat = feats[torch.as_tensor(decided, dtype=torch.long)] if decided else None
        pick = active_rank(m, pred, C, features=feats[c], decided_counts=counts, decided_features=dfeat,
                           greedy=k, weights=weights or ActiveWeights())[:k]
    return [cand[i] for i in pick.tolist()]


def simulate(order: str, zs: torch.Tensor, terms: torch.Tensor, owner: torch.Tensor, feats: torch.Tensor, y: torch.Tensor, pool: list[int],
             test: list[int], budget: int, k: int, seed: int, weights: ActiveWeights | None = None,
             best: torch.Tensor | None = None) -> Curve:
    """Held-out top-1 after each round of K decisions taken in `order`, learning after each round."""
    C = zs.shape[1]
    rng = torch.Generator().manual_seed(seed)
    scores = zs
    decided: list[int] = []
    curve: Curve = []
    t_test = torch.as_tensor(test)
    while len(decided) < budget:
        left = sorted(set(pool) - set(decided))
        decided += next_batch(order, scores, feats, y, left, decided, min(k, budget - len(decided)), C, rng,
                              weights)
        scores = fit_scores(zs, terms, owner, y, decided, seed=0, best=best)
        curve.append((len(decided), float((scores[t_test].argmax(1) == y[t_test]).float().mean())))
    return curve


def first_reaching(curve: Curve, target: float) -> int | None:
    """Decisions after which the curve first reaches `target` (None: never)."""
    return next((n for n, acc in curve if acc >= target - 1e-9), None)
