"""Audit on a planted labelled set: 10% of imported labels flipped, flagged set measured."""

from __future__ import annotations

import pytest

from tests.workflows.synth import planted_project
from workflows.audit import audit_report, run_audit
from workflows.errors import UserError
from workflows.progress import drive


def test_audit_finds_flipped_labels(project):
    world = planted_project(project, n=1000)
    res = drive(run_audit(project))
    assert res.n_scored == 1000 and not res.missing_features and 0 < res.temperature < 10
    flipped = {i for i, f in zip(world["ids"], world["flipped"].tolist()) if f}
    rows = audit_report(project, None)
    flagged = {r.image_id for r in rows if r.flagged}
    precision = len(flagged & flipped) / len(flagged)
    recall = len(flagged & flipped) / len(flipped)
    top100 = [r.image_id for r in audit_report(project, 100, flagged_only=False)]
    p100 = len(set(top100) & flipped) / 100
    print(
        f"audit planted n=1000: flagged={len(flagged)} precision={precision:.3f} recall={recall:.3f} "
        f"top100={p100:.2f} T={res.temperature:.4g}"
    )
    assert precision >= 0.6 and recall >= 0.6 and p100 >= 0.6  # floors; measured numbers in the report
    # each flagged image carries the evidence for the suggested and the given class
    r = next(r for r in rows if r.flagged)
    expl = project.explanations(r.image_id, run_id=r.run_id)
    assert set(expl) == {r.suggested_class_id, r.given_class_id}
    assert expl[r.suggested_class_id]["attributes"][0]["regions"]
    # issue scores are denormalised for the grid's "most suspicious" sort
    assert project.image(r.image_id).issue_score == pytest.approx(r.issue_score)


def test_audit_needs_imported_labels(engine_project):
    project, *_ = engine_project
    with pytest.raises(UserError, match="no imported labels"):
        drive(run_audit(project))
