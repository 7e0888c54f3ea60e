"""The Pre-label panel: Cancel stops within one forward pass, and the scope then offers what is left
(#14 item 8). The cancel is pressed from inside the second batch, counted on the real tiny model."""

from __future__ import annotations

import pytest

from engine import pipeline
from tests.workflows.synth import add_classes, add_images, tiny_settings
from workflows.settings import save_settings

SETTINGS = tiny_settings(n_crops=9, batch_size=6)  # 6 images × 10 views: 4 passes of 16 views a batch


@pytest.fixture
def panel(qtbot, ctx, project, monkeypatch):
    from desktop.prelabel_panel import PrelabelPanel

    add_images(project, 12)
    add_classes(project)
    save_settings(project, SETTINGS)
    monkeypatch.setattr(pipeline, "ENCODE_VIEWS_PER_PASS", 16)
    ctx.set_project(project)
    w = PrelabelPanel(ctx)
    qtbot.addWidget(w)
    w.show()
    return w


def test_cancel_inside_a_batch_stops_within_a_pass_and_offers_what_is_left(qtbot, panel, monkeypatch):
    from workflows.scoring import get_model

    model = get_model(SETTINGS.model, SETTINGS.device, SETTINGS.precision)  # the instance the run uses
    real = model.encode_images
    passes = []

    def counted(x):
        passes.append(len(x))
        if len(passes) == 6:  # the second pass of the second batch: 3 images through the encoder after it
            panel.worker.cancel_token.cancel()  # what the Cancel button sets (thread-safe)
        return real(x)

    monkeypatch.setattr(model, "encode_images", counted)
    panel.set_scope("all")
    worker = panel.start()
    with qtbot.waitSignal(worker.done, timeout=60000):
        pass
    assert worker.state == "cancelled" and len(passes) == 6  # no pass started after the cancel
    project = panel.ctx.project
    run = project.latest_prediction_run()
    assert run.status == "cancelled" and run.n_done == 6  # the first batch; the second is cached, not scored
    assert "Cancelled" in panel.detail.text() and "6 image(s) still have no prediction" in panel.detail.text()
    # the scope now offers what is left, with its count, not the scope the stopped run had
    assert panel.scope() == "unpredicted" and "(6)" in panel.scope_buttons["unpredicted"].text()
