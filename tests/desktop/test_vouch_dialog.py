"""Bulk accept with a guarantee: the dialog's steps with real widgets on a real project."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from tests.vouch import world

SEED = 0


@pytest.fixture
def vw(ctx, project):
    w = world.build(project, 600)
    ctx.set_project(project)
    return project, w


def test_sample_propose_override_preview_and_accept(vw, ctx, qtbot):
    from desktop.dialogs.vouch import VouchDialog

    project, w = vw
    dlg = VouchDialog(ctx)
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert "No audit sample yet" in dlg.sample_label.text() and not dlg.propose_button.isEnabled()
    dlg.size.setValue(200)
    dlg.model.seed = SEED  # a fixed draw: a fresh one can, rarely, vouch for nothing at 90%
    qtbot.mouseClick(dlg.draw_button, Qt.MouseButton.LeftButton)
    sample = dlg.model.sample
    assert sample is not None and sample.seed == SEED and len(sample.pending) == 200 and dlg.review_button.isEnabled()
    assert "0 of 200 audited" in dlg.sample_label.text() and not dlg.propose_button.isEnabled()
    world.curate(project, sample.image_ids, w["truth"])
    dlg.refresh()
    assert dlg.propose_button.isEnabled()
    dlg.target.setValue(0.9)
    qtbot.mouseClick(dlg.propose_button, Qt.MouseButton.LeftButton)
    p = dlg.model.proposal
    assert p is not None and p.n_accept > 0 and "guaranteed" in dlg.summary.text()
    assert dlg.table.rowCount() == 3 and ok.isEnabled() and ok.text() == f"Accept {p.n_accept:,} prediction(s)"
    assert dlg.preview.count() == min(p.n_accept, 200)
    scores = [float(dlg.preview.item(i).text().split()[0]) for i in range(dlg.preview.count())]
    assert scores == sorted(scores)  # least confident first
    # an override through the table: recorded as such, with its own bound
    item = dlg.table.item(0, 1)
    cid = item.data(Qt.ItemDataRole.UserRole)
    item.setText("0.99")
    qtbot.waitUntil(lambda: "✎" in dlg.table.item(0, 1).text())
    assert dlg.model.proposal.overridden and "not a guarantee" in dlg.summary.text()
    dlg.table.item(0, 1).setText("abc")
    qtbot.waitUntil(lambda: "not a threshold" in dlg.summary.text())
    dlg.set_override(cid, p.thresholds[cid])
    assert not dlg.model.proposal.overridden
    n = dlg.model.proposal.n_accept
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    (v,) = project.vouches()
    assert v["n_accepted"] == n and not v["overridden"] and dlg.result_text == v["statement"]
    e = project.effort_totals().by_source["bulk"]
    assert e["images"] == n and e["clicks"] >= 3  # draw, propose, accept at least


def test_review_serves_the_audit_sample_in_draw_order(vw, ctx, qtbot):
    from desktop.review.view import ReviewView
    from workflows import vouch

    project, w = vw
    s = vouch.draw_audit_sample(project, 20, seed=4)
    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.order.setCurrentIndex(view.order.findData("audit_sample"))
    assert view.controller.queue == s.image_ids and view.controller.current_id == s.image_ids[0]
    assert view.vouch_button.text() == "Guarantee…"


def test_browse_opens_the_dialog(vw, ctx, qtbot):
    from desktop.browser.view import BrowserView
    from desktop.dialogs.vouch import VouchDialog

    view = BrowserView(ctx)
    qtbot.addWidget(view)
    qtbot.mouseClick(view.vouch_button, Qt.MouseButton.LeftButton)
    dialogs = view.findChildren(VouchDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    dialogs[0].close()
