"""A project with many predicted images and a hidden ground truth (real rows, no engine needed)."""

from __future__ import annotations

import numpy as np

from db.models import Image, LabelClass
from db.store_runs import PredictionWrite

CLASSES = ("cat", "dog", "fox")


def build(project, n: int = 600, seed: int = 0, *, steep: float = 30.0) -> dict:
    """n images predicted over 3 classes; a prediction with score s is right with probability
    sigmoid(steep * (s - 0.35)). Returns {"truth": image id -> class id, "cids": [...], "ids": [...]}."""
    rng = np.random.default_rng(seed)
    with project.session() as s:
        classes = [LabelClass(name=c, order=i) for i, c in enumerate(CLASSES)]
        s.add_all(classes)
        s.flush()
        cids = [c.id for c in classes]
    with project.session() as s:
        s.execute(Image.__table__.insert(), [{"rel_path": f"i{i:05d}.png", "size": 1, "mtime_ns": 0,
                                             "status": "ok", "review_status": "unreviewed"} for i in range(n)])
    ids = [r.image_id for r in project.decision_pool(None)] or sorted(project.image_ids())
    scores = rng.uniform(0.0, 1.0, n)
    pred = rng.integers(0, 3, n)
    right = rng.uniform(size=n) < 1 / (1 + np.exp(-steep * (scores - 0.35)))
    truth_idx = np.where(right, pred, (pred + rng.integers(1, 3, n)) % 3)
    run = project.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v", n_images=n)
    project.write_prediction_batch(run, [
        PredictionWrite(i, cids[p], float(sc), 0.1, [(cids[p], float(sc)), (cids[(p + 1) % 3], float(sc) / 2)])
        for i, p, sc in zip(ids, pred, scores)
    ])
    project.update_run(run, status="done", finished=True)
    return {"truth": {i: cids[t] for i, t in zip(ids, truth_idx)}, "cids": cids, "ids": ids, "run": run}


def curate(project, image_ids, truth) -> None:
    """A curator who knows the truth decides each image (accept when right, else correct)."""
    states = project.review_states(image_ids)
    for i in image_ids:
        pred = states[i][2]
        if pred == truth[i]:
            project.record_decisions([i], "accepted", reviewer="gt")
        else:
            project.record_decisions([i], "corrected", class_id=truth[i], reviewer="gt")
