"""Learning from decisions end to end on a planted, pre-labelled world: preview, commit, undo,
determinism, the decision log as examples, and learned weights in the evidence."""

from __future__ import annotations

import pytest

from engine.evidence import ClassEvidence
from tests.learn.conftest import accuracy, decide_per_class, true_class_ids
from workflows.errors import UserError
from workflows.learning import (
    activate,
    active_learning_run,
    attribute_weights,
    decided_examples,
    learn,
    learning_runs,
    unhelpful_attributes,
)
from workflows.progress import drive


def _shown(project):
    """(top-1, score) of every image as review shows it."""
    from sqlalchemy import select

    from db.models import Image

    with project.session() as s:
        rows = s.execute(select(Image.id, Image.pred_class_id, Image.pred_score, Image.pred_margin, Image.pred_run_id))
        return {int(i): tuple(rest) for i, *rest in rows}


def test_no_decisions_is_a_clear_error_and_writes_nothing(world):
    project, _w = world
    n_runs = len(project.runs())
    with pytest.raises(UserError, match="no decisions to learn from"):
        drive(learn(project, preview=True))
    assert len(project.runs()) == n_runs


def test_preview_then_commit_then_undo(world):
    project, w = world
    zero = _shown(project)
    decided = set(decide_per_class(project, w, 4))
    acc0 = accuracy(project, w, exclude=decided)
    prev = drive(learn(project, preview=True))
    assert prev.run_id is None and prev.n_decisions == len(decided) == prev.n_positive
    assert _shown(project) == zero  # a preview writes nothing
    assert sum(prev.change_counts().values()) == prev.n_changed
    done = drive(learn(project))
    assert [(c[0], c[2]) for c in done.changes] == [(c[0], c[2]) for c in prev.changes]
    run = project.run(done.run_id)
    assert (run.kind, run.parent_run_id, run.status) == ("learn", prev.parent_run_id, "done")
    rec = run.engine_config["learn"]
    assert rec["n_decisions"] == len(decided) and rec["last_decision_id"] == project.latest_decision_id()
    assert rec["method"] == "attributes" and rec["params_hash"] and rec["attribute_set_version"]
    assert active_learning_run(project).id == done.run_id
    learned = _shown(project)
    assert {i for i in learned if learned[i][0] != zero[i][0]} == {c[0] for c in done.changes}
    assert accuracy(project, w, exclude=decided) >= acc0  # never worse held out on this world
    # undo: back to zero-shot restores exactly what the images showed, then forward again
    activate(project, None)
    assert _shown(project) == zero and active_learning_run(project) is None
    activate(project, done.run_id)
    assert _shown(project) == learned
    runs = learning_runs(project)
    assert [r.id for r in runs] == [done.run_id] and runs[0].active


def test_learning_is_deterministic_given_the_seed(world):
    project, w = world
    decide_per_class(project, w, 4)
    a = drive(learn(project, seed=7))
    b = drive(learn(project, seed=7))
    assert a.params_hash == b.params_hash  # same bytes: the same content-addressed file
    assert a.hyperparameters == b.hyperparameters and a.cv_learned == b.cv_learned
    assert project.run_topk(a.run_id) == project.run_topk(b.run_id)
    activate(project, a.run_id)  # going back to the earlier of two runs
    assert active_learning_run(project).id == a.run_id


def test_classes_without_decisions_keep_their_zero_shot_scores(world):
    project, w = world
    zero = project.run_topk(project.latest_prediction_run().id)
    names, cids = w["names"], w["class_ids"]
    only = cids[names[0]]
    truth = true_class_ids(w)
    for iid in [i for i, c in truth.items() if c == only][:6]:
        project.record_decisions([iid], "corrected", class_id=only, reviewer="sim")
    res = drive(learn(project, hyper={"l2": 0.01}))
    assert res.classes_learned == 1
    learned = project.run_topk(res.run_id)
    for iid, tk in learned.items():
        before = dict(zero[iid])
        for cid, score in tk:
            if cid != only and cid in before:
                assert score == before[cid]  # bit-identical
    assert set(attribute_weights(project)) == {only}


def test_learned_weights_are_in_the_explanations(world):
    project, w = world
    decide_per_class(project, w, 6)
    res = drive(learn(project, hyper={"l2": 0.01}))
    weights = attribute_weights(project, res.run_id)
    assert weights and all(len(v) for v in weights.values())
    seen = 0
    for iid in list(project.run_topk(res.run_id))[:20]:
        for cid, data in project.explanations(iid).items():
            ev = ClassEvidence.from_json(data, cid)
            if cid in weights:
                assert all(a.weight is not None for a in ev.attributes)
                seen += 1
    assert seen
    low = unhelpful_attributes(project, below=10.0)  # every learned attribute, lowest weight first
    assert [u.weight for u in low] == sorted(u.weight for u in low)


def test_decision_log_as_examples(world):
    project, w = world
    ids = w["ids"]
    cids = list(w["class_ids"].values())
    top1 = project.current_top1()
    project.record_decisions([ids[0]], "accepted", reviewer="r")
    project.record_decisions([ids[1]], "corrected", class_id=cids[2], reviewer="r")
    project.record_decisions([ids[2]], "rejected", reviewer="r")
    project.record_decisions([ids[3]], "confirmed_negative", class_id=cids[4], reviewer="r")
    project.record_decisions([ids[4]], "uncertain", reviewer="r")
    project.record_decisions([ids[5]], "accepted", reviewer="r")
    project.undo_decision(ids[5], reviewer="r")
    ex = decided_examples(project)
    assert ex.positives == [(ids[0], top1[ids[0]]), (ids[1], cids[2])]
    assert ex.negatives == [(ids[2], top1[ids[2]]), (ids[3], cids[4])]
    assert ex.last_decision_id == project.latest_decision_id()


def test_learning_again_after_more_decisions_reuses_the_terms(world):
    project, w = world
    decide_per_class(project, w, 3)
    first = drive(learn(project, preview=True))
    terms = list((project.cache_dir / "learned" / "terms").iterdir())
    assert len(terms) == 1  # every image's terms, kept per (model, settings, attribute set)
    stamp = terms[0].stat().st_mtime_ns
    decide_per_class(project, w, 3, skip=3)
    again = drive(learn(project, preview=True))
    assert again.n_decisions == 2 * first.n_decisions
    assert terms[0].stat().st_mtime_ns == stamp  # no image was new: nothing recomputed or rewritten


def test_held_out_accuracy_floor(world):
    """Floors from measured numbers on this planted world (6 decisions per class; held out = the
    images nobody decided): measured zero-shot 80.7%, attributes 92.1% (+11.4; it was +5.3 with
    weights on the terms), adapter 80.7% (zero-shot kept: no setting beat it held out)."""
    project, w = world
    decided = set(decide_per_class(project, w, 6))
    truth = true_class_ids(w)
    shown = project.current_top1()
    held = [i for i in truth if i not in decided]
    zs = sum(shown[i] == truth[i] for i in held) / len(held)
    out = {}
    for method in ("attributes", "adapter"):
        res = drive(learn(project, method=method, preview=True))
        after = {**shown, **{i: b for i, _a, b in res.changes}}
        out[method] = sum(after[i] == truth[i] for i in held) / len(held)
    print(f"planted world held-out top-1: zero-shot {zs:.3f}, {out}")
    assert out["attributes"] >= zs + 0.09 and out["adapter"] >= zs - 0.01


def test_wrong_decisions_do_not_collapse(world):
    """About 10% of the decisions name the wrong class (every decided row that is a multiple of
    10): learning must not fall below zero-shot held out. Measured on this planted world: 4 of 36
    decisions wrong, zero-shot 80.7%, attributes 89.5% (+8.8; floor +5)."""
    project, w = world
    decided = set(decide_per_class(project, w, 6, wrong=frozenset(range(0, 150, 10))))
    n_wrong = sum(row % 10 == 0 for row, iid in enumerate(w["ids"]) if iid in decided)
    assert 2 <= n_wrong <= 0.2 * len(decided)
    truth = true_class_ids(w)
    shown = project.current_top1()
    held = [i for i in truth if i not in decided]
    zs = sum(shown[i] == truth[i] for i in held) / len(held)
    res = drive(learn(project, method="attributes", preview=True))
    after = {**shown, **{i: b for i, _a, b in res.changes}}
    acc = sum(after[i] == truth[i] for i in held) / len(held)
    print(f"planted world, {n_wrong}/{len(decided)} wrong decisions: zero-shot {zs:.3f}, attributes {acc:.3f}, {res.hyperparameters}")
    assert acc >= zs + 0.05
