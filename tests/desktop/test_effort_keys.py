"""Work accounting in Review: the keys and clicks behind each decision are stored with it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.desktop.test_review import press, review, world  # noqa: F401 - fixtures


def _events(project):
    from sqlalchemy import select

    from db.models import EffortEvent

    with project.session() as s:
        return [(e.source, e.action, e.keys, e.clicks, e.n_images) for e in s.scalars(select(EffortEvent).order_by(EffortEvent.id))]


def test_each_decision_stores_the_keys_and_clicks_it_took(review, world, project, qtbot):  # noqa: F811
    c = review.controller
    press(qtbot, review, Qt.Key.Key_A)  # accept: one key
    press(qtbot, review, Qt.Key.Key_J)  # a move is work too: counted with the next decision
    press(qtbot, review, Qt.Key.Key_2)
    target = c.current_id
    top = [t[0] for t in project.latest_prediction(target).topk[:2]]
    name = next(n for n in world["order"] if world["classes"][n] not in top)
    press(qtbot, review, Qt.Key.Key_Slash)  # correct by typing: / + 3 letters + Enter
    qtbot.keyClicks(review.search, name[:3])
    press(qtbot, review.search, Qt.Key.Key_Return)
    qtbot.mouseClick(review.buttons["reject"], Qt.MouseButton.LeftButton)  # one click
    press(qtbot, review, Qt.Key.Key_Shift)  # a modifier alone is no key
    assert _events(project) == [
        ("gui", "accepted", 1, 0, 1),
        ("gui", "corrected", 2, 0, 1),
        ("gui", "corrected", 5, 0, 1),
        ("gui", "rejected", 0, 1, 1),
    ]
    from workflows.effort import effort_summary

    e = effort_summary(project)
    assert (e.keys, e.clicks) == (8, 1) and e.per_label == 9 / e.labelled
