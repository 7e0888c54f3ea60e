"""`learn --method msci` end to end on a small compositional demo project: it trains on the decided
(seen) pairs, scores every allowed pair including the never-decided ones, records a learning run
with its parameters, and undo brings the zero-shot labels back."""

from __future__ import annotations

import pytest

from workflows import demo_compose
from workflows.errors import UserError
from workflows.progress import drive

FAST = {"epochs": 3}


@pytest.fixture(scope="module")
def compose_project(tmp_path_factory):
    from db import Project
    from workflows.prelabel import run_prelabel
    from workflows.settings import load_settings, save_settings

    d = tmp_path_factory.mktemp("msci-world")
    path = drive(demo_compose.build_compose_demo(d, 60, prelabel=False))  # 2 images per pair; 1 per seen pair decided
    project = Project.open(path)
    settings = load_settings(project)
    settings.method = "clip"  # a fast zero-shot run to learn over (MSCI itself reads the images)
    save_settings(project, settings)
    drive(run_prelabel(project, scope="all"))
    yield project
    project.close()


def _shown(project):
    return dict(project.current_top1())


def test_msci_learns_seen_pairs_and_scores_all_pairs(compose_project):
    from workflows.learning import activate, active_learning_run, learn, learning_runs, load_learned

    project = compose_project
    zero = _shown(project)
    space = project.label_space()
    decided = {c for _i, c in ((d.image_id, d.class_id) for d in project.decided_images())}
    assert 0 < len(decided) < len(space.pairs)  # some pairs are never decided: the unseen ones
    prev = drive(learn(project, method="msci", preview=True, hyper=FAST, seed=1))
    assert prev.run_id is None and _shown(project) == zero
    assert prev.classes_learned == len(decided) and prev.n_decisions == len(project.decided_images())
    done = drive(learn(project, method="msci", hyper=FAST, seed=1))
    assert [(c[0], c[2]) for c in done.changes] == [(c[0], c[2]) for c in prev.changes]  # seeded: same
    run = project.run(done.run_id)
    rec = run.engine_config["learn"]
    assert (run.kind, run.status, rec["method"]) == ("learn", "done", "msci") and rec["params_hash"]
    assert active_learning_run(project).id == done.run_id
    assert learning_runs(project)[0].method == "msci"
    _run, params, meta = load_learned(project)
    assert any(k.startswith("additional_visual_params.") for k in params) and "soft_att_obj" in params
    assert len(meta["pairs"]) == len(space.pairs) and sorted(meta["seen"]) == sorted(
        meta["class_ids"].index(c) for c in decided)
    # every image is scored over all allowed pairs, the never-decided ones included
    unseen_classes = {p.class_id for p in space.pairs} - decided
    topk = [project.explanations(i, done.run_id) for i in list(zero)[:1]]  # no evidence: less explainable
    assert topk == [{}]
    shown = _shown(project)
    assert len(shown) == len(zero)
    assert any(c in unseen_classes for c in shown.values()), "no image predicted as a never-decided pair"
    activate(project, None)  # undo: the zero-shot labels again
    assert _shown(project) == zero


def test_msci_needs_pairs_and_enough_decisions(compose_project, tmp_path):
    from db import Project
    from workflows.learning import learn

    with pytest.raises(UserError, match="unknown MSCI setting"):
        drive(learn(compose_project, method="msci", preview=True, hyper={"epoch": 2}))
    flat = Project.create(tmp_path / "flat.lazlabel", tmp_path)
    flat.add_class("cat")
    with pytest.raises(UserError, match="pairs and this project has none"):
        drive(learn(flat, method="msci", preview=True))
    flat.close()


def test_learn_cli_msci_preview_on_a_pair_project(compose_project, capsys):
    """`lazlabel learn --method msci --preview` as a user runs it (published epochs, early stopping)."""
    from cli.main import main

    project = compose_project
    before = [r.id for r in project.runs(kind="learn")]
    zero = _shown(project)
    assert main(["learn", "--method", "msci", "--preview", "--seed", "3", "--project", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert f"learned from {len(project.decided_images())} decisions" in out
    assert "msci is less explainable" in out
    assert [r.id for r in project.runs(kind="learn")] == before and _shown(project) == zero  # preview: nothing written
