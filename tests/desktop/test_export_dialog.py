"""Export dialog over the real exporter plugins: options rendered, files written, summary shown."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox


@pytest.fixture
def dialog(qtbot, ctx, grid_project):
    from desktop.dialogs.export import ExportDialog

    p = grid_project
    ids, cls = p.ids, p.class_ids
    p.record_decisions(ids[1:4], "accepted", reviewer="ana")
    p.record_decisions([ids[4]], "corrected", class_id=cls[2], reviewer="ana")
    p.record_decisions([ids[5]], "rejected", reviewer="ana")
    ctx.set_project(p)
    d = ExportDialog(ctx)
    qtbot.addWidget(d)
    d.show()
    return d


def test_every_installed_format_is_offered_with_its_options(dialog):
    from plugins.registry import EXPORTERS, available

    names = [dialog.formats.item(i).text() for i in range(dialog.formats.count())]
    assert names == list(available(EXPORTERS))
    dialog.set_format("imagefolder")
    w, _read = dialog.option_editors["mode"]
    assert isinstance(w, QComboBox) and [w.itemText(i) for i in range(w.count())] == ["copy", "hardlink", "symlink"]
    dialog.set_format("labelstudio")
    assert dialog.option_editors  # its own declared options
    dialog.set_format("csv")
    assert dialog.option_editors == {}


def test_imagefolder_export_writes_files_and_shows_summary(qtbot, dialog, tmp_path):
    dialog.set_format("imagefolder")
    out = tmp_path / "out"
    dialog.out_edit.setText(str(out))
    dialog.splits_edit.setText("train=0.5,val=0.5")
    dialog.unsure_check.setChecked(True)
    with qtbot.waitSignal(dialog.exported, timeout=30000) as blocker:
        dialog.start()
    summary = blocker.args[0]
    assert summary.n_samples == 6  # 4 accepted (incl. the fixture's) + 1 corrected + 1 unsure
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(files) == 6
    assert any(f.startswith("unsure/") for f in files)
    assert {f.split("/")[0] for f in files} <= {"train", "val", "unsure"}
    assert (out / "lazlabel-export.json").exists()
    assert "Exported 6 images" in dialog.result.toPlainText()
    assert dialog.open_button.isEnabled()


def test_fiftyone_export_with_predictions_above(qtbot, dialog, tmp_path, grid_project):
    dialog.set_format("fiftyone")
    out = tmp_path / "fo"
    dialog.out_edit.setText(str(out))
    dialog.predictions_check.setChecked(True)
    dialog.predictions_min.setValue(0.25)
    with qtbot.waitSignal(dialog.exported, timeout=30000):
        dialog.start()
    data = json.loads((out / "labels.json").read_text())  # without splits OUT itself is the dataset
    # decided: images 0-4 (image 5 is rejected); unreviewed predictions >= 0.25: image 6 (0.3), not 7 (0.2)
    assert len(data["labels"]) == 6
    assert set(data["classes"]) == {"apple", "banana", "cherry"}


def test_bad_splits_and_existing_folder_are_readable_errors(qtbot, dialog, tmp_path, ctx):
    dialog.set_format("csv")
    dialog.out_edit.setText(str(tmp_path / "x"))
    dialog.splits_edit.setText("train=0.9,val=0.3")
    assert dialog.start() is None
    assert "add up to" in ctx.errors[-1][1]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me")
    dialog.splits_edit.clear()
    dialog.out_edit.setText(str(busy))
    worker = dialog.start()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30000)
    assert worker.state == "errored"
    assert (busy / "precious.txt").read_text() == "keep me"
    assert dialog.progress_label.text().startswith("Failed:")


def test_bool_options_get_checkboxes():
    from desktop.dialogs.export import editor_for
    from plugins.exporters.base import OptionSpec

    make, read = editor_for(OptionSpec("flag", bool, True, "a flag"))
    w = make(OptionSpec("flag", bool, True, "a flag"))
    assert isinstance(w, QCheckBox) and read(w) is True
