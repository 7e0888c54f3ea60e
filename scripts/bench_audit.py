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
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PLANTED_DIR = "planted"
PLANTED_FILE = "planted.json"


# --- planted worlds ------------------------------------------------------------------------------
def plant_files(target: Path, n_sources: int, n_offworld: int, seed: int = 0) -> dict[str, dict[str, str]]:
    """Write duplicates of `n_sources` demo scenes and `n_offworld` off-world images under
    images/planted/; returns {rel_path: {"kind": ..., "source": rel_path of the original | ""}}."""
    from PIL import Image, ImageFilter

    images = target / "images"
    out_dir = images / PLANTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    scenes = sorted(p for p in images.rglob("*.png") if p.parent.name not in ("broken", PLANTED_DIR))
    picks = rng.choice(len(scenes), size=n_sources, replace=False)
    kinds = ("copy", "jpeg", "crop", "flip")
    plan: dict[str, dict[str, str]] = {}
    for j, k in enumerate(picks.tolist()):
        src = scenes[k]
        rel_src = src.relative_to(images).as_posix()
        im = Image.open(src).convert("RGB")
        w, h = im.size
        kind = kinds[j % len(kinds)]
        name = f"dup_{j:03d}_{kind}"
        if kind == "copy":
            path = out_dir / f"{name}.png"
            path.write_bytes(src.read_bytes())
        elif kind == "jpeg":
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=70)
            path = out_dir / f"{name}.jpg"
            path.write_bytes(buf.getvalue())
        elif kind == "crop":
            m = max(2, int(round(0.06 * min(w, h))))  # a small crop: 6% off each side
            path = out_dir / f"{name}.png"
            im.crop((m, m, w - m, h - m)).save(path)
        else:
            path = out_dir / f"{name}.png"
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
        plan[path.relative_to(images).as_posix()] = {"kind": kind, "source": rel_src}
    for j in range(n_offworld):
        size = int(rng.choice([128, 160, 224]))
        if j % 2 == 0:
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            kind = "noise"
        else:  # a smooth two-colour gradient with a soft vignette, like an out-of-focus photo
            y, x = np.mgrid[0:size, 0:size] / size
            a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            t = (0.6 * x + 0.4 * y)[..., None]
            vign = 1 - 0.4 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)[..., None]
            arr = np.clip((a * (1 - t) + b * t) * vign, 0, 255).astype(np.uint8)
            kind = "gradient"
        path = out_dir / f"off_{j:03d}_{kind}.png"
        img = Image.fromarray(arr)
        if kind == "gradient":
            img = img.filter(ImageFilter.GaussianBlur(2))
        img.save(path)
        plan[path.relative_to(images).as_posix()] = {"kind": kind, "source": ""}
    (target / PLANTED_FILE).write_text(json.dumps(plan, indent=1))
    return plan


def build_world(target: Path, n_images: int, n_sources: int, n_offworld: int) -> Path:
    """A demo project (same scenes and flips as `lazlabel demo --images N`) plus planted files, pre-labelled."""
    from db import Project
    from workflows.demo import PROJECT_NAME, build_demo_project
    from workflows.prelabel import run_prelabel
    from workflows.progress import drive
    from workflows.scan import scan_folder

    target = Path(target).resolve()
    t0 = time.perf_counter()
    proj = drive(build_demo_project(target, n_images, prelabel=False))
    if not (target / PLANTED_FILE).is_file():
        plant_files(target, n_sources, n_offworld)
    with Project.open(proj) as project:
        drive(scan_folder(project))
        drive(run_prelabel(project, scope="all"))
    print(f"world {target} ({n_images} scenes + {n_sources} duplicates + {n_offworld} off-world) "
          f"built and pre-labelled in {time.perf_counter() - t0:.0f} s")
    return target / PROJECT_NAME


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["world", "labels", "plants", "speed"])
    ap.add_argument("--dir", action="append", default=[], help="demo world folder (repeatable)")
    ap.add_argument("--images", type=int, default=1400)
    ap.add_argument("--sources", type=int, default=0, help="scenes to duplicate (default images/35, min 8)")
    ap.add_argument("--offworld", type=int, default=0, help="off-world images (default images/140, min 6)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99])
    args = ap.parse_args()
    {"world": _cmd_world, "labels": _cmd_labels, "plants": _cmd_plants}[args.what](args)


if __name__ == "__main__":
    main()
