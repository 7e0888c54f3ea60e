#!/usr/bin/env python
"""Benchmarks of the run use cases (issue #6).

1. prelabel: throughput of the whole use case (`workflows.prelabel.run_prelabel`: hashing, store
   writes, progress) vs the engine alone (`engine.pipeline.prelabel` over the same images), each on
   a fresh feature cache; the use case should add < 10%.
2. rescore: `workflows.rescore.rescore` over a synthetic feature cache of N images x C classes
   (default 10,000 x 200), preview (score only) and commit (score + store writes).
3. audit: precision / recall of the flagged set and precision of the top 100 on a planted
   labelled set with 10% of labels flipped.

Usage: .venv/bin/python scripts/bench_usecases.py [prelabel|rescore|audit ...] [--images N] ...
Numbers are wall-clock on whatever machine runs this; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.workflows.synth import add_classes, add_images, planted_project, tiny_settings  # noqa: E402


def _project(tmp: Path, name: str):
    from db import Project

    root = tmp / name / "images"
    root.mkdir(parents=True)
    return Project.create(tmp / name / "p.lazlabel", root)


def _settings(args: argparse.Namespace):
    from engine.demo_world.train import register_config

    register_config()  # lets --model random:lazlabel-demo-tiny use the demo architecture untrained
    s = tiny_settings(n_crops=args.crops, batch_size=args.batch_size, device=args.device)
    if args.model:
        s = dataclasses.replace(s, model=args.model)
    return s


def _bench_prelabel(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from engine.cache import FeatureCache
    from engine.pipeline import ImageItem
    from engine.pipeline import prelabel as engine_prelabel
    from engine.prompts import class_prompts
    from workflows.prelabel import run_prelabel
    from workflows.progress import drive
    from workflows.scan import ensure_content_hash
    from workflows.scoring import ScoringContext
    from workflows.settings import save_settings

    settings = _settings(args)
    engine_times, usecase_times, breakdown = [], [], []
    for rep in range(args.repeat):
        proj = _project(tmp, f"uc{rep}")
        add_images(proj, args.images, size=(args.size, args.size))
        add_classes(proj, _classes(args.classes))
        save_settings(proj, settings)
        ctx = ScoringContext.from_project(proj)  # loads (and caches) the model outside the timing
        ctx.model.encode_texts(class_prompts(ctx.classes)[0])  # warm text cache for both contenders
        ids = proj.image_ids()
        ensure_content_hash(proj, ids)  # hashes for the engine-alone items (the use case re-checks them)
        rows = proj.images(ids)
        paths = proj.image_paths(ids)
        items = [ImageItem(r.id, paths[r.id], r.content_hash) for r in rows]

        def engine_alone(rep: int = rep, items: list = items, ctx: Any = ctx) -> None:
            cache = FeatureCache(tmp / f"engine{rep}", ctx.model_id, ctx.view_cfg.key())
            batches = engine_prelabel(ctx.model, items, ctx.classes, ctx.engine_cfg, ctx.view_cfg, cache)
            assert sum(len(b.items) for b in batches) == args.images

        def use_case(proj: Any = proj) -> None:
            summary = drive(run_prelabel(proj))
            breakdown.append(summary.timings)
            assert summary.n_scored == args.images, summary

        order = [("engine", engine_alone), ("use case", use_case)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            w, c = time.perf_counter(), time.process_time()
            fn()
            (engine_times if name == "engine" else usecase_times).append(
                (time.perf_counter() - w, time.process_time() - c)
            )
        proj.close()
    ew, uw = min(w for w, _ in engine_times), min(w for w, _ in usecase_times)
    ec, uc = min(c for _, c in engine_times), min(c for _, c in usecase_times)
    out = {
        "images": args.images,
        "engine_wall_s": ew,
        "usecase_wall_s": uw,
        "engine_cpu_s": ec,
        "usecase_cpu_s": uc,
        "overhead_wall_pct": 100 * (uw - ew) / ew,
        "overhead_cpu_pct": 100 * (uc - ec) / ec,
    }
    print(
        f"prelabel {args.images} images {args.size}px, {len(_classes(args.classes))} classes, "
        f"{args.crops} crops, model {settings.model}, best of {args.repeat}:\n"
        f"  engine alone: {args.images / ew:.2f} img/s (wall {ew:.2f}s, CPU {ec:.2f}s)\n"
        f"  use case:     {args.images / uw:.2f} img/s (wall {uw:.2f}s, CPU {uc:.2f}s)\n"
        f"  use-case overhead: wall {out['overhead_wall_pct']:+.1f}%, CPU {out['overhead_cpu_pct']:+.1f}%"
    )
    for (w1, c1), (w2, c2), b in zip(engine_times, usecase_times, breakdown):
        print(
            f"  rep: engine {w1:.2f}s wall/{c1:.2f}s CPU; use case {w2:.2f}s wall/{c2:.2f}s CPU "
            f"(inside: engine {b['engine_s']:.2f}s, store writes {b['store_s']:.2f}s)"
        )
    return out


def _classes(n: int) -> dict[str, list[str]]:
    return {f"class{k:03d}": [f"has feature {k} of kind {j}" for j in range(1 + k % 6)] for k in range(n)}


def _bench_rescore(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from workflows.progress import drive
    from workflows.rescore import rescore

    proj = _project(tmp, "rescore")
    settings = dataclasses.replace(_settings(args), topk=5)
    t = time.perf_counter()
    world = planted_project(
        proj,
        n=args.rescore_images,
        n_classes=args.rescore_classes,
        flip=0.0,
        settings=settings,
        n_regions=args.crops,
    )
    print(
        f"built synthetic cache: {args.rescore_images} images x {args.crops} regions, "
        f"{args.rescore_classes} classes in {time.perf_counter() - t:.1f}s"
    )
    # a parent run to re-score against (its predictions: the planted labels)
    from db.store_runs import PredictionWrite

    run = proj.create_run(
        kind="prelabel",
        model_id="bench",
        engine_config={},
        attribute_set_version="bench",
        n_images=len(world["ids"]),
    )
    cids = list(world["class_ids"].values())
    rows = [
        PredictionWrite(i, cids[int(c)], 0.3, 0.01, [(cids[int(c)], 0.3)])
        for i, c in zip(world["ids"], world["true"])
    ]
    for s in range(0, len(rows), 2000):
        proj.write_prediction_batch(run, rows[s : s + 2000])
    proj.update_run(run, status="done", finished=True)
    t = time.perf_counter()
    prev = drive(rescore(proj, preview=True))
    t_prev = time.perf_counter() - t
    t = time.perf_counter()
    done = drive(rescore(proj, preview=False))
    t_commit = time.perf_counter() - t
    # then an edit of one class: the incremental path scores only that class
    proj.add_attribute(list(world["class_ids"].values())[0], "has one more distinctive mark")
    t = time.perf_counter()
    inc_prev = drive(rescore(proj, preview=True))
    t_inc_prev = time.perf_counter() - t
    t = time.perf_counter()
    inc = drive(rescore(proj, preview=False))
    t_inc = time.perf_counter() - t
    print(
        f"after editing one class: preview {t_inc_prev:.1f}s ({inc_prev.classes_rescored} class(es) through OT, "
        f"{inc_prev.n_changed} would change), commit {t_inc:.1f}s (reused the preview: {inc.from_preview})"
    )
    out = {
        "preview_s": t_prev,
        "commit_s": t_commit,
        "commit_store_s": done.timings.get("store_s", 0.0),
        "one_class_preview_s": t_inc_prev,
        "one_class_commit_s": t_inc,
    }
    print(
        f"rescore {prev.n_scored} cached images x {args.rescore_classes} classes ({args.crops} regions): "
        f"preview {t_prev:.1f}s ({prev.n_scored / t_prev:.0f} img/s, {prev.n_changed} would change), "
        f"commit {t_commit:.1f}s of which store writes {out['commit_store_s']:.1f}s"
    )
    proj.close()
    return out


def _bench_audit(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from workflows.audit import audit_report, run_audit
    from workflows.progress import drive

    proj = _project(tmp, "audit")
    world = planted_project(
        proj,
        n=args.audit_images,
        n_classes=args.audit_classes,
        flip=0.1,
        noise=args.audit_noise,
        settings=_settings(args),
    )
    t = time.perf_counter()
    res = drive(run_audit(proj))
    dt = time.perf_counter() - t
    flipped = {i for i, f in zip(world["ids"], world["flipped"].tolist()) if f}
    from workflows.scoring import ScoringContext

    ctx = ScoringContext.from_project(proj)
    _ids, scores, _missing = drive(ctx.score_all(proj, world["ids"]))
    acc = float((scores.argmax(1) == world["true"]).float().mean())  # zero-shot top-1 vs the truth
    rows = audit_report(proj, None)
    flagged = {r.image_id for r in rows if r.flagged}
    tp = len(flagged & flipped)
    top = [r.image_id for r in audit_report(proj, 100, flagged_only=False)]
    out = {
        "precision": tp / max(1, len(flagged)),
        "recall": tp / max(1, len(flipped)),
        "top100_precision": len(set(top) & flipped) / 100,
        "flagged": len(flagged),
        "flipped": len(flipped),
        "temperature": res.temperature,
        "seconds": dt,
        "label_accuracy": acc,
    }
    print(
        f"audit {args.audit_images} images, {args.audit_classes} classes, {len(flipped)} flipped: "
        f"flagged {len(flagged)}, precision {out['precision']:.3f}, recall {out['recall']:.3f}, "
        f"top-100 precision {out['top100_precision']:.2f}, T={res.temperature:.4g}, {dt:.1f}s "
        f"(zero-shot top-1 accuracy on the true labels {acc:.3f})"
    )
    proj.close()
    return out


def _bench_audit_demo(args: argparse.Namespace, tmp: Path) -> dict[str, float] | None:
    """The audit on the bundled demo project (its folder labels carry ~10% flips) with the shipped model."""
    from db import Project
    from engine.demo_world import WEIGHTS_DIR
    from workflows.audit import audit_report, run_audit
    from workflows.demo import NOISY_SOURCE, build_demo_project
    from workflows.progress import drive

    if not WEIGHTS_DIR.is_dir():
        print(f"audit-demo: skipped, the demo model is not shipped yet ({WEIGHTS_DIR} missing)")
        return None
    t = time.perf_counter()
    path = drive(build_demo_project(tmp / "demo", n_images=args.demo_images, view_mode=args.demo_mode))
    t_build = time.perf_counter() - t
    proj = Project.open(path)
    t = time.perf_counter()
    res = drive(run_audit(proj))
    dt = time.perf_counter() - t
    names = proj.class_names_by_id()
    rows = audit_report(proj, None)
    truth = {r.image_id: r.rel_path.split("/", 1)[0] for r in rows}
    flipped = {r.image_id for r in rows if r.given_label != truth[r.image_id]}
    flagged = {r.image_id for r in rows if r.flagged}
    tp = len(flagged & flipped)
    k = min(100, len(rows))
    top = [r.image_id for r in rows[:k]]
    out = {
        "precision": tp / max(1, len(flagged)),
        "recall": tp / max(1, len(flipped)),
        "top_precision": len(set(top) & flipped) / k,
        "flagged": len(flagged),
        "flipped": len(flipped),
    }
    print(
        f"audit on the demo world ({len(rows)} labelled images of {len(names)} classes, source {NOISY_SOURCE}, "
        f"{len(flipped)} flipped, mode {args.demo_mode}): flagged {len(flagged)}, precision {out['precision']:.3f}, "
        f"recall {out['recall']:.3f}, top-{k} precision {out['top_precision']:.2f}, T={res.temperature:.4g}; "
        f"build+prelabel {t_build:.0f}s, audit {dt:.1f}s"
    )
    proj.close()
    return out


BENCHES = {
    "prelabel": _bench_prelabel,
    "rescore": _bench_rescore,
    "audit": _bench_audit,
    "audit-demo": _bench_audit_demo,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="*", choices=[[], *BENCHES], default=list(BENCHES))
    ap.add_argument("--model", help="model spec (default: a tiny random-init open_clip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--crops", type=int, default=90)
    ap.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rescore-images", type=int, default=10_000, dest="rescore_images")
    ap.add_argument("--rescore-classes", type=int, default=200, dest="rescore_classes")
    ap.add_argument("--audit-images", type=int, default=2000, dest="audit_images")
    ap.add_argument("--audit-classes", type=int, default=10, dest="audit_classes")
    ap.add_argument("--audit-noise", type=float, default=1.5, dest="audit_noise")
    ap.add_argument("--demo-images", type=int, default=1000, dest="demo_images")
    ap.add_argument("--demo-mode", default="grid", dest="demo_mode", help="region mode of the demo pre-label")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lazlabel-bench-") as d:
        for name in args.which or list(BENCHES):
            BENCHES[name](args, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
