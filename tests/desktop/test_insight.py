"""Insight charts over real project statistics."""

from __future__ import annotations


def test_insight_draws_the_projects_numbers(qtbot, ctx, grid_project):
    from desktop.insight.view import InsightView

    p = grid_project
    p.record_decisions([p.ids[1]], "corrected", class_id=p.class_ids[0], reviewer="t")
    view = InsightView(ctx)
    qtbot.addWidget(view)
    ctx.set_project(p)
    view.resize(1100, 800)
    view.show()
    view.activate()
    assert view.cards["images"].value.text() == "12"
    assert view.cards["predicted"].value.text() == "8"
    assert view.cards["reviewed"].value.text() == "2"
    assert view.cards["agreement"].value.text() == "50%"  # one accepted, one corrected
    assert sum(view.histogram.counts) == 8
    cats = view.class_bars.categories
    assert cats == ["apple", "banana", "cherry"]
    predicted = dict(view.class_bars.series)["predicted"]
    assert predicted == [3, 3, 2]
    view.grab()  # paint: fills the hover texts
    assert any("apple" in t and "predicted: 3" in t for t in view.class_bars.hover_texts())
    assert view.confusion.has_data()
    assert any("predicted <b>banana</b>, decided <b>apple</b>: 1" in t for t in view.confusion.hover_texts())
    view.confusion_box.setCurrentIndex(1)  # imported vs decided: none imported here
    assert not view.confusion.has_data() and "No imported labels" in view.confusion.empty_text


def test_insight_follows_label_changes_while_visible(qtbot, ctx, grid_project):
    from desktop.insight.view import InsightView

    view = InsightView(ctx)
    qtbot.addWidget(view)
    ctx.set_project(grid_project)
    view.show()
    view.activate()
    grid_project.record_decisions(grid_project.ids[1:3], "accepted", reviewer="t")
    ctx.labels_changed.emit(grid_project.ids[1:3])
    qtbot.waitUntil(lambda: view.cards["reviewed"].value.text() == "3", timeout=3000)


def test_nice_ticks_are_round():
    from desktop.insight.charts import nice_ticks

    assert nice_ticks(87) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(0) == [0.0, 1.0]


def test_a_confusion_cell_opens_its_images_for_review(qtbot, ctx, grid_project):
    """Issue #14 item 9: cells could not be clicked through to their images."""
    from PySide6.QtCore import QPointF, Qt

    from desktop.insight.view import InsightView

    p = grid_project
    p.record_decisions([p.ids[1]], "corrected", class_id=p.class_ids[0], reviewer="t")  # predicted banana
    view = InsightView(ctx)
    qtbot.addWidget(view)
    ctx.set_project(p)
    view.resize(1100, 800)
    view.show()
    view.activate()
    view.confusion.grab()  # paint: lays out the cells
    r = view.confusion.keys.index(p.class_ids[1])  # predicted banana
    c = view.confusion.keys.index(p.class_ids[0])  # decided apple
    rect = next(rect for rect, i, j in view.confusion._cells if (i, j) == (r, c))
    opened = []
    ctx.screen_requested.connect(opened.append)
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=QPointF(rect.center()).toPoint())
    assert ctx.selection == [p.ids[1]] and ctx.current_image == p.ids[1] and opened == ["review"]
