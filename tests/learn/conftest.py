"""A planted world with a finished pre-label run (built once per session, copied per test), and a
simulated curator who decides with the ground truth."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.synth import planted_project
from workflows.prelabel import run_prelabel
from workflows.progress import drive


def decide_per_class(project: Any, world: dict[str, Any], per_class: int, *, wrong: frozenset[int] = frozenset(),
                     skip: int = 0) -> list[int]:
    """Correct `per_class` images of each true class (after the first `skip`) to their true class
    (rows in `wrong` to the next class instead); returns the image ids decided."""
    names, cids = world["names"], world["class_ids"]
    seen: dict[int, int] = {}
    done = []
    for row, (iid, t) in enumerate(zip(world["ids"], world["true"].tolist())):
        seen[t] = seen.get(t, 0) + 1
        if seen[t] <= skip or seen[t] > per_class + skip:
            continue
        cls = (t + 1) % len(names) if row in wrong else t
        project.record_decisions([iid], "corrected", class_id=cids[names[cls]], reviewer="sim")
        done.append(iid)
    return done


@pytest.fixture(scope="session")
def _world_template(tmp_path_factory):
    from db import Project

    d = tmp_path_factory.mktemp("learn-world")
    (d / "images").mkdir()
    project = Project.create(d / "w.lazlabel", d / "images")
    w = planted_project(project, n=150, n_classes=6, noise=2.5, flip=0.0, seed=3)
    drive(run_prelabel(project))
    project.close()
    return d, w


@pytest.fixture
def world(_world_template, tmp_path):
    """150 planted images in 6 classes (zero-shot makes mistakes), pre-labelled; a fresh copy per test."""
    from db import Project

    src, w = _world_template
    dst = tmp_path / "world"
    shutil.copytree(src, dst)
    project = Project.open(dst / "w.lazlabel")
    yield project, w
    project.close()


def true_class_ids(world: dict[str, Any]) -> dict[int, int]:
    names, cids = world["names"], world["class_ids"]
    return {iid: cids[names[t]] for iid, t in zip(world["ids"], world["true"].tolist())}


def accuracy(project: Any, world: dict[str, Any], exclude: set[int] = frozenset()) -> float:
    truth = true_class_ids(world)
    shown = project.current_top1()
    ids = [i for i in truth if i not in exclude]
    return sum(shown.get(i) == truth[i] for i in ids) / len(ids)


__all__ = ["Path", "accuracy", "decide_per_class", "true_class_ids"]
