"""The Browse screen on a real project: counts, filters, sorts, thumbnails, selection, open."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt

from desktop.browser.model import RowRole, ThumbErrorRole, ThumbRole


@pytest.fixture
def browser(qtbot, ctx, grid_project):
    from desktop.browser.view import BrowserView

    view = BrowserView(ctx)
    qtbot.addWidget(view)
    view.resize(900, 600)
    ctx.set_project(grid_project)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.controller.thumbnails.shutdown()


def shown_paths(view) -> list[str]:
    m = view.controller.model
    return [m.data(m.index(r), RowRole).rel_path for r in range(m.rowCount())]


def test_grid_shows_every_image_with_counts(browser):
    assert browser.controller.model.rowCount() == 12
    assert shown_paths(browser)[:2] == ["img_000.png", "img_001.png"]
    assert "Showing 12 of 12 images" in browser.info.text()


def test_status_filter_and_sort_change_what_is_shown(browser, grid_project):
    c = browser.controller
    browser.status_box.setCurrentIndex(browser.status_box.findData("predicted"))
    assert c.model.rowCount() == 7  # 8 predicted, one of them accepted
    browser.sort_box.setCurrentIndex(browser.sort_box.findData("confidence"))
    rows = [c.model.row_data(r) for r in range(7)]
    scores = [r.pred_score for r in rows]
    assert scores == sorted(scores) and scores[0] == pytest.approx(0.2)
    assert "Showing 7 of 12" in browser.info.text()

    browser.status_box.setCurrentIndex(browser.status_box.findData("accepted"))
    assert shown_paths(browser) == ["img_000.png"]
    browser.status_box.setCurrentIndex(browser.status_box.findData("unpredicted"))
    assert c.model.rowCount() == 4


def test_class_filter_and_search(browser, grid_project, qtbot):
    c = browser.controller
    banana = grid_project.class_ids[1]
    browser.class_box.setCurrentIndex(browser.class_box.findData(banana))
    assert shown_paths(browser) == ["img_001.png", "img_004.png", "img_007.png"]
    browser.class_box.setCurrentIndex(0)
    browser.search.setText("img_01")
    qtbot.waitUntil(lambda: c.model.rowCount() == 2, timeout=3000)
    assert shown_paths(browser) == ["img_010.png", "img_011.png"]


def test_thumbnails_are_made_off_thread_and_cached_on_disk(browser, grid_project, qtbot):
    m = browser.controller.model
    for r in range(m.rowCount()):
        m.data(m.index(r), ThumbRole)  # asks for all (the view asks only for visible ones)
    ok_rows = [r for r in range(12) if r != 8]
    qtbot.waitUntil(lambda: all(m.data(m.index(r), ThumbRole) is not None for r in ok_rows), timeout=10000)
    qtbot.waitUntil(lambda: m.data(m.index(8), ThumbErrorRole) is not None, timeout=10000)
    pm = m.data(m.index(3), ThumbRole)
    assert max(pm.width(), pm.height()) <= browser.controller.thumb_px
    thumbs = list((grid_project.cache_dir / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 11


def test_selection_is_published_and_enter_opens_review(browser, ctx, grid_project, qtbot):
    c = browser.controller
    sm = c.selection_model
    with qtbot.waitSignal(ctx.selection_changed, timeout=3000) as blocker:
        sm.select(c.model.index(2), QItemSelectionModel.SelectionFlag.Select)
        sm.select(c.model.index(5), QItemSelectionModel.SelectionFlag.Select)
    assert blocker.args[0] == [grid_project.ids[2], grid_project.ids[5]]
    assert "2 selected" in browser.info.text()

    browser.grid.setCurrentIndex(c.model.index(4))
    with qtbot.waitSignal(ctx.screen_requested, timeout=3000) as req:
        qtbot.keyClick(browser.grid, Qt.Key.Key_Return)
    assert req.args == ["review"]
    assert ctx.current_image == grid_project.ids[4]


def test_decisions_refresh_tiles_in_place(browser, ctx, grid_project):
    c = browser.controller
    target = grid_project.ids[3]
    assert c.model.row_data(3).review_status == "unreviewed"
    grid_project.record_decisions([target], "rejected", reviewer="t")
    ctx.labels_changed.emit([target])
    assert c.model.row_data(3).review_status == "rejected"
    assert c.model.rowCount() == 12


def test_select_all_and_reload_keep_selection(browser, grid_project, qtbot):
    c = browser.controller
    c.select_all()
    assert len(c.selected_ids()) == 12
    c.select_ids({grid_project.ids[1]})
    c.reload()
    assert c.selected_ids() == [grid_project.ids[1]]


def test_large_selections_repaint_the_viewport_without_walking_rows(qtbot):
    """Select-all over many rows: the grid answers 'repaint the viewport' instead of visiting each
    selected row (Qt's default asks the Python model's rowCount once per row); small selections keep
    Qt's exact region. Ids of one selected block come straight from the id array, in row order."""
    from PySide6.QtCore import QStringListModel

    from desktop.browser.view import LARGE_SELECTION, ImageGrid

    grid = ImageGrid(64)
    qtbot.addWidget(grid)
    model = QStringListModel([f"x{i}" for i in range(LARGE_SELECTION * 4)])
    grid.setModel(model)
    grid.resize(500, 400)
    grid.show()
    qtbot.waitExposed(grid)
    full = grid.viewport().rect()
    big = QItemSelection(model.index(0), model.index(model.rowCount() - 1))
    assert grid.visualRegionForSelection(big).boundingRect() == full
    small = QItemSelection(model.index(0), model.index(0))
    assert grid.visualRegionForSelection(small).boundingRect().height() < full.height()


def test_one_selected_block_gives_ids_in_row_order(browser, grid_project):
    c = browser.controller
    m = c.model
    c.selection_model.select(QItemSelection(m.index(2), m.index(6)), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    assert c.selected_ids() == m.ids([2, 3, 4, 5, 6]) and c.selected_count() == 5
    c.selection_model.select(m.index(9), QItemSelectionModel.SelectionFlag.Select)  # two blocks now
    assert c.selected_ids() == m.ids([2, 3, 4, 5, 6, 9]) and c.selected_count() == 6


def test_bulk_accept_works_where_the_selection_is_and_counts_what_it_skips(qtbot, ctx, grid_project):
    """Ctrl+Shift+A did nothing in Browse (issue #14 item 4)."""
    from PySide6.QtCore import QItemSelectionModel, Qt

    from desktop.browser.view import BrowserView
    from desktop.bulk import plan_accept

    view = BrowserView(ctx)
    qtbot.addWidget(view)
    view.show()
    ctx.set_project(grid_project)
    ids = grid_project.ids
    plan = plan_accept(grid_project, [ids[1], ids[0], ids[10]])  # predicted, decided+predicted, no prediction
    assert plan.accept == [ids[1], ids[0]] and plan.overwrite == 1 and plan.skipped == 1
    assert "1 selected image(s) have no prediction" in plan.question()
    m, sel = view.controller.model, view.controller.selection_model
    rows = [m.ids().index(i) for i in (ids[2], ids[3], ids[11])]
    for r in rows:
        sel.select(m.index(r), QItemSelectionModel.SelectionFlag.Select)
    qtbot.waitExposed(view)
    view.activateWindow()
    view.grid.setFocus()
    qtbot.waitUntil(lambda: len(ctx.selection) == 3, timeout=3000)
    qtbot.keyClick(view.grid, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert [grid_project.image(i).review_status for i in (ids[2], ids[3], ids[11])] == ["accepted", "accepted", "unreviewed"]


def test_accept_above_counts_exactly_what_it_accepts(qtbot, ctx, grid_project):
    from desktop.bulk import count_above
    from desktop.dialogs.accept_above import AcceptAboveDialog

    ctx.set_project(grid_project)
    n, total = count_above(grid_project, 0.55)
    assert (n, total) == (3, 7)  # scores 0.8, 0.7, 0.6 of the 7 unreviewed predicted (0.9 is accepted)
    dlg = AcceptAboveDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.threshold.setValue(0.55)
    assert "Accept 3" in dlg.buttons.buttons()[0].text() or any("Accept 3" in b.text() for b in dlg.buttons.buttons())
    assert dlg.run() == 3
    assert count_above(grid_project, 0.55) == (0, 4)
