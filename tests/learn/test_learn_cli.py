"""`lazlabel learn`, `learn runs`, `learn use`, `learn weights`: as a user runs them."""

from __future__ import annotations

from cli.main import main
from tests.learn.conftest import decide_per_class


def test_learn_cli_round_trip(world, capsys):
    project, w = world
    path = str(project.path)
    assert main(["learn", "--preview", "--project", path]) == 1  # no decisions yet: one line, exit 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lazlabel: no decisions to learn from") and "\n" not in err
    decide_per_class(project, w, 4)
    assert main(["learn", "--project", path, "--preview", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "learned from 24 decisions" in out and "would change" in out
    assert not project.runs(kind="learn")
    assert main(["--project", path, "learn", "--method", "adapter"]) == 0  # options anywhere
    out = capsys.readouterr().out
    assert "less explainable" in out and "is active" in out
    assert main(["learn", "runs", "--project", path]) == 0
    out = capsys.readouterr().out
    assert "adapter" in out and "* " in out
    assert main(["learn", "use", "zero-shot", "--project", path]) == 0
    assert main(["learn", "use", "999", "--project", path]) == 1
    assert "no learning run #999" in capsys.readouterr().err
    assert main(["learn", "use", "banana", "--project", path]) == 1
    assert main(["learn", "--project", path]) == 0
    assert main(["learn", "weights", "--project", path]) == 0
    out = capsys.readouterr().out
    assert "weight" in out
    assert main(["stats", "--project", path]) == 0
    assert "labels shown: learning run #" in capsys.readouterr().out
    assert main(["learn", "--method", "msci", "--project", path]) == 1  # a flat project: no pairs to learn
    err = capsys.readouterr().err.strip()
    assert err.startswith("lazlabel: msci learns (state, object) pairs") and "\n" not in err
