"""Re-score from cached features after class/attribute edits: preview, commit, exactness."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from workflows.errors import UserError
from workflows.prelabel import run_prelabel
from workflows.progress import drive
from workflows.rescore import rescore
from workflows.scoring import ScoringContext


def _prelabelled(engine_project):
    project, ids, cids = engine_project
    drive(run_prelabel(project))
    top1 = project.current_top1()
    return project, ids, cids, top1


def test_disabling_a_class_changes_exactly_its_images(engine_project):
    project, ids, cids, top1 = _prelabelled(engine_project)
    victim, _n = Counter(top1.values()).most_common(1)[0]
    project.set_class_active(victim, False)
    n_runs = len(project.runs())
    prev = drive(rescore(project, preview=True))
    assert set(prev.changed_ids) == {i for i, c in top1.items() if c == victim}
    assert all(a == victim and b != victim for a, b in prev.changes)
    assert sum(prev.changes.values()) == prev.n_changed == len(prev.changed_ids)
    assert len(project.runs()) == n_runs and project.current_top1() == top1  # a preview writes nothing
    done = drive(rescore(project, preview=False))
    assert done.from_preview  # committing right after the preview reuses its scores
    assert set(done.changed_ids) == set(prev.changed_ids)
    run = project.run(done.run_id)
    assert (run.kind, run.parent_run_id, run.status) == ("rescore", prev.parent_run_id, "done")
    after = project.current_top1()
    assert {i for i in ids if after[i] != top1[i]} == set(prev.changed_ids)
    assert victim not in after.values()
    assert drive(rescore(project, preview=True)).nothing_to_do
    assert drive(run_prelabel(project)).nothing_to_do  # the re-score run already covers every image


def test_attribute_edit_only_moves_images_involving_the_edited_class(engine_project):
    project, ids, cids, top1 = _prelabelled(engine_project)
    ctx = ScoringContext.from_project(project)
    _ids, before, _ = drive(ctx.score_all(project, ids))
    edited = cids["zenti"]
    project.add_attribute(edited, "has a long tail")
    ctx2 = ScoringContext.from_project(project)
    _ids, after, _ = drive(ctx2.score_all(project, ids))
    col = ctx.class_index[edited]
    others = [i for i in range(after.shape[1]) if i != col]
    assert (before[:, others] == after[:, others]).all()  # untouched classes score the same
    assert not (before[:, col] == after[:, col]).all()
    prev = drive(rescore(project, preview=True))
    expected = {ids[r] for r in range(len(ids)) if int(before[r].argmax()) != int(after[r].argmax())}
    assert set(prev.changed_ids) == expected
    assert all(edited in pair for pair in prev.changes)
    project.add_attribute(edited, "has stripes")  # edited after the preview: the commit scores again
    assert not drive(rescore(project, preview=False)).from_preview


def test_rescore_never_reencodes(engine_project):
    project, ids, cids, top1 = _prelabelled(engine_project)
    for p in project.image_root.iterdir():
        p.unlink()  # the files are gone: only cached features can answer
    project.set_class_active(cids["quam"], False)
    res = drive(rescore(project, preview=False))
    assert res.n_scored == 12 and not res.missing


def test_rescore_reports_images_without_features(engine_project):
    project, ids, cids = engine_project
    with pytest.raises(UserError, match="run pre-label first"):
        drive(rescore(project, preview=True))
    drive(run_prelabel(project, image_ids=ids[:5]))
    project.add_attribute(cids["quam"], "has five points")
    res = drive(rescore(project, preview=True))
    assert res.n_scored == 5 and sorted(res.missing) == sorted(ids[5:])


@pytest.mark.parametrize("topk", [3, 1])
def test_incremental_rescore_equals_a_full_one(engine_project, topk):
    """Only the edited classes go through OT; the result matches scoring every class again (with
    topk=1 the parent keeps only its best class, so some images must be scored in full)."""
    from workflows.settings import load_settings, save_settings

    project, ids, cids = engine_project
    save_settings(project, dataclasses.replace(load_settings(project), topk=topk))
    drive(run_prelabel(project))
    edited, _n = Counter(project.current_top1().values()).most_common(1)[0]  # the parent's favourite
    project.add_attribute(edited, "has a wavy outline")
    newcomer = project.add_class("newcomer")
    project.add_attribute(newcomer, "a purple cross")
    prev = drive(rescore(project, preview=True))
    res = drive(rescore(project, preview=False))
    assert res.from_preview and prev.classes_rescored == res.classes_rescored == 2 and res.n_scored == 12
    ctx = ScoringContext.from_project(project)
    hashes = project.content_hashes(ids)
    full = {}
    for chunk, r in ctx.score_chunks(ids, hashes):
        for w in ctx.to_writes(chunk, r):
            full[w.image_id] = w
    for iid in ids:
        p = project.latest_prediction(iid)
        assert p.run_id == res.run_id
        assert [c for c, _n, _s in p.topk] == [c for c, _s in full[iid].topk]
        assert [s for _c, _n, s in p.topk] == pytest.approx([s for _c, s in full[iid].topk], abs=1e-5)
        expl = project.explanations(iid)
        assert set(expl) == set(full[iid].explanations)
        for c, data in expl.items():
            assert data["score"] == pytest.approx(full[iid].explanations[c]["score"], abs=1e-5)
            assert data["class_index"] == ctx.class_index[c]
