"""Vouched bulk acceptance over a real project file: sample, propose, accept, record, export."""

from __future__ import annotations

import json

import pytest

from db.models import Decision
from tests.vouch import world
from workflows import vouch
from workflows.errors import UserError
from workflows.review import review_queue


@pytest.fixture
def vw(project):
    w = world.build(project, 600)
    return project, w


def test_the_audit_sample_is_recorded_reproducible_and_served_by_the_queue(vw):
    project, w = vw
    a = vouch.draw_audit_sample(project, 50, seed=123)
    b = vouch.draw_audit_sample(project, 50, seed=123)
    c = vouch.draw_audit_sample(project, 50)  # a fresh seed from the OS, recorded
    assert a.image_ids == b.image_ids and a.seed == 123 and c.seed != 123 and c.image_ids != a.image_ids
    assert len(set(a.image_ids)) == 50 and a.n_pool == 600
    # the queue serves the newest sample, in draw order, shrinking as it is decided
    q = [r.id for r in review_queue(project, "audit_sample", limit=500)]
    assert q == c.image_ids
    world.curate(project, c.image_ids[:10], w["truth"])
    assert [r.id for r in review_queue(project, "audit_sample", limit=500)] == c.image_ids[10:]
    assert vouch.latest_sample(project).n_decided == 10


def test_propose_needs_the_whole_sample_decided_and_unchanged(vw):
    project, w = vw
    s = vouch.draw_audit_sample(project, 200, seed=1)
    world.curate(project, s.image_ids[:-1], w["truth"])
    with pytest.raises(UserError, match="1 of 200 images of audit sample #1 are not decided"):
        vouch.propose(project, 0.9)
    world.curate(project, s.image_ids[-1:], w["truth"])
    with pytest.raises(UserError, match="target precision"):
        vouch.propose(project, 1.5)
    vp = vouch.propose(project, 0.9)
    assert vp.accept_ids and not set(vp.accept_ids) & set(s.image_ids)
    # a new prediction run over the sample (re-score, learning) voids it
    from db.store_runs import PredictionWrite

    run = project.create_run(kind="rescore", model_id="m", engine_config={}, attribute_set_version="v2", n_images=1)
    i = s.image_ids[0]
    project.write_prediction_batch(run, [PredictionWrite(i, w["cids"][0], 0.5, 0.1, [(w["cids"][0], 0.5)])])
    with pytest.raises(UserError, match="changed since sample #1 was drawn"):
        vouch.propose(project, 0.9)


def test_vouched_acceptance_is_recorded_and_meets_its_target(vw):
    project, w = vw
    s = vouch.draw_audit_sample(project, 200, seed=1)
    world.curate(project, s.image_ids, w["truth"])
    vp = vouch.propose(project, 0.9, 0.95)
    assert vp.vouched and vp.bound >= 0.9
    assert sum(r.n_accept for r in vp.rows) == vp.n_accept
    res = vouch.accept_vouched(project, vp, reviewer="ana")
    assert res.n_accepted == vp.n_accept
    (v,) = project.vouches()
    assert v["target"] == 0.9 and v["sample_image_ids"] == s.image_ids and v["n_sample"] == 200
    assert len(v["sample_decision_ids"]) == 200 and v["method"] == "ltt-clopper-pearson"
    assert "from 200 audited images" in v["statement"]
    with project.session() as ses:
        dec = ses.query(Decision).filter(Decision.vouch_id == res.vouch_id).all()
    assert sorted(d.image_id for d in dec) == sorted(vp.accept_ids)
    states = project.review_states(vp.accept_ids)
    right = sum(states[i][1] == w["truth"][i] for i in vp.accept_ids)
    assert right / len(vp.accept_ids) >= 0.9
    # one sample vouches once
    with pytest.raises(UserError, match="already vouched for acceptance #1"):
        vouch.propose(project, 0.9)


def test_a_curator_override_is_recorded_as_not_vouched(vw):
    project, w = vw
    s = vouch.draw_audit_sample(project, 200, seed=1)
    world.curate(project, s.image_ids, w["truth"])
    vp = vouch.propose(project, 0.9)
    cid = w["cids"][0]
    ov = vouch.with_overrides(project, vp, {cid: 0.2})
    assert ov.overridden and not ov.vouched and ov.n_accept > vp.n_accept
    row = next(r for r in ov.rows if r.class_id == cid)
    assert row.overridden and row.threshold == 0.2 and row.n_audited > 0
    res = vouch.accept_vouched(project, ov)
    assert "not vouched for" in res.statement and project.vouches()[0]["overridden"]


def test_a_changed_prediction_between_propose_and_accept_writes_nothing(vw):
    project, w = vw
    s = vouch.draw_audit_sample(project, 200, seed=1)
    world.curate(project, s.image_ids, w["truth"])
    vp = vouch.propose(project, 0.9)
    project.record_decisions([vp.accept_ids[0]], "rejected", reviewer="x")
    with pytest.raises(UserError, match="changed since the threshold was proposed"):
        vouch.accept_vouched(project, vp)
    assert project.vouches() == [] and project.vouched_counts() == {}


def test_exports_carry_how_labels_were_vouched_for(vw, tmp_path):
    from workflows.export import export
    from workflows.progress import drive

    project, w = vw
    s = vouch.draw_audit_sample(project, 200, seed=1)
    world.curate(project, s.image_ids, w["truth"])
    vp = vouch.propose(project, 0.9)
    vouch.accept_vouched(project, vp)
    drive(export(project, "csv", tmp_path / "out"))
    manifest = json.loads((tmp_path / "out" / "lazlabel-export.json").read_text())
    (vb,) = manifest["vouched_by"]
    assert vb["images"] == vp.n_accept and vb["target"] == 0.9 and vb["n_sample"] == 200
    assert vb["statement"].startswith(f"{vp.n_accept} labels accepted under a 90% precision bound")
