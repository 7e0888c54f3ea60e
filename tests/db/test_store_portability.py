"""The store modules other work adds run on PostgreSQL too (issue #20): smoke-level checks of
their SQL on both back-ends (their behaviour is tested in their own areas)."""

from __future__ import annotations

from tests.workflows.conftest import predicted, seeded  # noqa: F401  (fixtures)


def test_learning_store_sql_runs_on_both_backends(predicted):  # noqa: F811
    project, cids, iids, run_id = predicted
    project.record_decisions([iids[0]], "accepted", reviewer="ana")
    project.record_decisions([iids[1]], "rejected", reviewer="ana")
    project.record_decisions([iids[2]], "confirmed_negative", reviewer="ana")
    got = {(d.image_id, d.class_id, d.positive) for d in project.decided_images()}
    assert got == {(iids[0], cids[0], True), (iids[1], cids[1], False), (iids[2], cids[2], False)}
    assert project.latest_decision_id() is not None
    assert project.show_run_predictions(run_id) == len(iids)
    assert project.show_zero_shot_predictions() == 0  # no learning run shown
