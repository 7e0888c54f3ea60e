"""The review/stats subcommands end to end through `cli.main.main` on a real project file."""

from __future__ import annotations

import json

import pytest

from cli.main import main


def test_decide_undo_stats_from_the_command_line(predicted, capsys):
    project, cids, iids, _ = predicted
    path = project.location
    # img4 is predicted "dog": naming it accepts, naming another class corrects
    assert main(["-p", path, "decide", "img4.png", "dog", "--reviewer", "ana"]) == 0
    assert main(["-p", path, "decide", "img1.png", "fox", "--note", "tail"]) == 0
    assert main(["-p", path, "decide", "img2.png", "--action", "rejected"]) == 0
    out = capsys.readouterr().out
    assert "img4.png: accepted dog" in out and "img1.png: corrected fox" in out
    assert [d.action for d in project.decision_history(iids[4])] == ["accepted"]
    assert main(["-p", path, "undo", "img1.png"]) == 0
    assert "back to unreviewed" in capsys.readouterr().out
    assert main(["-p", path, "review", "--accept-above", "0.45"]) == 0  # img5 only (img4 already decided)
    assert "accepted 1 predictions" in capsys.readouterr().out
    assert main(["-p", path, "stats"]) == 0
    out = capsys.readouterr().out
    assert "reviewed: 3" in out and "agreement: 66.7% (2/3)" in out
    assert main(["-p", path, "stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_reviewed"] == 3 and data["agreement"] == pytest.approx(2 / 3)
    assert data["predicted_vs_decided"]["labels"] == ["cat", "dog", "fox", "(none)"]


def test_bad_input_is_one_clear_line(predicted, capsys):
    project, *_ = predicted
    path = project.location
    assert main(["-p", path, "decide", "img4.png", "wolf"]) == 1
    assert "unknown class 'wolf'" in capsys.readouterr().err
    assert main(["-p", path, "undo", "img4.png"]) == 1
    assert "nothing to undo" in capsys.readouterr().err
    assert main(["-p", path, "decide", "nope.png", "dog"]) == 1
    assert "no image 'nope.png'" in capsys.readouterr().err
    assert main(["-p", path, "audit", "report"]) == 0
    assert "no label issues" in capsys.readouterr().out


def test_prelabel_rescore_runs_from_the_command_line(engine_project, capsys):
    project, ids, cids = engine_project
    path = project.location
    assert main(["-p", path, "prelabel", "--crops", "4"]) == 0
    assert "run #1: 12 images pre-labelled" in capsys.readouterr().out
    assert main(["-p", path, "prelabel", "--crops", "4"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["-p", path, "prelabel"]) == 0  # other crop count: a new run (settings were not saved)
    assert "run #2" in capsys.readouterr().out
    victim = project.latest_prediction(ids[0]).class_id
    project.set_class_active(victim, False)
    assert main(["-p", path, "rescore", "--preview"]) == 0
    out = capsys.readouterr().out
    assert "would change" in out and "from" in out
    assert main(["-p", path, "rescore"]) == 0
    assert "changed" in capsys.readouterr().out
    assert main(["-p", path, "runs"]) == 0
    out = capsys.readouterr().out
    assert "rescore" in out and out.count("prelabel") == 2
    assert main(["-p", path, "audit", "run", "--checks", "labels"]) == 1  # a plain run skips it, saying so
    assert "no imported labels" in capsys.readouterr().err


def test_bulk_accept_by_class_queue_and_multi_undo(predicted, capsys):
    project, cids, iids, _ = predicted  # predictions: cat, dog, fox, cat, dog, fox with scores 0.0..0.5
    path = project.location
    assert main(["-p", path, "review", "--accept-above", "0.1", "--class", "dog"]) == 0
    assert "accepted 2 predictions of class dog" in capsys.readouterr().out  # img1, img4
    assert main(["-p", path, "review", "--class", "fox"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == ["img2.png", "img5.png"]  # least confident first
    assert main(["-p", path, "review", "--status", "accepted", "--order", "class"]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]} == {"img1.png", "img4.png"}
    assert main(["-p", path, "undo", "img1.png", "img4.png"]) == 0
    assert capsys.readouterr().out.count("back to unreviewed") == 2
    assert main(["-p", path, "undo", "img1.png", "img4.png"]) == 1  # nothing left: all or nothing
    assert project.count_by("review_status") == {"unreviewed": 6}
