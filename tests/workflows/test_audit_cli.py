"""`lazlabel audit run | report` end to end through `cli.main.main` on a real project file."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from tests.workflows.synth import planted_project


@pytest.fixture
def audited(project, capsys):
    world = planted_project(project, n=240, flip=0.3)
    assert main(["-p", project.location, "audit", "run", "--checks", "labels,duplicates"]) == 0
    out = capsys.readouterr().out
    return project, world, out


def test_run_says_what_it_found_and_how_long_each_check_took(audited):
    _project, _world, out = audited
    assert "labelled images flagged (low_self_confidence" in out and "duplicate groups" in out
    assert "timings: score" in out and "duplicates" in out.splitlines()[-1]


def test_report_all_is_everything_and_json_is_one_document(audited, capsys):
    project, _world, _ = audited
    path = project.location
    assert main(["-p", path, "audit", "report", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 0 < len(lines) <= 50 and all(json.loads(x)["flagged"] for x in lines)
    assert main(["-p", path, "audit", "report", "--all", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # one document, not JSON Lines
    assert doc["check"] == "labels" and len(doc["items"]) == 240  # --all: no --limit 50 cap
    assert main(["--project", path, "audit", "report", "--format", "json", "--limit", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    assert main(["audit", "report", "--check", "duplicates", "-p", path, "--format", "json"]) == 0  # any order
    dup = json.loads(capsys.readouterr().out)
    assert dup["check"] == "duplicates" and dup["threshold"] == pytest.approx(0.97) and "items" in dup
    assert main(["-p", path, "audit", "report", "--check", "health"]) == 0
    assert "overall label health" in capsys.readouterr().out
    assert main(["-p", path, "audit", "report", "--check", "overlap"]) == 0
    assert "has not run yet" in capsys.readouterr().out  # overlap was not in --checks


def test_bad_audit_input_is_one_line_and_exit_1(audited, capsys):
    project, *_ = audited
    path = project.location
    assert main(["-p", path, "audit", "run", "--checks", "labels,nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown audit check 'nope'" in err and "internal error" not in err
    assert main(["-p", path, "audit", "run", "--checks", "duplicates", "--duplicate-threshold", "1.5"]) == 1
    assert "duplicate threshold must be" in capsys.readouterr().err
    assert main(["-p", path, "audit", "run", "--filter", "vibes"]) == 1
    assert "unknown filter 'vibes'" in capsys.readouterr().err
    assert main(["-p", path, "audit", "report", "--limit", "-1"]) == 1
    assert "--limit must be" in capsys.readouterr().err
