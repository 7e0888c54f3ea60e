#!/usr/bin/env python
"""Learning from decisions (issue #17): the learning curve, decision noise and speed.

  curve : on a demo project (`lazlabel demo --images N`), a simulated curator decides k images per
          class with the generated ground truth (k = 0, 1, 2, 4, 8, 16); each method learns through
          the product's own use case (`workflows.learning.learn`, preview) and the top-1 accuracy is
          measured on HELD-OUT scenes (images never decided: the first 16 scenes of each class are
          the decision pool, the rest are held out). `--noise 0.1` makes 10% of the decisions wrong
          (a random other class); `--draw N` decides a random draw of the pool instead of the
          first scenes by path (a different curator: the spread over draws is the real uncertainty).
  speed : learn + re-score N cached images x C classes (~7 attributes, 90 regions, D=512; random
          unit features in a real on-disk FeatureCache): zero-shot scores, the per-attribute terms
          and best-region similarities, the cross-validated fit on d decided images per class, and
          the learned scores of every image, in seconds (engine path of `workflows.learning.learn`, without the store).

    .venv/bin/python scripts/bench_learn.py curve --project /tmp/demo/demo.lazlabel [--noise 0.1]
    .venv/bin/python scripts/bench_learn.py speed [--images 10000 --classes 200 --per-class 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POOL_PER_CLASS = 16
CURVE_K = (0, 1, 2, 4, 8, 16)


def _emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


# ----------------------------------------------------------------------------- curve


def _curve(args) -> None:
    from db import Project
    from workflows.errors import UserError
    from workflows.learning import learn
    from workflows.progress import drive

    src = Path(args.project).resolve()
    truth_file = src.parent / "ground_truth.json"
    truth_by_path = {r["path"]: r["class"] for r in json.loads(truth_file.read_text())["images"]}
    methods = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for k in CURVE_K:
            # a fresh copy per k: decisions are append-only, each point starts from zero decisions
            dst = Path(tmp) / f"k{k}"
            dst.mkdir()
            shutil.copy2(src, dst / src.name)
            cache = src.with_name(src.name + ".cache")
            (dst / cache.name).symlink_to(cache)
            project = Project.open(dst / src.name)
            try:
                names = {n: i for i, n in project.class_names_in_order()}
                rows = sorted(project.images(project.image_ids()), key=lambda r: r.rel_path)
                seen: dict[str, int] = {}
                pool, held = [], []
                for r in rows:
                    c = truth_by_path.get(r.rel_path)
                    if c is None or r.status != "ok":
                        continue
                    seen[c] = seen.get(c, 0) + 1
                    (pool if seen[c] <= POOL_PER_CLASS else held).append((r.id, names[c]))
                if args.draw:  # another curator: the decided images drawn at random from the same pool
                    perm = torch.randperm(len(pool), generator=torch.Generator().manual_seed(args.draw))
                    pool = [pool[i] for i in perm.tolist()]
                g = torch.Generator().manual_seed(args.seed)
                taken: dict[int, int] = {}
                wrong = 0
                class_ids = sorted(names.values())
                for iid, cid in pool:
                    if taken.get(cid, 0) >= k:
                        continue
                    taken[cid] = taken.get(cid, 0) + 1
                    decided = cid
                    if float(torch.rand(1, generator=g)) < args.noise:  # a wrong decision
                        others = [c for c in class_ids if c != cid]
                        decided = others[int(torch.randint(len(others), (1,), generator=g))]
                        wrong += 1
                    project.record_decisions([iid], "corrected", class_id=decided, reviewer="sim")
                shown = project.current_top1()
                zs = sum(shown.get(i) == c for i, c in held) / len(held)
                point = {"k_per_class": k, "draw": args.draw, "noise": args.noise, "wrong": wrong, "held_out": len(held),
                         "zero_shot": round(100 * zs, 1)}
                for m in methods:
                    if k == 0:
                        point[m] = point["zero_shot"]
                        continue
                    t = time.perf_counter()
                    try:
                        res = drive(learn(project, method=m, preview=True, seed=args.seed))
                    except UserError as err:
                        point[m] = str(err)
                        continue
                    after = dict(shown)
                    after.update({i: b for i, _a, b in res.changes})
                    point[m] = round(100 * sum(after.get(i) == c for i, c in held) / len(held), 1)
                    point[f"{m}_hyper"] = res.hyperparameters
                    point[f"{m}_cv"] = [None if v is None else round(100 * v, 1)
                                        for v in (res.cv_zero_shot, res.cv_learned)]
                    point[f"{m}_s"] = round(time.perf_counter() - t, 2)
                _emit(**point)
            finally:
                project.close()


# ----------------------------------------------------------------------------- speed


def _speed(args) -> None:
    import torch.nn.functional as F

    from engine.cache import FeatureCache
    from engine.learn.learners import LearnData, get_learner, presence_stats, select_and_fit
    from engine.learn.terms import attribute_terms_best
    from engine.pipeline import TextBank, score_with_texts
    from engine.types import ClassSpec, EngineConfig

    torch.manual_seed(0)
    N, D, C, n = args.regions, args.dim, args.classes, args.images
    g = torch.Generator().manual_seed(1)
    counts = torch.randint(5, 10, (C,), generator=g)
    owner = torch.repeat_interleave(torch.arange(C), counts)
    feats = F.normalize(torch.randn(len(owner), D, generator=g), dim=-1)
    classes = [ClassSpec(f"class{c}", tuple(f"attr{j}" for j in range(int(k)))) for c, k in enumerate(counts)]
    texts = TextBank([f"s{i}" for i in range(len(owner))], owner, feats, (torch.cumsum(counts, 0) - counts).tolist())
    root = Path(args.cache or tempfile.mkdtemp(prefix="bench-learn-"))
    cache = FeatureCache(root, "bench-random-unit", f"n{N}")
    hashes = [f"img{i:07d}" for i in range(n)]
    todo = set(cache.missing(hashes))
    t = time.perf_counter()
    for s in range(0, n, 500):
        hs = hashes[s:s + 500]
        if not todo.intersection(hs):
            continue
        gg = torch.Generator().manual_seed(1000 + s)
        P0 = F.normalize(torch.randn(len(hs), D, generator=gg), dim=-1)
        R = F.normalize(torch.randn(len(hs), N, D, generator=gg), dim=-1)
        boxes = torch.rand(len(hs), N, 4, generator=gg).sort(-1).values * 500
        cache.put_batch(hs, P0, R, boxes, image_sizes=[(500, 500)] * len(hs))
    build_s = time.perf_counter() - t
    cfg = EngineConfig(explain_top=0)
    score_with_texts(cache, hashes[:8], classes, texts, cfg)  # warm-up: numba compile (cached on disk)
    attribute_terms_best(*cache.get(hashes[:2])[:2], feats, owner, cfg)
    out: dict = {"images": n, "classes": C, "attributes": len(owner), "regions": N, "dim": D,
                 "cache_build_s": round(build_s, 1)}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = score_with_texts(cache, hashes, classes, texts, cfg, return_all=True)
    zero = res.all_scores
    out["zero_shot_s"] = round(time.perf_counter() - t0, 2)
    # decisions: the first `per_class` images of each zero-shot top-1 class, decided as that class
    top = zero.argmax(1)
    rows, labels = [], []
    per = {c: 0 for c in range(C)}
    for i, c in enumerate(top.tolist()):
        if per[c] < args.per_class:
            per[c] += 1
            rows.append(i)
            labels.append((c + (i % 7 == 0)) % C)  # some corrections, so there is something to learn
    t = time.perf_counter()
    terms = torch.zeros(n, len(owner))
    best = torch.zeros(n, len(owner))
    for s in range(0, n, 2000):
        gg, rr, _b, mask = cache.get(hashes[s:s + 2000], with_mask=True)
        terms[s:s + len(gg)], best[s:s + len(gg)] = attribute_terms_best(
            gg, rr, feats, owner, cfg, region_mask=None if mask.all() else mask)
    out["terms_s"] = round(time.perf_counter() - t, 2)
    rows_t = torch.tensor(rows)
    data = LearnData(zero[rows_t], torch.arange(len(rows)), torch.tensor(labels), terms=terms[rows_t],
                     attr_class=owner, best=best[rows_t], best_stats=presence_stats(best))
    t = time.perf_counter()
    learner = get_learner("attributes")
    rep = select_and_fit(learner, data, seed=0)
    out["fit_cv_s"] = round(time.perf_counter() - t, 2)
    out["decided"] = len(rows)
    out["hyper"] = rep.hyper
    t = time.perf_counter()
    learned = learner.score(rep.params, zero, terms, None, best)
    changed = int((learned.argmax(1) != top).sum())
    out["score_s"] = round(time.perf_counter() - t, 3)
    out["changed"] = changed
    out["learn_and_rescore_s"] = round(out["zero_shot_s"] + out["terms_s"] + out["fit_cv_s"] + out["score_s"], 2)
    out["relearn_s"] = round(out["fit_cv_s"] + out["score_s"], 2)  # terms kept: 50 more decisions re-fit only
    out["cpu_s_all_threads"] = round(time.process_time() - cpu0, 1)
    _emit(**out)
    if not args.cache:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curve")
    c.add_argument("--project", required=True)
    c.add_argument("--methods", default="attributes,adapter")
    c.add_argument("--noise", type=float, default=0.0)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--draw", type=int, default=0,
                   help="0: decide each class's first pool scenes by path; N: a random draw from the pool (seed N)")
    c.set_defaults(func=_curve)
    s = sub.add_parser("speed")
    s.add_argument("--images", type=int, default=10000)
    s.add_argument("--classes", type=int, default=200)
    s.add_argument("--regions", type=int, default=90)
    s.add_argument("--dim", type=int, default=512)
    s.add_argument("--per-class", type=int, default=8)
    s.add_argument("--cache", default=None, help="keep the synthetic cache here (reused next time)")
    s.set_defaults(func=_speed)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
