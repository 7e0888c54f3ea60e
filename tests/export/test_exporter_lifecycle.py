"""Issue #15 item 4: exporters are context managers that close their files on every exit, and the
manifest is written from what an exporter declares, not from ExporterBase internals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plugins.exporters.base import WANTS_ATTRIBUTES_DEFAULT, ExporterBase, ExportSummary, wants_attributes
from tests.export.helpers import manifest, run_export
from workflows import export as export_mod
from workflows.progress import Cancelled, CancelToken

FORMATS = ["imagefolder", "csv", "jsonl", "hf-imagefolder", "fiftyone", "labelstudio", "imagenet"]


def _open_files_under(root: Path) -> list[str]:
    """Files this process holds open under `root` (Linux /proc, else psutil)."""
    real = os.path.realpath(root)
    if os.path.isdir("/proc/self/fd"):
        out = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(real):
                out.append(target)
        return out
    psutil = pytest.importorskip("psutil", reason="no /proc and no psutil to list open files")
    return [f.path for f in psutil.Process().open_files() if f.path.startswith(real)]


@pytest.fixture
def kept(monkeypatch):
    """Exporters stay referenced after the export (as a GUI or a plugin cache may hold them), so
    only closing — not garbage collection — can release their files."""
    held: list = []
    real = export_mod.load_exporter

    def load(fmt):
        held.append(real(fmt))
        return held[-1]

    monkeypatch.setattr(export_mod, "load_exporter", load)
    return held


@pytest.mark.parametrize("fmt", FORMATS)
def test_cancelled_export_leaves_no_open_file_handles(world, tmp_path, fmt, kept):
    parent = tmp_path / "exports"
    parent.mkdir()
    cancel = CancelToken()
    gen = export_mod.export(
        world.project, fmt, parent / "out", cancel=cancel, chunk_size=2, include_unsure_set=True,
        splits={"train": 0.5, "val": 0.5},
    )
    next(gen)  # splits
    next(gen)  # export started: the exporter has its files open
    next(gen)  # one chunk written
    cancel.cancel()
    with pytest.raises(Cancelled):
        while True:
            next(gen)
    assert kept and _open_files_under(parent) == []
    assert os.listdir(parent) == []


def test_failed_export_closes_files_before_removing_them(world, tmp_path, monkeypatch):
    from plugins.exporters.tabular import CsvExporter

    class Failing(CsvExporter):
        def export_sample(self, sample):
            if self.summary.n_samples == 2:
                raise OSError(28, "No space left on device")
            return super().export_sample(sample)

    held = Failing()
    monkeypatch.setattr(export_mod, "load_exporter", lambda fmt: held)
    parent = tmp_path / "exports"
    with pytest.raises(Exception, match="No space left"):
        run_export(world.project, "csv", parent / "out")
    assert _open_files_under(parent) == []


class ProtocolOnly:
    """A third-party exporter that implements only the protocol's core (no ExporterBase)."""

    name = "proto"
    description = "protocol only"
    options = ()

    def setup(self, out_dir, classes, options):
        self.f = open(Path(out_dir) / "rows.txt", "w", encoding="utf-8")
        self.n = 0

    def export_sample(self, sample):
        self.f.write(f"{sample.rel_path}\t{sample.label}\n")
        self.n += 1
        return None

    def release(self):
        self.f.close()

    def close(self):
        self.f.close()
        return ExportSummary(format=self.name, n_samples=self.n, metadata_files=["rows.txt"])


def test_manifest_of_a_protocol_only_plugin_has_its_classes(world, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "load_exporter", lambda fmt: ProtocolOnly())
    run_export(world.project, "proto", tmp_path / "out")
    m = manifest(tmp_path / "out")
    assert [c["name"] for c in m["classes"]] == ["cat", "dog"]
    assert m["files"] == ["rows.txt", "lazlabel-export.json"]


def test_manifest_lists_what_the_exporter_declares(world, tmp_path):
    run_export(world.project, "imagenet", tmp_path / "out")
    m = manifest(tmp_path / "out")
    assert [(c["name"], c["folder"]) for c in m["classes"]] == [("cat", "cat"), ("dog", "dog")]
    for f in m["files"]:
        assert (tmp_path / "out" / f).is_file()


def test_one_wants_attributes_default():
    assert ExporterBase.wants_attributes is WANTS_ATTRIBUTES_DEFAULT
    assert wants_attributes(ProtocolOnly()) is WANTS_ATTRIBUTES_DEFAULT
    from plugins.exporters.tabular import CsvExporter

    assert wants_attributes(CsvExporter()) is True
