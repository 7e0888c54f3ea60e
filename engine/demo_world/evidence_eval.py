"""Measure the evidence on held-out demo scenes: pointing game, presence AUROC and cost.

The demo world knows every part's box and which parts each scene contains. Scenes are written to
disk and go through the product's own path (engine.pipeline.encode_images into a real
FeatureCache, score_cached with explanations, engine.presence for the calibration), so the
numbers are the product's. scripts/eval_evidence.py prints them; tests hold floors.

* pointing: for correctly predicted images, every attribute of the predicted class that the scene
  really contains -- does the peak of its map fall inside the part's true box? Chance = the part
  box's share of the image (a uniformly random point).
* presence: AUROC of the calibrated presence score between (image, attribute) pairs whose part is
  in the scene and pairs whose part is not, over every class's attributes; precision and recall
  of the "found" label.
* cost: CPU seconds of the explanation (patch-token pooling at encode time, plans, maps and
  presence of the top classes) as a fraction of the whole pre-label.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from engine import localize, pipeline
from engine.cache import FeatureCache
from engine.demo_world.classes import CLASS_NAMES
from engine.demo_world.evaluate import demo_classes
from engine.demo_world.scenes import EVAL_SEED_BASE, Scene, iter_scenes, render
from engine.evidence import FOUND_AT, WEAK_AT
from engine.models import ClipModel
from engine.pipeline import ImageItem, encode_images, score_cached, text_bank
from engine.presence import best_region_similarity, mean_and_spread
from engine.types import EngineConfig, ViewConfig

VIEWS = {"faithful": ViewConfig(mode="random"), "grid": ViewConfig(mode="grid")}


def write_scenes(n: int, out: Path) -> tuple[list[Scene], list[ImageItem]]:
    scenes = list(iter_scenes(EVAL_SEED_BASE, n))
    items = []
    for i, sc in enumerate(scenes):
        p = out / f"s{i:04d}.png"
        render(sc).save(p)
        items.append(ImageItem(i, p, f"eval-{sc.seed}"))
    return scenes, items


@contextmanager
def map_method(mode: str, method: str) -> Iterator[None]:
    old = localize.DEFAULT_MAP_METHOD[mode]
    localize.DEFAULT_MAP_METHOD[mode] = method
    try:
        yield
    finally:
        localize.DEFAULT_MAP_METHOD[mode] = old


def _in_box(pt: tuple[float, float], box: tuple[int, int, int, int]) -> bool:
    return bool(box[0] <= pt[0] < box[2] and box[1] <= pt[1] < box[3])


def pointing(model: ClipModel, scenes: list[Scene], items: list[ImageItem], cache: FeatureCache, view: ViewConfig,
             method: str | None = None) -> dict[str, Any]:
    classes = demo_classes()
    cfg = EngineConfig(topk=9, explain_top=1)
    hashes = [it.content_hash for it in items]
    if method is None:
        res = score_cached(model, cache, hashes, classes, cfg, view_mode=view.mode)
    else:
        with map_method(view.mode, method):
            res = score_cached(model, cache, hashes, classes, cfg, view_mode=view.mode)
    labels = [CLASS_NAMES.index(s.label) for s in scenes]
    pred = res.topk_idx[:, 0].tolist()
    hits = total = 0
    chance = 0.0
    for i, sc in enumerate(scenes):
        if pred[i] != labels[i]:
            continue
        ev = res.explanations[i][0]
        boxes = {p.part.description: p.box for p in sc.parts}
        for a in ev.attributes:
            box = boxes.get(a.text)
            if box is None or a.map is None:
                continue
            hits += _in_box(a.map.peak, box)
            chance += (box[2] - box[0]) * (box[3] - box[1]) / (sc.size * sc.size)
            total += 1
    acc = sum(p == y for p, y in zip(pred, labels)) / len(labels)
    return {"accuracy": acc, "pointing": hits / max(total, 1), "chance": chance / max(total, 1), "n": total}


def presence(model: ClipModel, scenes: list[Scene], items: list[ImageItem], cache: FeatureCache) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    classes = demo_classes()
    bank = text_bank(model, classes, EngineConfig())
    best = best_region_similarity(cache, [it.content_hash for it in items], bank.feats)
    mean, std = mean_and_spread(best)
    z = (best - mean) / std
    owner = bank.owner.tolist()
    texts = [(classes[c].attributes or ("",))[row - bank.first_row[c]] for row, c in enumerate(owner)]
    truth = torch.tensor([[t in {p.part.description for p in sc.parts} for t in texts] for sc in scenes])
    y, s = truth.flatten().numpy(), z.flatten().numpy()
    found = s >= FOUND_AT
    tp = float((found & y).sum())
    sweep = {}
    for t in (1.0, 1.5, 2.0, 2.5, 3.0):
        f = s >= t
        sweep[t] = (float((f & y).sum()) / max(float(f.sum()), 1.0), float((f & y).sum()) / max(float(y.sum()), 1.0))
    print("  presence precision/recall by threshold: " + ", ".join(f"{t}: {p:.3f}/{r:.3f}" for t, (p, r) in sweep.items()),
          file=sys.stderr)
    return {"auroc": float(roc_auc_score(y, s)), "auroc_raw": float(roc_auc_score(y, best.flatten().numpy())),
            "sweep": {str(t): v for t, v in sweep.items()},
            "found_precision": tp / max(float(found.sum()), 1.0), "found_recall": tp / max(float(y.sum()), 1.0),
            "absent_not_found": float((s[~y] < WEAK_AT).mean()), "present_found_or_weak": float((s[y] >= WEAK_AT).mean()),
            "present_rate": float(y.mean()), "pairs": int(y.size)}


def cost(model: ClipModel, items: list[ImageItem], view: ViewConfig, workdir: Path, repeats: int = 3) -> dict[str, float]:
    """CPU seconds per image: encoding with and without the patch-token pooling (alternated,
    fastest of `repeats`; view modes whose maps need no tokens pay nothing there), and scoring
    with and without explanations of the top two classes (fastest of `repeats`)."""
    classes = demo_classes()
    hashes = [it.content_hash for it in items]
    orig = pipeline.supports_tokens  # type: ignore[attr-defined]
    best: dict[str, float] = {"encode_tok": float("inf"), "encode_plain": float("inf")}
    for rep in range(repeats if localize.wants_tokens(view.mode) else 1):
        for tag in ("tok", "plain"):
            cache = FeatureCache(workdir / f"{tag}-{view.mode}-{rep}", model.model_id, view.key())
            if tag == "plain":
                setattr(pipeline, "supports_tokens", lambda _v: False)  # noqa: B010 - swapped for the timing
            try:
                t0 = time.process_time()
                for _ in encode_images(model, items, view, cache, batch_size=8):
                    pass
                best[f"encode_{tag}"] = min(best[f"encode_{tag}"], time.process_time() - t0)
            finally:
                setattr(pipeline, "supports_tokens", orig)  # noqa: B010
    if not localize.wants_tokens(view.mode):
        best["encode_plain"] = best["encode_tok"]  # the same code path: no pooling in this mode
    cache = FeatureCache(workdir / f"tok-{view.mode}-0", model.model_id, view.key())
    text_bank(model, classes, EngineConfig())  # texts encoded once, outside the timings
    for kx in (2, 0):
        t = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            score_cached(model, cache, hashes, classes, EngineConfig(topk=9, explain_top=kx), view_mode=view.mode)
            t = min(t, time.process_time() - t0)
        best[f"score_explain{kx}"] = t
    total = best["encode_tok"] + best["score_explain2"]
    pooling = max(0.0, best["encode_tok"] - best["encode_plain"])
    plans = max(0.0, best["score_explain2"] - best["score_explain0"])
    n = len(items)
    return {"prelabel_s_per_image": total / n, "explain_s_per_image": (pooling + plans) / n,
            "fraction": (pooling + plans) / total, "token_pooling_s_per_image": pooling / n,
            "plans_maps_s_per_image": plans / n}


