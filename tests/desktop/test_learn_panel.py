"""The Learn panel (issue #17 item 7) on a real planted, pre-labelled project: decisions per class,
Preview ("N labels would change", which images, clickable), Apply in a worker (signals in order),
the history with "Use this run" and "Back to zero-shot" (the undo), and learned weights in the
attribute editor. Real SQLite, real feature cache, real learning code; no mocks."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from tests.learn.conftest import decide_per_class
from tests.workflows.synth import planted_project
from workflows.prelabel import run_prelabel
from workflows.progress import drive


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    from db import Project

    d = tmp_path_factory.mktemp("learn-gui")
    (d / "images").mkdir()
    project = Project.create(d / "w.lazlabel", d / "images")
    w = planted_project(project, n=72, n_classes=4, noise=2.5, flip=0.0, seed=3)
    drive(run_prelabel(project))
    project.close()
    return d, w


@pytest.fixture
def learn_ctx(ctx, _template, tmp_path):
    from db import Project

    src, w = _template
    shutil.copytree(src, tmp_path / "w")
    project = Project.open(tmp_path / "w" / "w.lazlabel")
    ctx.set_project(project)
    return ctx, project, w


@pytest.fixture
def panel(qtbot, learn_ctx):
    from desktop.learn.view import LearnPanel

    w = LearnPanel(learn_ctx[0])
    qtbot.addWidget(w)
    w.resize(860, 600)
    w.show()
    return w


def _run(qtbot, worker):
    """Wait for a worker's end, checking the order its signals arrive in."""
    with qtbot.waitSignals([worker.finished, worker.done], order="strict", timeout=60000):
        pass


def test_without_decisions_the_panel_says_why_and_offers_nothing(panel):
    m = panel.controller.model
    assert m.n_decisions == 0 and panel.decisions.topLevelItemCount() == 4
    assert not panel.preview_button.isEnabled() and not panel.apply_button.isEnabled()
    assert "No decisions yet" in panel.headline.text()
    assert panel.preview_button.toolTip().startswith("No decisions yet")
    labels = [panel.method.itemText(i) for i in range(panel.method.count())]
    assert labels[0] == "attributes" and "adapter  (less explainable)" in labels
    msci = panel.method.findData("msci")
    assert msci >= 0 and not panel.method.model().item(msci).isEnabled()  # not a compositional project
    assert "compositional" in panel.method.itemData(msci, 3)  # ToolTipRole: the reason


def test_preview_lists_the_changes_and_a_click_opens_the_image(qtbot, panel, learn_ctx):
    ctx, project, w = learn_ctx
    decided = decide_per_class(project, w, 4)
    ctx.labels_changed.emit(decided)  # what Review sends after decisions
    m = panel.controller.model
    assert m.n_decisions == len(decided) and m.classes_with_decisions == 4
    assert panel.decisions_title.text().count(f"{len(decided)}") == 1
    zero = project.current_top1()
    runs = len(project.runs())
    worker = panel.controller.preview()
    assert worker is not None and not panel.preview_button.isEnabled() and panel.cancel_button.isEnabled()
    _run(qtbot, worker)
    prev = m.preview
    assert prev is not None and prev.applied_run is None and prev.n_decisions == len(decided)
    assert project.current_top1() == zero and len(project.runs()) == runs  # a preview writes nothing
    assert panel.headline.text().startswith(f"{prev.n_changed:,} label(s) would change")
    assert panel.changes.topLevelItemCount() == prev.n_changed == len(panel.controller.result.changes)
    assert "held-out accuracy" in panel.accuracy.text()
    if prev.n_changed:
        item = panel.changes.topLevelItem(0)
        rect = panel.changes.visualItemRect(item)
        with qtbot.waitSignal(ctx.screen_requested, timeout=2000) as screen:
            qtbot.mouseClick(panel.changes.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert screen.args == ["review"]
        assert ctx.selection == [c.image_id for c in prev.changes]
        first = prev.changes[0]
        assert (item.text(0), item.text(1), item.text(2)) == (first.path, first.from_name, f"→ {first.to_name}")
    assert panel.preview_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_apply_then_undo_from_the_history(qtbot, panel, learn_ctx):
    ctx, project, w = learn_ctx
    decide_per_class(project, w, 4)
    panel.controller.refresh()
    zero = project.current_top1()
    with qtbot.waitSignal(ctx.labels_changed, timeout=60000):
        _run(qtbot, panel.controller.apply())
    m = panel.controller.model
    run_id = m.preview.applied_run
    assert run_id is not None and m.active_run == run_id
    assert panel.history.topLevelItemCount() == 1 and panel.history.topLevelItem(0).text(6) == "in use"
    assert f"run #{run_id}" in panel.history_title.text()
    learned = project.current_top1()
    assert {i for i in learned if learned[i] != zero[i]} == {c.image_id for c in m.preview.changes}
    # undo: back to zero-shot, then use the run again
    assert panel.zero_button.isEnabled()
    panel.zero_button.click()
    assert m.active_run is None and project.current_top1() == zero
    assert "zero-shot" in panel.history_title.text() and not panel.zero_button.isEnabled()
    assert m.preview is None and panel.changes.topLevelItemCount() == 0  # "N changed" was about that run
    panel.history.setCurrentItem(panel.history.topLevelItem(0))
    assert panel.use_button.isEnabled()
    panel.use_button.click()
    assert m.active_run == run_id and project.current_top1() == learned
    assert not ctx.errors


def test_cancel_stops_the_learning_and_writes_nothing(qtbot, panel, learn_ctx):
    ctx, project, w = learn_ctx
    decide_per_class(project, w, 4)
    panel.controller.refresh()
    runs = len(project.runs())
    worker = panel.controller.apply()
    panel.cancel_button.click()  # the token is set before the use case checks it
    with qtbot.waitSignals([worker.cancelled, worker.done], order="strict", timeout=60000):
        pass
    assert len(project.runs()) == runs and panel.controller.model.busy == ""
    assert panel.apply_button.isEnabled() and "cancelled" in panel.notice.text()


def test_unhelpful_attributes_get_a_one_click_disable_in_the_editor(qtbot, learn_ctx):
    from desktop.attributes.view import AttributesView
    from workflows.learning import attribute_weights, learn, unhelpful_attributes

    ctx, project, w = learn_ctx
    decide_per_class(project, w, 6)
    drive(learn(project))
    weights = {aid: wt for ws in attribute_weights(project).values() for aid, wt in ws.items()}
    bad = {u.attribute_id: u.weight for u in unhelpful_attributes(project, below=max(weights.values()))}
    view = AttributesView(ctx)
    qtbot.addWidget(view)
    view.show()
    tree = view.tree
    assert tree.weights == weights and not tree.isColumnHidden(3)
    # mark every learned attribute as not earning its place (the real threshold may mark none here)
    target = min(bad, key=bad.get)
    cid = next(c for c, ws in attribute_weights(project).items() if target in ws)
    view.controller.unhelpful = bad
    tree.set_weights(weights, bad)
    view.controller.select_class(cid)
    button = tree.disable_buttons[target]
    assert button.text().startswith(f"×{bad[target]:.2f}") and "Disable" in button.text()
    assert "do not earn their place" in view.title.text()
    button.click()
    assert not next(a for a in project.list_attributes(cid) if a.id == target).active
    # the edit previews the re-score of the effect by itself
    assert view.rescore.state in ("stale", "previewing", "preview")
