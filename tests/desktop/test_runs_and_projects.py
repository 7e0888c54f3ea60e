"""Background runs belong to their project (issue #14 item 7) and a new project guides its first
steps (item 5): switching or quitting mid-run cancels without freezing, an interrupted pre-label is
offered for resuming, and Pre-label is disabled with the reason while it cannot run."""

from __future__ import annotations

import time

from workflows.progress import Progress, check


def _slow(cancel, n: int = 100_000):
    for i in range(n):
        check(cancel)
        time.sleep(0.005)
        yield Progress(i + 1, n, "working")
    return n


def test_opening_another_project_cancels_the_run_and_closes_the_old_one_after_it(qtbot, ctx, tmp_path):
    from db import Project
    from desktop.task_progress import TaskProgressBar

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Project.create(tmp_path / "a.lazlabel", tmp_path / "a")
    b = Project.create(tmp_path / "b.lazlabel", tmp_path / "b")
    bar = TaskProgressBar(ctx)
    qtbot.addWidget(bar)
    ctx.set_project(a)
    worker = ctx.run_task("Pre-label", _slow)
    assert worker.project is a and "(a)" in bar.title.text()  # progress says whose run it is
    qtbot.waitUntil(lambda: worker.last_progress is not None, timeout=5000)
    closed = []
    a.close = lambda _orig=a.close: (closed.append(True), _orig())  # type: ignore[method-assign]
    ctx.set_project(b)  # returns at once: no waiting on the GUI thread
    assert worker.cancel_token.cancelled and not closed  # a stays open until its run has stopped
    qtbot.waitUntil(lambda: worker.state == "cancelled" and bool(closed), timeout=10000)
    b.close()


def test_quitting_during_a_run_hides_at_once_and_closes_when_the_run_stopped(qtbot, ctx, grid_project):
    from desktop.main_window import MainWindow

    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    ctx.set_project(grid_project)
    worker = ctx.run_task("Pre-label", _slow)
    qtbot.waitUntil(lambda: worker.last_progress is not None, timeout=5000)
    t0 = time.monotonic()
    assert not win.close()  # not yet: the run records where it stopped first
    assert time.monotonic() - t0 < 1.0 and win.isHidden() and worker.cancel_token.cancelled
    qtbot.waitUntil(lambda: worker.state == "cancelled" and ctx.project is not None, timeout=10000)
    qtbot.waitUntil(lambda: not ctx.tasks, timeout=10000)


def test_an_interrupted_prelabel_is_offered_for_resuming(qtbot, ctx, grid_project):
    from db.store_runs import PredictionWrite
    from desktop.actions import AppActions
    from desktop.prelabel_panel import PrelabelPanel

    run = grid_project.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v",
                                  n_images=12)
    c = grid_project.class_ids[0]
    grid_project.write_prediction_batch(run, [PredictionWrite(i, c, 0.5, 0.1, [(c, 0.5)]) for i in grid_project.ids[:5]])
    grid_project.update_run(run, status="cancelled")
    ctx.set_project(grid_project)
    assert ctx.interrupted_run().id == run
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    actions = AppActions(ctx, host)
    seen = []
    ctx.status_message.connect(lambda text, _ms: seen.append(text))
    actions.offer_resume()
    assert seen and "after 5 of 12 images" in seen[-1] and "Resume" in seen[-1]
    panel = PrelabelPanel(ctx)
    qtbot.addWidget(panel)
    assert f"Run #{run} stopped after 5 of 12" in panel.detail.text()


def test_prelabel_is_disabled_with_the_reason_when_there_are_no_classes(qtbot, ctx, project):
    from desktop.browser.view import BrowserView
    from desktop.prelabel_panel import PrelabelPanel
    from tests.desktop.conftest import index_images, make_images

    index_images(project, make_images(project.image_root, 3))
    view = BrowserView(ctx)
    qtbot.addWidget(view)
    ctx.set_project(project)
    assert not view.prelabel_button.isEnabled() and "No classes yet" in view.prelabel_button.toolTip()
    panel = PrelabelPanel(ctx)
    qtbot.addWidget(panel)
    assert not panel.start_button.isEnabled() and "No classes yet" in panel.detail.text()
    assert panel.start() is None and ctx.errors == []  # no failing run, no traceback
    project.add_class("zorbit")
    ctx.classes_changed.emit()
    panel.refresh()
    assert view.prelabel_button.isEnabled() and panel.start_button.isEnabled()


def test_pasted_lists_become_several_classes_and_subfolders_are_offered(qtbot, ctx, project):
    from PySide6.QtCore import Qt

    from desktop.dialogs.add_classes import AddClassesDialog, add_classes, parse_class_list, subfolder_classes
    from desktop.dialogs.project_tasks import guide_first_steps
    from tests.desktop.conftest import make_images

    assert parse_class_list("zorbit, quillan\n Kappimon;zorbit\n\n") == ["zorbit", "quillan", "Kappimon"]
    for name, n in (("tabby", 2), ("siamese", 1)):
        (project.image_root / name).mkdir()
        make_images(project.image_root / name, n)
    (project.image_root / "empty").mkdir()
    assert subfolder_classes(project.image_root) == [("siamese", 1), ("tabby", 2)]
    ctx.set_project(project)
    asked = []
    ctx.screen_requested.connect(asked.append)
    guide_first_steps(ctx)  # no classes yet: the Classes screen is asked for, with a hint
    assert asked == ["attributes"]
    dlg = AddClassesDialog([], project.image_root, tick_folders=True)
    qtbot.addWidget(dlg)
    dlg.set_text("zorbit, quillan")
    assert dlg.names() == ["zorbit", "quillan", "siamese", "tabby"]
    dlg.folders.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert dlg.names() == ["zorbit", "quillan", "tabby"]
    add_classes(ctx, dlg.names())
    assert [c.name for c in project.list_classes()] == ["zorbit", "quillan", "tabby"]
    again = AddClassesDialog([c.name for c in project.list_classes()], project.image_root)
    qtbot.addWidget(again)
    again.set_text("Zorbit, pim")
    assert again.names() == ["pim"]  # existing names (any case) are not added twice
