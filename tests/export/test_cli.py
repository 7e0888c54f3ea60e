"""`lazlabel export` and `lazlabel import-labels` end to end through the real command line."""

from __future__ import annotations

import csv

from cli.main import main
from tests.export.helpers import manifest


def test_export_list_names_every_plugin(capsys):
    assert main(["export", "--list"]) == 0
    out = capsys.readouterr().out
    for fmt in ("imagefolder", "csv", "jsonl", "hf-imagefolder", "fiftyone", "labelstudio", "imagenet"):
        assert fmt in out
    assert main(["import-labels", "--list"]) == 0
    out = capsys.readouterr().out
    for fmt in ("folder", "csv", "jsonl", "fiftyone", "labelstudio"):
        assert fmt in out


def test_export_then_import_from_the_command_line(world, tmp_path, capsys):
    proj = world.project.location
    out = tmp_path / "tree"
    rc = main(
        [
            "-p",
            proj,
            "export",
            "imagefolder",
            str(out),
            "--mode",
            "hardlink",
            "--split",
            "train=0.5,val=0.5",
            "--seed",
            "3",
            "--include-unsure",
            "--classes",
            "cat",
            "dog",
        ]
    )
    assert rc == 0
    said = capsys.readouterr().out
    assert f"exported {len(world.expected) + len(world.unsure)} image(s)" in said
    m = manifest(out)
    assert (
        m["seed"] == 3
        and m["options"] == {"mode": "hardlink"}
        and set(m["counts"]["by_split"]) == {"train", "val", "unsure"}
    )
    assert main(["-p", proj, "import-labels", "folder", str(out)]) == 0
    assert f"imported {len(world.expected)} label(s)" in capsys.readouterr().out


def test_cli_errors_are_one_line_and_exit_1(world, tmp_path, capsys):
    proj = world.project.location
    assert main(["-p", proj, "export", "csv", str(tmp_path / "o"), "--split", "train=0.9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lazlabel: split fractions add up to 0.9") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    assert main(["-p", proj, "export", "csv"]) == 1
    assert "usage" in capsys.readouterr().err


def test_import_reports_unmatched_paths(world, tmp_path, capsys):
    f = tmp_path / "l.csv"
    with open(f, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerow([next(iter(world.expected)), "dog"])
        w.writerow(["ghost.png", "dog"])
    listing = tmp_path / "unmatched.txt"
    rc = main(
        ["-p", world.project.location, "import-labels", "csv", str(f), "--unmatched-out", str(listing)]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert "1 unmatched" in captured.out and "ghost.png" in captured.err
    assert listing.read_text(encoding="utf-8") == "ghost.png\n"


def test_cancelled_export_says_nothing_was_kept(world, tmp_path, capsys):
    import pytest

    from cli.export_cmds import _drive
    from workflows.export import export
    from workflows.progress import CancelToken

    cancel = CancelToken()
    cancel.cancel()  # as the first Ctrl+C does
    gen = export(world.project, "imagefolder", tmp_path / "out", cancel=cancel)
    with pytest.raises(KeyboardInterrupt):
        _drive(gen, "export", cancel)
    assert "export cancelled; nothing was written" in capsys.readouterr().err
    assert (
        not [n for n in tmp_path.iterdir() if n.name.startswith(".out")] and not (tmp_path / "out").exists()
    )
