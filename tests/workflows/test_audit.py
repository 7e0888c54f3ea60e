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


def test_label_checks_need_imported_labels_when_asked_for(engine_project):
    project, *_ = engine_project
    with pytest.raises(UserError, match="no imported labels"):
        drive(run_audit(project, checks="labels"))
    with pytest.raises(UserError, match="unknown audit check 'vibes'"):
        drive(run_audit(project, checks="labels,vibes"))


def test_default_audit_without_labels_runs_the_dataset_checks_and_says_what_it_skipped(engine_project):
    """Nothing labelled yet: duplicates and outliers still run on the cached features; the label
    checks are skipped with the reason (no error)."""
    from workflows.audit_findings import load_findings
    from workflows.prelabel import run_prelabel

    project, *_ = engine_project
    drive(run_prelabel(project))
    res = drive(run_audit(project))
    assert res.skipped == {"labels": "no imported labels", "overlap": "no imported labels",
                           "decisions": "no decided labels"}
    assert "skipped: labels (no imported labels)" in res.message
    assert set(res.counts) == {"duplicates", "outliers"}
    dup = load_findings(project, "duplicates")
    assert dup["run_id"] == res.run_id and dup["n_images"] == 12
    assert project.run(res.run_id).kind == "audit-data"
    assert project.label_issues() == []  # a dataset-only run is never taken for a label audit
