"""Pre-label from the panel: real tiny open_clip model, real PNGs, real SQLite; results in the store."""

from __future__ import annotations

import pytest

from tests.workflows.synth import add_classes, add_images, tiny_settings
from workflows.settings import save_settings


@pytest.fixture
def engine_ctx(ctx, project):
    ids = add_images(project, 12)
    add_classes(project)
    save_settings(project, tiny_settings())
    ctx.set_project(project)
    return ctx, project, ids


@pytest.fixture
def panel(qtbot, engine_ctx):
    from desktop.prelabel_panel import PrelabelPanel

    ctx = engine_ctx[0]
    w = PrelabelPanel(ctx)
    qtbot.addWidget(w)
    w.show()
    return w


def test_prelabel_all_from_the_panel_fills_the_store(qtbot, panel, engine_ctx):
    ctx, project, ids = engine_ctx
    assert "(12)" in panel.scope_buttons["all"].text()
    panel.set_scope("all")
    progress = []
    with qtbot.waitSignal(panel.finished, timeout=60000):
        worker = panel.start()
        worker.progress.connect(progress.append)
        assert not panel.start_button.isEnabled()
    assert project.count_images(__import__("db").ImageFilter(has_prediction=True)) == 12
    run = project.run(panel.summary.run_id)
    assert run.status == "done" and run.n_done == 12
    assert any(p.stage == "prelabel" and p.total == 12 for p in progress)
    assert "images/s" in panel.detail.text() or "pre-labelled" in panel.detail.text()
    assert panel.start_button.isEnabled() and not ctx.errors


def test_prelabel_selected_only_touches_the_selection(qtbot, panel, engine_ctx):
    ctx, project, ids = engine_ctx
    ctx.set_selection(ids[2:5])
    assert panel.scope() == "selected" and "(3)" in panel.scope_buttons["selected"].text()
    with qtbot.waitSignal(panel.finished, timeout=60000):
        panel.start()
    predicted = {r.id for r in project.images(ids) if r.pred_class_id is not None}
    assert predicted == set(ids[2:5])


def test_cancel_keeps_finished_batches_and_run_resumes(qtbot, panel, engine_ctx):
    ctx, project, ids = engine_ctx
    panel.set_scope("all")
    worker = panel.start()

    def cancel_after_first_batch(p):
        if p.stage == "prelabel" and p.done > 0:
            panel.cancel()

    worker.progress.connect(cancel_after_first_batch)
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    assert worker.state == "cancelled"
    assert "Cancelled" in panel.detail.text()
    run = project.latest_prediction_run()
    assert run.status == "cancelled" and 0 < run.n_done < 12
    assert panel.scope() == "unpredicted"  # after a cancel the panel offers what is left
    with qtbot.waitSignal(panel.finished, timeout=60000):
        panel.start()
    assert panel.summary.resumed and panel.summary.n_scored == 12 - run.n_done
    assert project.run(run.id).n_done == 12


def test_prelabel_error_reaches_the_user(qtbot, panel, engine_ctx):
    ctx, project, ids = engine_ctx
    ctx.settings = tiny_settings(model="no-such-model-anywhere:nope")
    panel.set_scope("all")
    panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    assert ctx.errors and ctx.errors[-1][0] == "Pre-label"
    assert "Traceback" not in ctx.errors[-1][1]
    assert panel.detail.text().startswith("Failed:")
