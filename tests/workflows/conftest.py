"""Fixtures for the use-case tests: projects filled with real rows (no engine needed)."""

from __future__ import annotations

import pytest

from db.models import Image, LabelClass


@pytest.fixture
def seeded(project):
    """A project with 3 classes and 6 images (no predictions yet). Returns (project, class ids, image ids)."""
    with project.session() as s:
        classes = [LabelClass(name=n, order=i) for i, n in enumerate(["cat", "dog", "fox"])]
        s.add_all(classes)
        imgs = [Image(rel_path=f"img{i}.png", size=1, content_hash=f"h{i}") for i in range(6)]
        s.add_all(imgs)
        s.flush()
        cids = [c.id for c in classes]
        iids = [i.id for i in imgs]
    return project, cids, iids


@pytest.fixture
def predicted(seeded):
    """`seeded` plus one finished pre-label run: image i predicted class i % 3 with score 0.1*i."""
    from db.store_runs import PredictionWrite

    project, cids, iids = seeded
    run_id = project.create_run(
        kind="prelabel", model_id="m", engine_config={"a": 1}, attribute_set_version="v1", n_images=6
    )
    rows = [
        PredictionWrite(
            image_id=iid,
            class_id=cids[i % 3],
            score=0.1 * i,
            margin=0.01 * i,
            topk=[(cids[i % 3], 0.1 * i), (cids[(i + 1) % 3], 0.1 * i - 0.01 * i)],
            explanations={cids[i % 3]: {"class_name": "x", "attributes": []}},
        )
        for i, iid in enumerate(iids)
    ]
    project.write_prediction_batch(run_id, rows[:3])
    project.write_prediction_batch(run_id, rows[3:])
    project.update_run(run_id, status="done", finished=True)
    return project, cids, iids, run_id


@pytest.fixture
def engine_project(project):
    """A project with 12 real PNGs, 3 classes with attributes, and tiny-model settings saved."""
    from tests.workflows.synth import add_classes, add_images, tiny_settings
    from workflows.settings import save_settings

    ids = add_images(project, 12)
    cids = add_classes(project)
    save_settings(project, tiny_settings())
    return project, ids, cids
