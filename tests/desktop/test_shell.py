"""The shell's plumbing: workers deliver in the GUI thread, errors are readable, screens load."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread

from tests.pg_fixtures import sqlite_only
from workflows.errors import UserError
from workflows.progress import Progress, check


def _counting(n: int, delay_s: float = 0.0):
    def factory(cancel):
        for i in range(n):
            check(cancel)
            if delay_s:
                time.sleep(delay_s)
            yield Progress(i + 1, n, "counting")
        return n * 10

    return factory


def test_worker_runs_off_gui_thread_and_delivers_on_it(qtbot):
    from desktop.workers import GeneratorWorker

    gui = QThread.currentThread()
    seen_threads: list[str] = []
    delivered_on: list[bool] = []

    def factory(cancel):
        seen_threads.append(threading.current_thread().name)
        yield from _counting(5, 0.01)(cancel)
        return "ok"

    w = GeneratorWorker(factory, "t", min_interval_s=0.0)
    w.progress.connect(lambda p: delivered_on.append(QThread.currentThread() is gui))
    with qtbot.waitSignal(w.finished, timeout=5000) as blocker:
        w.start()
    assert blocker.args == ["ok"]
    assert seen_threads and seen_threads[0] != threading.main_thread().name
    assert delivered_on and all(delivered_on)
    assert w.last_progress.done == 5 and w.state == "finished"


def test_worker_cancel_stops_between_batches(qtbot):
    from desktop.workers import GeneratorWorker

    w = GeneratorWorker(_counting(10_000, 0.001), "slow")
    with qtbot.waitSignal(w.cancelled, timeout=5000):
        w.start()
        qtbot.waitUntil(lambda: w.last_progress is not None, timeout=5000)
        w.cancel()
    assert w.state == "cancelled"
    assert w.last_progress.done < 10_000


def test_worker_error_is_delivered_not_raised(qtbot):
    from desktop.workers import GeneratorWorker

    def factory(cancel):
        yield Progress(0, 1)
        raise UserError("the model file is missing: demo.safetensors")

    w = GeneratorWorker(factory, "bad")
    with qtbot.waitSignal(w.errored, timeout=5000) as blocker:
        w.start()
    assert isinstance(blocker.args[0], UserError)


def test_run_task_reports_error_readably(qtbot, ctx):
    def factory(cancel):
        yield Progress(0, 1)
        raise ConnectionError("[Errno 111] Connection refused")

    with qtbot.waitSignal(ctx.error_reported, timeout=5000) as blocker:
        ctx.run_task("Propose attributes", factory)
    title, message = blocker.args
    assert title == "Propose attributes"
    assert "Connection refused" in message
    qtbot.waitUntil(lambda: not ctx.tasks, timeout=5000)


def test_describe_error_names_the_kind_of_problem():
    from desktop.context import describe_error

    summary, text, details = describe_error(ConnectionError("refused"))
    assert "Ollama" in summary and text == "refused"
    summary, text, _ = describe_error(UserError("no classes yet: add some first"))
    assert summary == "" and text == "no classes yet: add some first"
    summary, text, details = describe_error(KeyError("x"))
    assert "bug" in summary and "KeyError" in text


def test_a_screen_that_cannot_be_imported_says_why_instead_of_vanishing(monkeypatch):
    from desktop import screens

    monkeypatch.setattr(
        screens,
        "SCREENS",
        [("nope", "Nope", "desktop.does_not_exist:View"), ("shell", "Shell", "desktop.screens:BrokenScreen")],
    )
    specs = screens.load_screens()
    assert [s.key for s in specs] == ["nope", "shell"]
    assert specs[0].cls is None and "desktop.does_not_exist" in (specs[0].error or "")
    assert specs[1].cls is screens.BrokenScreen


def test_recent_projects_most_recent_first(tmp_path):
    from desktop.dialogs.recent import add_recent, recent_projects

    a, b = tmp_path / "a.lazlabel", tmp_path / "b.lazlabel"
    a.touch()
    b.touch()
    add_recent(a)
    add_recent(b)
    add_recent(a)
    assert recent_projects() == [a.resolve(), b.resolve()]
    b.unlink()
    assert recent_projects() == [a.resolve()]


# -- the main window over a real project ---------------------------------------------------------


def _window(qtbot, ctx):
    from desktop.main_window import MainWindow

    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


@sqlite_only  # a project file: its name in the title, the recent-files list
def test_window_opens_a_project_and_navigates(qtbot, ctx, grid_project):
    from desktop.dialogs.recent import recent_projects

    win = _window(qtbot, ctx)
    assert win.stack.currentWidget() is win.welcome and not win.actions.export.isEnabled()
    path = grid_project.path
    assert win.actions.open_path(path)
    assert win.windowTitle().startswith(path.stem)
    assert win.current_screen_key() == "browser"
    assert win.screens["browser"].controller.model.rowCount() == 12
    assert win.actions.export.isEnabled() and win.actions.prelabel.isEnabled()
    assert recent_projects()[0] == path.resolve()
    qtbot.waitUntil(lambda: "12 images" in win.counts.text(), timeout=3000)  # coalesced refresh
    assert "8 predicted" in win.counts.text()
    win.show_screen("insight")
    assert win.current_screen_key() == "insight"
    assert win.screens["insight"].cards["images"].value.text() == "12"
    ctx.open_image(grid_project.ids[3])
    if "review" in win.screens:
        assert win.current_screen_key() == "review"
    win.actions.close_project.trigger()
    assert win.stack.currentWidget() is win.welcome and ctx.project is None


def test_open_a_broken_project_file_is_a_message_not_a_crash(qtbot, ctx, tmp_path):
    win = _window(qtbot, ctx)
    bad = tmp_path / "junk.lazlabel"
    bad.write_bytes(b"this is not sqlite at all" * 10)
    assert not win.actions.open_path(bad)
    assert ctx.errors and ctx.errors[-1][0] == "Open project"
    assert ctx.project is None and win.stack.currentWidget() is win.welcome


def test_new_project_scans_the_folder_with_progress(qtbot, ctx, tmp_path):
    from desktop.dialogs.new_project import NewProjectDialog
    from desktop.dialogs.project_tasks import create_and_scan
    from tests.desktop.conftest import make_images

    root = tmp_path / "photos"
    root.mkdir()
    make_images(root, 7)
    (root / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    dlg = NewProjectDialog(image_root=str(root))
    qtbot.addWidget(dlg)
    assert dlg.problem_text() == ""
    assert dlg.project_path() == tmp_path / "photos.lazlabel"
    win = _window(qtbot, ctx)
    worker = create_and_scan(ctx, dlg.project_path(), dlg.image_root())
    with qtbot.waitSignal(ctx.images_changed, timeout=30000):
        pass
    assert worker.state == "finished"
    assert win.screens["browser"].controller.model.rowCount() == 8
    assert ctx.project.count_images() == 8
    dlg2 = NewProjectDialog(image_root=str(root))
    qtbot.addWidget(dlg2)
    assert "already exists" in dlg2.problem_text()
    dlg2.root_edit.setText(str(tmp_path / "nope"))
    assert "not a folder" in dlg2.problem_text()


def test_settings_dialog_round_trips_into_the_project(qtbot, ctx, grid_project):
    from desktop.dialogs.settings import SettingsDialog
    from workflows.settings import load_settings

    ctx.set_project(grid_project)
    dlg = SettingsDialog(ctx.settings)
    qtbot.addWidget(dlg)
    dlg.editors["reviewer"][0].setText("ana")
    dlg.editors["n_crops"][0].setValue(12)
    dlg.editors["method"][0].setCurrentText("dclip")
    ctx.save_settings(dlg.value())
    s = load_settings(grid_project)
    assert (s.reviewer, s.n_crops, s.method) == ("ana", 12, "dclip")
    assert ctx.reviewer == "ana"
    dlg.restore_defaults()
    assert dlg.value().n_crops == 90


def test_excepthook_shows_errors_instead_of_dying(ctx):
    import sys

    from desktop.app import install_excepthook

    old = sys.excepthook
    try:
        install_excepthook(ctx)
        try:
            raise ValueError("boom in a slot")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = old
    assert ctx.errors[-1][0] == "Unexpected error" and "boom in a slot" in ctx.errors[-1][1]


def test_status_bar_task_widget_follows_a_task(qtbot, ctx):
    from desktop.task_progress import TaskProgressBar

    bar = TaskProgressBar(ctx)
    qtbot.addWidget(bar)
    w = ctx.run_task("Counting", _counting(200, 0.005))
    qtbot.waitUntil(lambda: "/ 200" in bar.detail.text(), timeout=5000)
    assert bar.isVisibleTo(bar.parentWidget() or bar) or not bar.isHidden()
    bar.cancel_button.click()
    qtbot.waitUntil(lambda: not ctx.tasks, timeout=5000)
    assert w.state == "cancelled" and bar.isHidden()
