"""Atomic exports: a failure or a cancel leaves nothing behind; nothing is written outside the target."""

from __future__ import annotations

import os

import pytest

from plugins.exporters.imagefolder import ImageFolderExporter
from tests.export.conftest import walk_files
from tests.export.helpers import manifest, run_export
from workflows import export as export_mod
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken


class _FailingExporter(ImageFolderExporter):
    """The real ImageFolder exporter with a disk that fills up after a few images."""

    def export_sample(self, sample):
        if self.summary.n_samples == 3:
            raise OSError(28, "No space left on device")
        return super().export_sample(sample)


def test_failure_mid_export_leaves_no_target_and_no_temp_dir(world, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "load_exporter", lambda fmt: _FailingExporter())
    parent = tmp_path / "exports"
    parent.mkdir()
    with pytest.raises(UserError, match="nothing was written.*No space left"):
        run_export(world.project, "imagefolder", parent / "out")
    assert os.listdir(parent) == []


def test_cancel_leaves_nothing(world, tmp_path):
    parent = tmp_path / "exports"
    parent.mkdir()
    cancel = CancelToken()
    gen = export_mod.export(world.project, "imagefolder", parent / "out", cancel=cancel, chunk_size=2)
    next(gen)  # started
    cancel.cancel()
    with pytest.raises(Cancelled, match="nothing was written"):
        while True:
            next(gen)
    assert os.listdir(parent) == []


def test_abandoned_export_cleans_up(world, tmp_path):
    parent = tmp_path / "exports"
    parent.mkdir()
    gen = export_mod.export(world.project, "imagefolder", parent / "out", chunk_size=2)
    next(gen)
    next(gen)
    gen.close()  # e.g. the GUI window closed mid-export
    assert os.listdir(parent) == []


def test_existing_targets_are_protected(world, tmp_path):
    p = world.project
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(UserError, match="not empty"):
        run_export(p, "csv", mine, overwrite=True)
    assert walk_files(mine) == ["thesis.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()
    run_export(p, "csv", empty)  # an empty folder is fine
    with pytest.raises(UserError, match="earlier export"):
        run_export(p, "jsonl", empty)
    run_export(p, "jsonl", empty, overwrite=True)
    assert manifest(empty)["format"] == "jsonl" and not (empty / "labels.csv").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp or old copies left


def test_hostile_names_never_escape_the_target(hostile_world, tmp_path):
    parent = tmp_path / "exports"
    parent.mkdir()
    for fmt in ("imagefolder", "hf-imagefolder", "imagenet", "fiftyone", "labelstudio"):
        out = parent / fmt
        run_export(hostile_world.project, fmt, out, include_unsure_set=True)
        real = os.path.realpath(out)
        for d, dirs, files in os.walk(out):
            for name in dirs + files:
                full = os.path.join(d, name)
                assert os.path.commonpath([real, os.path.realpath(os.path.dirname(full))]) == real
                assert not name.startswith(".") and name.isascii()
    assert sorted(os.listdir(parent)) == sorted(
        ["imagefolder", "hf-imagefolder", "imagenet", "fiftyone", "labelstudio"]
    )


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_missing_source_is_skipped_and_reported(world, tmp_path, mode):
    gone = next(iter(world.expected))
    (world.root / gone).unlink()
    s = run_export(world.project, "imagefolder", tmp_path / "out", mode=mode)
    assert s.n_samples == len(world.expected) - 1
    assert any("missing" in w and gone in w for w in s.warnings)
    assert manifest(tmp_path / "out")["skipped_missing"] == [gone]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"splits": {"train": 0.8, "val": 0.1}}, "add up to 0.9"),
        ({"splits": {"../x": 1.0}}, "not a plain folder name"),
        ({"splits": {"unsure": 1.0}}, "reserved"),
        ({"classes": ["cat", "unicorn"]}, "unknown class"),
        ({"mode": "move"}, "unknown mode"),
        ({"options": {"colour": "red"}}, "unknown option"),
    ],
)
def test_bad_requests_are_refused_before_writing(world, tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        run_export(world.project, "imagefolder", tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out")]


def test_unknown_format_and_empty_project(project, tmp_path):
    with pytest.raises(UserError, match="unknown exporter 'zip'"):
        run_export(project, "zip", tmp_path / "o")
    with pytest.raises(UserError, match="nothing to export"):
        run_export(project, "csv", tmp_path / "o")


def test_temp_dirs_of_killed_exports_are_cleaned_up(world, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".out.tmp-{int(dead.stdout)}-abcd"
    live = tmp_path / f".out.tmp-{os.getppid()}-beef"  # a process that is still running
    for d in (stale, live):
        (d / "train").mkdir(parents=True)
    run_export(world.project, "csv", tmp_path / "out")
    assert not stale.exists() and live.exists()


def test_format_names_match_ignoring_case_dash_and_underscore():
    from plugins import registry

    assert registry.resolve(registry.EXPORTERS, "label-studio") == "labelstudio"
    assert registry.resolve(registry.EXPORTERS, "HF_ImageFolder") == "hf-imagefolder"
    assert registry.resolve(registry.IMPORTERS, "Label_Studio") == "labelstudio"
    assert registry.resolve(registry.EXPORTERS, "zip") is None
    assert registry.load(registry.EXPORTERS, "label-studio") is registry.load(registry.EXPORTERS, "labelstudio")
