"""A small decided project for export tests: real PNG files, real runs, predictions and decisions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import insert

from db.models import Image
from db.store_runs import PredictionWrite

# class names that break naive exporters (path separators, dot names, device names, long, non-ASCII)
HOSTILE = ["a/b", "..", ".hidden", "CON", "nul.txt", "x" * 300, "日本語 ñ", "100%~", "back\\slash", "trail. "]
PLAIN = ["cat", "dog"]


@dataclass
class World:
    project: object
    root: Path
    classes: dict[str, int]  # name -> id
    images: dict[str, int]  # rel_path -> id
    expected: dict[str, str] = field(default_factory=dict)  # rel_path -> exported label (decided)
    unsure: dict[str, str] = field(default_factory=dict)  # rel_path -> status (rejected/uncertain)
    predicted_only: dict[str, tuple[str, float]] = field(default_factory=dict)  # unreviewed: label, score


def add_images(project, rel_paths: list[str]) -> dict[str, int]:
    """Write a tiny distinct PNG per path under the image root and insert its Image row in bulk."""
    root = project.image_root
    rows = []
    for i, rel in enumerate(rel_paths):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        PILImage.new("RGB", (6, 5), (i * 37 % 256, i * 91 % 256, i * 13 % 256)).save(p)
        st = p.stat()
        rows.append(
            {"rel_path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "width": 6, "height": 5}
        )
    with project.session() as s:
        s.execute(insert(Image), rows)
    ids = project.image_ids_by_path(rel_paths)
    return {rel: ids[rel] for rel in rel_paths}


def build_world(project, class_names: list[str], per_class: int = 4) -> World:
    """Per class: `per_class` accepted images (half of them with the same file name in two folders),
    one corrected image, one rejected, one uncertain and one unreviewed prediction."""
    ids_in_order = [project.add_class(n) for n in class_names]
    stored = {c.id: c.name for c in project.list_classes()}  # names as the project cleaned them
    class_names = [stored[i] for i in ids_in_order]
    classes = dict(zip(class_names, ids_in_order))
    paths, plan = [], []
    for ci, name in enumerate(class_names):
        for k in range(per_class):
            rel = f"src{k % 2}/shot{ci}_{k // 2}.png"  # same names under src0/ and src1/
            paths.append(rel)
            plan.append((rel, name, "accepted"))
        for status in ("corrected", "rejected", "uncertain", "unreviewed"):
            rel = f"other/c{ci}/{status}.png"
            paths.append(rel)
            plan.append((rel, name, status))
    images = add_images(project, paths)
    world = World(project, project.image_root, classes, images)
    ids = list(classes.values())
    run_id = project.create_run(
        kind="prelabel",
        model_id="tiny-test-model",
        engine_config={},
        attribute_set_version="v",
        n_images=len(paths),
    )
    writes = []
    for n, (rel, name, status) in enumerate(plan):
        true_id = classes[name]
        # corrected images were predicted as some other class
        pred = ids[(ids.index(true_id) + 1) % len(ids)] if status == "corrected" else true_id
        score = 0.5 + 0.4 * ((n % 5) / 5)
        others = [c for c in ids if c != pred]
        topk = [(pred, score)] + [(c, score / (j + 2)) for j, c in enumerate(others)]
        expl = {
            true_id: {
                "attributes": [
                    {"text": f"{name} part A", "mass": 0.5, "similarity": 0.3, "best_similarity": 0.35},
                    {"text": f"{name} part B", "mass": 0.5, "similarity": 0.1, "best_similarity": 0.1},
                ]
            }
        }
        writes.append(PredictionWrite(images[rel], pred, score, 0.1, topk, expl))
    project.write_prediction_batch(run_id, writes)
    project.update_run(run_id, status="done")
    batches: dict[tuple[str, int | None, str], list[int]] = {}  # one transaction per kind of decision
    for rel, name, status in plan:
        if status == "unreviewed":
            world.predicted_only[rel] = (name, None)
            continue
        key = {
            "accepted": ("accepted", None, "ana"),
            "corrected": ("corrected", classes[name], "bo"),
        }.get(status, (status, None, "ana"))
        batches.setdefault(key, []).append(images[rel])
        if status in ("accepted", "corrected"):
            world.expected[rel] = name
        else:
            world.unsure[rel] = status
    for (action, class_id, reviewer), ids_ in batches.items():
        project.record_decisions(ids_, action, class_id=class_id, reviewer=reviewer)
    return world


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    """Each test has its own registry of exports in progress (never the user's)."""
    monkeypatch.setenv("LAZLABEL_STATE_DIR", str(tmp_path / "lazlabel-state"))


@pytest.fixture
def world(project) -> World:
    return build_world(project, PLAIN)


@pytest.fixture
def hostile_world(project) -> World:
    return build_world(project, PLAIN + HOSTILE, per_class=2)


def walk_files(root: Path) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files]
    return sorted(out)
