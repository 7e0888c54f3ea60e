"""The shell's plumbing: workers deliver in the GUI thread, errors are readable, screens load."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread

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


def test_screen_registry_skips_missing_modules(monkeypatch):
    from desktop import screens

    monkeypatch.setattr(
        screens,
        "SCREENS",
        [("nope", "Nope", "desktop.does_not_exist:View"), ("shell", "Shell", "desktop.screens:BrokenScreen")],
    )
    specs = screens.load_screens()
    assert [s.key for s in specs] == ["shell"]
    assert specs[0].cls is screens.BrokenScreen


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
