#!/usr/bin/env python
"""Benchmarks of the audit (issue #16): what it finds, and how fast.

1. labels: on demo worlds (140 and 1,400 scenes, ~10% folder labels flipped) the label-issue set of
   every filter against the planted flips (flagged / precision / recall), cleanlab's default and
   `confident_learning` run by hand on the same calibrated probabilities, and the AP of the ranking.
2. plants: a demo build with planted exact copies and near duplicates (re-encoded JPEG, small crop,
   horizontal flip) and off-world images (noise, a smooth photo-like gradient), unlabelled, pre-labelled
   with the rest: recall and precision of the duplicate and outlier checks.
3. speed: every check at 10,000 cached images (random unit global features in a real FeatureCache,
   and a planted labelled set scored by the engine for the label checks).

Usage:
    .venv/bin/python scripts/bench_audit.py world --dir /tmp/demo1400 --images 1400   # build a planted world
    .venv/bin/python scripts/bench_audit.py labels --dir /tmp/demo140 --dir /tmp/demo1400
    .venv/bin/python scripts/bench_audit.py plants --dir /tmp/demo1400
    .venv/bin/python scripts/bench_audit.py speed --images 10000
A world built by `world` is a normal demo project (`lazlabel demo --dir D --images N` builds the same
scenes and flips) plus `images/planted/` and `planted.json` naming what each planted file copies.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.workflows.audit_world import PLANTED_FILE, build_world  # noqa: E402


def _cmd_world(args: argparse.Namespace) -> None:
    for d in args.dir:
        n_src = args.sources or max(8, args.images // 35)
        n_off = args.offworld or max(6, args.images // 140)
        build_world(Path(d), args.images, n_src, n_off)


# --- 1. label issues against planted flips ----------------------------------------------------------
def label_probs(project_path: Path) -> dict[str, Any]:
    """Calibrated probabilities of the labelled images of a demo world, with the planted flips."""
    import csv

    import torch

    from db import Project
    from workflows.audit import calibrate_temperature
    from workflows.progress import drive
    from workflows.scoring import ScoringContext

    target = project_path.parent
    truth = {r["path"]: r["class"] for r in json.loads((target / "ground_truth.json").read_text())["images"]}
    noisy = dict(csv.reader((target / "labels_noisy.csv").open(encoding="utf-8")))
    with Project.open(project_path) as project:
        ctx = ScoringContext.from_project(project)
        index = ctx.class_index
        labelled = {i: c for i, c in project.imported_label_ids().items() if c in index}
        ids = sorted(labelled)
        t = time.perf_counter()
        scored, scores, _missing = drive(ctx.score_all(project, ids))
        t_score = time.perf_counter() - t
        labels = torch.tensor([index[labelled[i]] for i in scored])
        temp = calibrate_temperature(scores, labels)
        probs = torch.softmax(scores.double() / temp, dim=1)
        paths = {r.id: r.rel_path for r in project.images(scored)}
    flipped = np.array([noisy[paths[i]] != truth[paths[i]] for i in scored])
    return {"probs": probs, "labels": labels, "flipped": flipped, "temperature": temp, "score_s": t_score}


def _pr(flagged: np.ndarray, truth: np.ndarray) -> tuple[int, float, float]:
    tp = int((flagged & truth).sum())
    return int(flagged.sum()), tp / max(1, int(flagged.sum())), tp / max(1, int(truth.sum()))


def _cmd_labels(args: argparse.Namespace) -> None:
    from cleanlab.filter import find_label_issues as cl_find
    from sklearn.metrics import average_precision_score

    from workflows.audit import DEFAULT_FILTER, FILTERS, RANKINGS, find_label_issues

    for d in args.dir:
        st = label_probs(Path(d) / "demo.lazlabel")
        probs, labels, flipped = st["probs"], st["labels"], st["flipped"]
        p, y = probs.numpy(), labels.numpy()
        print(f"\n{d}: {len(y)} labelled, {int(flipped.sum())} flipped, T={st['temperature']:.4g}, "
              f"scoring {st['score_s']:.1f}s")
        print(f"{'method':<44}{'flagged':>8}{'precision':>11}{'recall':>8}")
        rows = [("cleanlab default by hand (filter.find_label_issues)", cl_find(y, p)),
                ("cleanlab confident_learning by hand", cl_find(y, p, filter_by="confident_learning"))]
        for f in FILTERS:
            mark = " (default)" if f == DEFAULT_FILTER else ""
            rows.append((f"lazlabel audit --filter {f}{mark}", find_label_issues(probs, labels, filter_by=f).flagged.numpy()))
        for name, flagged in rows:
            n, pr, rc = _pr(np.asarray(flagged, dtype=bool), flipped)
            print(f"{name:<44}{n:>8}{pr:>11.3f}{rc:>8.3f}")
        for r in RANKINGS:
            score = find_label_issues(probs, labels, ranking=r).issue_score.numpy()
            ap = average_precision_score(flipped, score)
            top = np.argsort(-score, kind="stable")[: int(flipped.sum())]
            print(f"ranking {r:<28} AP {ap:.3f}   precision of the top {int(flipped.sum())}: "
                  f"{flipped[top].mean():.3f}")


# --- 2. planted duplicates and off-world images --------------------------------------------------
def _plant_truth(project: Any, target: Path) -> tuple[dict[int, dict[str, Any]], dict[str, int]]:
    plan = json.loads((target / PLANTED_FILE).read_text())
    ids = {}
    for rel in list(plan) + [v["source"] for v in plan.values() if v["source"]]:
        iid = project.image_id_for_path(rel)
        if iid is not None:
            ids[rel] = iid
    return {ids[rel]: {**v, "source_id": ids.get(v["source"])} for rel, v in plan.items() if rel in ids}, ids


def _cmd_plants(args: argparse.Namespace) -> None:
    from db import Project
    from workflows.duplicates import K_CANDIDATES, aligned_similarity, candidate_pairs, group_pairs
    from workflows.neighbours import cached_features, neighbour_pass
    from workflows.outliers import K_NEIGHBOURS, find_outliers

    for d in args.dir:
        target = Path(d)
        with Project.open(target / "demo.lazlabel") as project:
            truth, _ids = _plant_truth(project, target)
            feats = cached_features(project)
            npass = neighbour_pass(feats.features, k=max(K_CANDIDATES, K_NEIGHBOURS))
            pairs = candidate_pairs(feats, npass)
            sims = aligned_similarity(feats, pairs)
            global_sims = (feats.features[pairs[:, 0]] * feats.features[pairs[:, 1]]).sum(-1).numpy()
        dup_pairs = {frozenset((i, v["source_id"])): v["kind"] for i, v in truth.items() if v["source_id"]}
        print(f"\n{d}: {len(feats.image_ids)} images with features, {len(dup_pairs)} planted duplicate pairs, "
              f"{len(pairs)} candidate pairs")
        for name, s in (("aligned regions", sims), ("global cosine only", global_sims)):
            print(f"{name}:\n{'threshold':>9}{'groups':>8}{'pairs':>7}{'precision':>11}{'recall':>8}   recall by kind")
            for thr in sorted(args.thresholds):
                groups = group_pairs(feats, pairs, s, thr)
                found = {frozenset((a, b)) for g in groups for a in g.image_ids for b in g.image_ids if a < b}
                hit = found & set(dup_pairs)
                kinds: dict[str, list[int]] = {}
                for pair, kind in dup_pairs.items():
                    kinds.setdefault(kind, [0, 0])
                    kinds[kind][0] += pair in found
                    kinds[kind][1] += 1
                exact = sum(1 for g in groups if g.kind == "exact")
                print(f"{thr:>9.3f}{len(groups):>8}{len(found):>7}{len(hit) / max(1, len(found)):>11.3f}"
                      f"{len(hit) / max(1, len(dup_pairs)):>8.3f}   "
                      + " ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(kinds.items())) + f"  (exact groups {exact})")
        off = {i for i, v in truth.items() if v["kind"] in ("noise", "gradient")}
        items, thresholds = find_outliers(feats, npass)
        flagged = {o.image_id for o in items if o.flagged}
        listed = [o.image_id for o in items]
        top = set(listed[: len(off)])
        print(f"outliers: {len(flagged)} flagged, precision {len(flagged & off) / max(1, len(flagged)):.3f}, "
              f"recall {len(flagged & off) / max(1, len(off)):.3f}; {len(off)} off-world, "
              f"{len(top & off)} of them in the top {len(off)}, {len(set(listed) & off)} in the {len(listed)} listed "
              f"(threshold {thresholds})")


# --- 3. speed at 10,000 cached images --------------------------------------------------------------
def _speed_dataset(tmp: Path, n: int, dim: int, n_regions: int, copies: int) -> None:
    """Duplicates and outliers over random unit features (plus planted near copies) in a real cache."""
    import torch

    from db import Project
    from db.store_images import ScanRecord
    from tests.workflows.synth import synthetic_hashes, tiny_settings
    from workflows.audit import run_audit
    from workflows.audit_findings import load_findings
    from workflows.neighbours import feature_cache
    from workflows.progress import drive
    from workflows.settings import save_settings

    (tmp / "data" / "images").mkdir(parents=True)
    project = Project.create(tmp / "data" / "p.lazlabel", tmp / "data" / "images")
    save_settings(project, tiny_settings(view_mode="grid"))
    cache = feature_cache(project)
    g = torch.Generator().manual_seed(0)
    hashes = synthetic_hashes(n, "speed")
    side = int(np.ceil(np.sqrt(n_regions)))
    cells = [[x * 10, y * 10, x * 10 + 10, y * 10 + 10] for y in range(side) for x in range(side)][:n_regions]
    boxes = torch.tensor(cells, dtype=torch.float32)
    t = time.perf_counter()
    src_g = src_r = None
    for start in range(0, n, 1000):
        b = min(1000, n - start)
        glob = torch.nn.functional.normalize(torch.randn(b, dim, generator=g), dim=1)
        reg = torch.nn.functional.normalize(torch.randn(b, n_regions, dim, generator=g), dim=-1)
        if start == 0:
            src_g, src_r = glob[:copies].clone(), reg[:copies].clone()
        if start + b > n - copies:  # the last `copies` images are noisy copies of the first ones
            k0 = max(0, n - copies - start)
            j = torch.arange(start + k0, start + b) - (n - copies)
            glob[k0:] = torch.nn.functional.normalize(src_g[j] + 0.01 * torch.randn(len(j), dim, generator=g), dim=1)
            reg[k0:] = torch.nn.functional.normalize(src_r[j] + 0.01 * torch.randn(len(j), n_regions, dim, generator=g), dim=-1)
        cache.put_batch(hashes[start : start + b], glob, reg, boxes.expand(b, -1, -1), [(side * 10, side * 10)] * b)
    project.write_scan_batch([ScanRecord(rel_path=f"{k:05d}.png", size=1, mtime_ns=1, width=side * 10,
                                         height=side * 10, content_hash=h) for k, h in enumerate(hashes)])
    print(f"\n{n} images, random unit features D={dim}, {n_regions} regions each, {copies} noisy copies "
          f"(cache written in {time.perf_counter() - t:.0f} s)")
    res = drive(run_audit(project, checks="duplicates,outliers"))
    found = load_findings(project, "duplicates")
    pairs = {frozenset(gr["image_ids"]) for gr in found["groups"]}
    ids = project.image_ids()
    want = {frozenset((ids[k], ids[n - copies + k])) for k in range(copies)}
    print(f"  duplicates: {len(found['groups'])} groups, {len(pairs & want)}/{copies} planted copies, "
          f"{found['candidate_pairs']} candidate pairs; outliers flagged: {res.counts['outliers']}")
    print("  " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in res.timings.items()))
    project.close()


def _speed_labels(tmp: Path, n: int, n_classes: int, n_decided: int) -> None:
    """Label issues, health, overlap and the second opinion on a planted labelled set scored by the
    engine from its feature cache (tiny random-init model: the scoring is real LaZSL)."""
    from db import Project
    from tests.workflows.synth import planted_project
    from workflows.audit import run_audit
    from workflows.progress import drive
    from workflows.review import decide

    (tmp / "labels" / "images").mkdir(parents=True)
    project = Project.create(tmp / "labels" / "p.lazlabel", tmp / "labels" / "images")
    t = time.perf_counter()
    world = planted_project(project, n=n, n_classes=n_classes, flip=0.1)
    names, cids = world["names"], world["class_ids"]
    for k in range(n_decided):
        decide(project, [world["ids"][k]], "corrected", class_id=cids[names[int(world["given"][k])]], reviewer="b")
    print(f"\n{n} labelled images, {n_classes} classes, {int(world['flipped'].sum())} flipped, "
          f"{n_decided} decided (built in {time.perf_counter() - t:.0f} s)")
    res = drive(run_audit(project, checks="labels,overlap,decisions"))
    print(f"  {res.message}")
    print("  " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in res.timings.items()))
    project.close()


def _cmd_speed(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(max(1, args.threads))
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as d:
        _speed_dataset(Path(d), args.images, args.dim, args.regions, args.copies)
        _speed_labels(Path(d), args.images, args.classes, args.decided)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["world", "labels", "plants", "speed"])
    ap.add_argument("--dir", action="append", default=[], help="demo world folder (repeatable)")
    ap.add_argument("--images", type=int, default=0, help="world: scenes (1400); speed: images (10000)")
    ap.add_argument("--sources", type=int, default=0, help="scenes to duplicate (default images/35, min 8)")
    ap.add_argument("--offworld", type=int, default=0, help="off-world images (default images/140, min 6)")
    ap.add_argument("--dim", type=int, default=512, help="speed: feature size")
    ap.add_argument("--regions", type=int, default=16, help="speed: regions per image")
    ap.add_argument("--copies", type=int, default=200, help="speed: planted noisy copies")
    ap.add_argument("--classes", type=int, default=50, help="speed: classes of the labelled set")
    ap.add_argument("--decided", type=int, default=200, help="speed: decided images (second opinion)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99])
    args = ap.parse_args()
    args.images = args.images or (10000 if args.what == "speed" else 1400)
    {"world": _cmd_world, "labels": _cmd_labels, "plants": _cmd_plants, "speed": _cmd_speed}[args.what](args)


if __name__ == "__main__":
    main()
