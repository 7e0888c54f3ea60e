"""File ▸ Import labels… (issue #14 item 3): format, preview, import, unmatched-path report."""

from __future__ import annotations


def test_preview_then_import_reports_unmatched_paths(qtbot, ctx, grid_project, tmp_path):
    from desktop.dialogs.import_labels import ImportLabelsDialog

    p = grid_project
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nimg_000.png,apple\nimg_001.png,banana\nelsewhere/nope.png,apple\n"
                      "img_002.png,durian\n", encoding="utf-8")
    ctx.set_project(p)
    dlg = ImportLabelsDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.set_source("csv", labels)
    pv = dlg.preview()
    assert (pv.n_read, pv.n_matched) == (4, 3)
    assert dlg.table.topLevelItemCount() == 4 and "3 name an image" in dlg.summary.text()
    assert [dlg.table.topLevelItem(i).text(2) for i in range(4)] == ["yes", "yes", "NO", "yes"]
    with qtbot.waitSignal(ctx.labels_changed, timeout=10000):
        dlg.start()
    assert dlg.result.n_imported == 3 and dlg.unmatched.toPlainText() == "elsewhere/nope.png"
    assert "durian" in dlg.summary.text()  # a new class was created and said so
    assert p.image(p.ids[1]).imported_class_id == p.get_class("banana").id
    assert ctx.errors == []


def test_a_bad_file_is_one_line_in_the_dialog_not_a_bug_dialog(qtbot, ctx, grid_project, tmp_path):
    from desktop.dialogs.import_labels import ImportLabelsDialog

    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n", encoding="utf-8")
    ctx.set_project(grid_project)
    dlg = ImportLabelsDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.set_source("csv", bad)
    assert dlg.preview() is None
    assert ctx.errors == [] and "path" in dlg.summary.text().lower()
