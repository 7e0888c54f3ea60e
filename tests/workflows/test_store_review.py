"""Store-level behaviour of runs, predictions and decisions on a real SQLite file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import Decision, Image
from db.store_review import ReviewError
from db.store_runs import PredictionWrite
from tests.pg_fixtures import any_project, backend, pg_admin_url, pg_url, store_location  # noqa: F401


@pytest.fixture
def project(any_project):  # noqa: F811
    """The store's review tests run on SQLite and on PostgreSQL (issue #20)."""
    return any_project


def test_prediction_batches_denormalise_and_skip_duplicates(predicted):
    project, cids, iids, run_id = predicted
    p = project.latest_prediction(iids[4])
    assert p.run_id == run_id and p.class_id == cids[1]
    assert p.topk[0][:2] == (cids[1], "dog") and p.topk[1][:2] == (cids[2], "fox")
    assert project.explanations(iids[4]) == {cids[1]: {"class_name": "x", "attributes": []}}
    # re-writing a stored row changes nothing (resume safety)
    project.write_prediction_batch(run_id, [PredictionWrite(iids[4], cids[0], 0.99, 0.5, [(cids[0], 0.99)])])
    assert project.latest_prediction(iids[4]).class_id == cids[1]
    assert project.run(run_id).n_done == 6
    assert project.predicted_image_ids(run_id) == set(iids)


def test_newer_run_wins_and_deleting_it_restores_older(predicted):
    project, cids, iids, run1 = predicted
    run2 = project.create_run(
        kind="rescore",
        model_id="m",
        engine_config={},
        attribute_set_version="v2",
        n_images=1,
        parent_run_id=run1,
    )
    project.write_prediction_batch(run2, [PredictionWrite(iids[0], cids[2], 0.7, 0.2, [(cids[2], 0.7)])])
    assert project.latest_prediction(iids[0]).class_id == cids[2]
    assert [r.id for r in project.runs()] == [run2, run1]
    project.delete_run(run2)
    assert project.latest_prediction(iids[0]).class_id == cids[0]


def test_load_errors_are_recorded_per_image(seeded):
    project, cids, iids = seeded
    run = project.create_run(
        kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v", n_images=6
    )
    project.write_prediction_batch(run, [], errors=[(iids[2], "truncated PNG")])
    with project.session() as s:
        img = s.get(Image, iids[2])
        assert (img.status, img.error) == ("error", "truncated PNG")
    assert project.run(run).n_errors == 1


def test_decide_records_prior_and_prediction(predicted):
    project, cids, iids, run_id = predicted
    project.record_decisions([iids[4]], "accepted", reviewer="ana")
    project.record_decisions([iids[4]], "corrected", class_id=cids[2], reviewer="bo", note="ears")
    hist = project.decision_history(iids[4])
    assert [h.action for h in hist] == ["accepted", "corrected"]
    assert (hist[0].class_id, hist[0].prior_source, hist[0].previous_class_id) == (
        cids[1],
        "prediction",
        cids[1],
    )
    assert (hist[0].run_id, hist[0].score) == (run_id, pytest.approx(0.4))
    assert (hist[1].class_name, hist[1].prior_source, hist[1].previous_status) == (
        "fox",
        "decision",
        "accepted",
    )
    assert hist[1].note == "ears" and hist[1].reviewer == "bo"
    with project.session() as s:
        img = s.get(Image, iids[4])
        assert (img.review_status, img.label_class_id, img.last_decision_id) == (
            "corrected",
            cids[2],
            hist[1].id,
        )


def test_undo_walks_back_and_never_deletes(predicted):
    project, cids, iids, _ = predicted
    i = iids[1]
    project.record_decisions([i], "accepted")
    project.record_decisions([i], "corrected", class_id=cids[2])
    project.record_decisions([i], "rejected")

    def state():
        with project.session() as s:
            img = s.get(Image, i)
            return img.review_status, img.label_class_id

    assert state() == ("rejected", None)
    project.undo_decision(i)
    assert state() == ("corrected", cids[2])
    project.undo_decision(i)
    assert state() == ("accepted", cids[1])
    project.undo_decision(i)
    assert state() == ("unreviewed", None)
    with pytest.raises(ReviewError, match="nothing to undo"):
        project.undo_decision(i)
    hist = project.decision_history(i)
    assert [h.action for h in hist] == ["accepted", "corrected", "rejected", "undo", "undo", "undo"]
    assert [h.undoes_id for h in hist[3:]] == [hist[2].id, hist[1].id, hist[0].id]
    # a new decision after undos, then undo, returns to unreviewed again
    project.record_decisions([i], "uncertain", class_id=cids[0])
    assert state() == ("uncertain", cids[0])
    project.undo_decision(i)
    assert state() == ("unreviewed", None)


def test_bulk_decision_is_all_or_nothing(seeded):
    project, cids, iids = seeded  # no predictions: accepting must fail for every image
    with pytest.raises(ReviewError, match="no prediction"):
        project.record_decisions(iids, "accepted")
    with pytest.raises(ReviewError, match="needs the class"):
        project.record_decisions(iids, "corrected")
    with pytest.raises(ReviewError, match="unknown action"):
        project.record_decisions(iids, "approve")
    with project.session() as s:
        assert s.scalar(select(func.count()).select_from(Decision)) == 0
    assert len(project.record_decisions(iids, "corrected", class_id=cids[0])) == 6


def test_accept_above(predicted):
    project, cids, iids, _ = predicted
    project.record_decisions([iids[5]], "rejected")
    n = project.accept_above(0.25, reviewer="bot")
    assert n == 2  # images 3, 4 (image 5 already reviewed)
    assert project.count_by("review_status") == {"unreviewed": 3, "accepted": 2, "rejected": 1}
