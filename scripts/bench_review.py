"""Benchmark the review and audit screens' interactive latency (offscreen Qt, real SQLite project).

Measures, on a synthetic project of N images (real files, real store rows written through the
store's API, engine-shaped explanations with R regions per attribute):

* review step: one keypress (A = accept) -> decision committed, next image's state loaded,
  photo decoded, overlay drawn, side panels filled; median / p95 over the queue;
* overlay redraw alone, boxes and heat map, for the stored evidence and for a dense one
  (90 regions per attribute: every crop of the published method);
* audit list load (report + joins + model reset) for the whole audit.

Usage: .venv/bin/python scripts/bench_review.py [--images 300] [--regions 3] [--side 640]
Numbers are noisy on a shared machine: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def explanation(name: str, attrs: list[str], score: float, rng, size: tuple[int, int], regions: int) -> dict:
    w, h = size
    shares = rng.dirichlet([1.0] * len(attrs))
    out = []
    for j, text in enumerate(attrs):
        regs = []
        for _ in range(regions):
            side = int(rng.uniform(0.6, 0.9) * min(w, h))
            x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            regs.append({"box": [x0, y0, x0 + side, y0 + side], "mass": float(rng.uniform(0.001, 0.02)),
                         "similarity": float(rng.uniform(0.2, 0.3))})
        out.append({"index": j, "text": text, "share": float(shares[j]), "mass": sum(r["mass"] for r in regs),
                    "similarity": 0.25, "regions": regs})
    return {"class_name": name, "class_index": 0, "score": score, "image_size": [w, h], "attributes": out}


def build(root: Path, n: int, side: int, regions: int):
    import numpy as np
    from PIL import Image as PILImage

    from db import Project
    from db.store_images import ScanRecord
    from db.store_review import LabelIssueWrite
    from db.store_runs import PredictionWrite

    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True)
    size = (side, side * 3 // 4)
    recs = []
    for i in range(n):
        rel = f"img_{i:05d}.jpg"
        arr = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        PILImage.fromarray(arr).resize(size).save(images / rel, quality=85)
        recs.append(ScanRecord(rel_path=rel, size=(images / rel).stat().st_size, mtime_ns=1, width=size[0],
                               height=size[1], format="JPEG", mode="RGB"))
    project = Project.create(root / "bench.lazlabel", images)
    project.write_scan_batch(recs)
    ids = project.image_ids()
    classes = {f"class_{c:02d}": [f"attribute {a} of class {c}" for a in range(6)] for c in range(20)}
    cids = {name: project.add_class(name) for name in classes}
    for name, attrs in classes.items():
        project.replace_attributes([(cids[name], attrs)], mode="replace", source="llm")
    version = project.snapshot_attribute_set()
    run = project.create_run(kind="prelabel", model_id="bench", engine_config={}, attribute_set_version=version,
                             n_images=n)
    names = list(classes)
    rows = []
    for k, iid in enumerate(ids):
        order = [names[(k + j) % len(names)] for j in range(5)]
        scores = sorted(rng.uniform(0.2, 0.35, 5), reverse=True)
        rows.append(PredictionWrite(
            image_id=iid, class_id=cids[order[0]], score=float(scores[0]), margin=float(scores[0] - scores[1]),
            topk=[(cids[c], float(s)) for c, s in zip(order, scores)],
            explanations={cids[c]: explanation(c, classes[c], float(s), rng, size, regions)
                          for c, s in zip(order[:2], scores[:2])},
        ))
    project.write_prediction_batch(run, rows)
    project.update_run(run, status="done", finished=True)
    audit = project.create_run(kind="audit", model_id="bench", engine_config={}, attribute_set_version=version,
                               n_images=n)
    project.write_label_issues(audit, [
        LabelIssueWrite(image_id=iid, given_class_id=cids[names[(k + 1) % len(names)]],
                        suggested_class_id=cids[names[k % len(names)]], p_given=float(p), issue_score=float(1 - p),
                        flagged=bool(p < 0.2))
        for k, (iid, p) in enumerate(zip(ids, rng.uniform(0, 1, n)))
    ])
    project.update_run(audit, status="done", finished=True)
    return project, classes, size


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"median {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   (n={len(values)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--regions", type=int, default=3, help="stored regions per attribute")
    ap.add_argument("--side", type=int, default=640, help="image width in pixels")
    args = ap.parse_args()

    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from desktop.audit.view import AuditView
    from desktop.context import AppContext
    from desktop.review.view import ReviewView
    from desktop.widgets.evidence_overlay import MODES
    from engine.evidence import read_evidence

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project, classes, size = build(Path(tmp), args.images, args.side, args.regions)
        print(f"built {args.images} images {size[0]}x{size[1]}, 20 classes x 6 attributes, "
              f"{args.regions} regions/attribute in {time.perf_counter() - t0:.1f} s")
        ctx = AppContext(interactive=False)
        ctx.set_project(project)
        view = ReviewView(ctx)
        view.resize(1400, 900)
        view.show()
        view.activate()
        app.processEvents()

        steps = []
        for _ in range(min(args.images - 1, 200)):
            t = time.perf_counter()
            QTest.keyClick(view, Qt.Key.Key_A)
            app.processEvents()
            steps.append(time.perf_counter() - t)
        print(f"review step (A: save decision, load next, decode, draw): {ms(steps)}")
        assert not ctx.errors, ctx.errors

        loads = []
        from desktop.review import service

        for iid in project.image_ids()[:100]:
            t = time.perf_counter()
            service.load_state(project, iid)
            loads.append(time.perf_counter() - t)
        print(f"  of which store reads (load_state):                    {ms(loads)}")

        overlay = view.overlay
        rng = np.random.default_rng(1)
        attrs = classes["class_00"]
        for label, regions in (("stored", args.regions), ("dense 90", 90)):
            ev = read_evidence(explanation("class_00", attrs, 0.3, rng, size, regions))
            for mode in MODES:
                overlay.set_mode(mode)
                times = []
                for _ in range(30):
                    t = time.perf_counter()
                    overlay.set_evidence(ev)
                    overlay.viewport().repaint()
                    times.append(time.perf_counter() - t)
                drawn = len(overlay.overlay_items())
                print(f"overlay {mode:8s} {label:8s} ({len(attrs) * regions:4d} regions, {drawn:3d} drawn): {ms(times)}")
        overlay.set_mode("contours")

        audit = AuditView(ctx)
        audit.resize(1400, 900)
        audit.show()
        t = time.perf_counter()
        audit.activate()
        app.processEvents()
        print(f"audit list load ({audit.model.rowCount()} rows):                    "
              f"{(time.perf_counter() - t) * 1000:7.1f} ms")
        audit.thumbs.shutdown()
        ctx.cancel_all()
        view.close()
        audit.close()
        project.close()


if __name__ == "__main__":
    main()
