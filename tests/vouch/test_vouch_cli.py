"""`lazlabel review --sample / --propose / --accept-vouched` and the effort lines of `lazlabel stats`."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from tests.vouch import world
from workflows import vouch


@pytest.fixture
def vw(project):
    w = world.build(project, 600)
    return project, w


def _run(project, *args):
    return main([*args, "--project", project.location])


def test_sample_then_accept_vouched_from_the_command_line(vw, capsys):
    project, w = vw
    assert _run(project, "review", "--sample", "200", "--seed", "5") == 0
    out = capsys.readouterr().out
    assert "audit sample #1: 200 of 600 unreviewed images, seed 5" in out
    # the queue lists it; options in any order
    assert _run(project, "review", "--limit", "3", "--order", "audit_sample") == 0
    listed = capsys.readouterr().out
    first = project.images(vouch.audit_queue(project)[:1])[0].rel_path
    assert first in listed
    assert _run(project, "review", "--accept-vouched", "--target", "0.9") == 1
    assert "are not decided yet" in capsys.readouterr().err
    world.curate(project, vouch.latest_sample(project).image_ids, w["truth"])
    assert _run(project, "review", "--target", "0.9", "--accept-vouched", "--preview") == 0
    prev = capsys.readouterr().out
    assert "precision >=" in prev and "guaranteed" in prev and project.vouches() == []
    assert _run(project, "--project", project.location, "review", "--accept-vouched", "--target", "0.9") == 0
    done = capsys.readouterr().out
    assert "(vouch #1)" in done and len(project.vouches()) == 1


def test_bad_vouch_input_is_one_line_exit_1(vw, capsys):
    project, _ = vw
    assert _run(project, "review", "--accept-vouched") == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert _run(project, "review", "--sample", "0") == 1
    assert "at least one image" in capsys.readouterr().err
    _run(project, "review", "--sample", "10")
    capsys.readouterr()
    assert _run(project, "review", "--sample", "10", "--accept-vouched") == 1
    assert _run(project, "review", "--propose", "--class", "cat") == 1
    assert "do not combine" in capsys.readouterr().err


def test_stats_shows_effort_per_label(vw, capsys):
    project, w = vw
    img = project.images(w["ids"][:1])[0]
    assert _run(project, "decide", img.rel_path, "--action", "rejected") == 0
    assert _run(project, "review", "--accept-above", "0.95") == 0
    capsys.readouterr()
    assert _run(project, "stats") == 0
    out = capsys.readouterr().out
    assert "effort: 0 keys, 0 clicks, 2 commands" in out and "cli 1 event(s)/1 image(s)" in out
    assert _run(project, "stats", "--json") == 0
    eff = json.loads(capsys.readouterr().out)["effort"]
    assert eff["commands"] == 2 and eff["labelled"] > 0 and eff["per_label"] == pytest.approx(2 / eff["labelled"])
