"""Screen models without Qt (napari's test_dims.py style): state changes and the events they send."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from desktop.models.attributes import AttributeEditorModel
from desktop.models.browser import BrowserQuery, Query
from desktop.models.review import ReviewModel


def _record(emitter) -> list:
    seen: list = []
    emitter.connect(lambda e: seen.append(e.value))
    return seen


def test_models_do_not_import_qt():
    code = ("import sys, desktop.models.review, desktop.models.browser, desktop.models.attributes, "
            "desktop.models.events; sys.exit(int(any(m.startswith('PySide6') for m in sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_review_queue_navigation_and_events():
    m = ReviewModel()
    queue, current = _record(m.events.queue), _record(m.events.current)
    assert m.set_queue([5, 6, 7]) == 5
    assert (m.current, m.pos, m.has_previous, m.next_id()) == (5, 0, False, 6)
    m.go_to(m.next_id())
    assert m.current == 6 and current == [5, 6] and queue[-1] == (1, 3)
    m.go_to(42)  # not queued: inserted right after the current place
    assert m.queue == [5, 6, 42, 7] and m.pos == 2
    assert m.position_text() == "3 / 4 in queue"


def test_review_queue_keeps_the_current_image_first_and_selection_excludes_it():
    m = ReviewModel()
    assert m.set_queue([1, 2], keep=9) == 9 and m.queue == [9, 1, 2]
    assert m.set_queue([1, 2], source="selection", keep=None) == 1
    m.follow_selection([3, 1], current=1)
    assert (m.source, m.pos) == ("selection", 1)
    assert m.set_queue([]) is None and m.current is None and m.position_text() == "queue empty"
    with pytest.raises(ValueError):
        m.set_queue([1], source="elsewhere")


def test_review_undo_stack_goes_back_newest_first():
    m = ReviewModel()
    m.set_queue([1, 2, 3])
    sizes = _record(m.events.decided)
    m.record_decided([1])
    m.record_decided([2, 3])
    assert m.undo_target() == 3
    m.undone(3)
    assert m.undo_target() == 2
    m.undone(99)  # undo of another image leaves the stack alone
    assert m.decided == [1, 2] and sizes == [1, 3, 2]


def test_review_shown_and_compared_class():
    m = ReviewModel()
    shown = _record(m.events.shown)
    m.show(4, 7)
    m.show_class(5)
    m.compare_with(None)
    assert (m.shown_class, m.compare_class) == (5, None)
    assert shown == [(4, 7), (5, 7), (5, None)]


def test_browser_query_changes_emit_once_and_build_the_filter():
    q = BrowserQuery()
    seen = _record(q.events.changed)
    assert q.update(status="to_review", sort="confidence_desc")
    assert not q.update(status="to_review")  # no change, no event
    assert len(seen) == 1 and seen[0] == Query(status="to_review", sort="confidence_desc")
    f = q.query.to_filter()
    assert f.review_status == "unreviewed"
    with pytest.raises(ValueError):
        q.update(status="nonsense")
    q.reset()
    assert q.query == Query() and len(seen) == 2


@dataclass
class Row:
    id: int
    name: str = ""


def test_attribute_editor_current_class_selection_and_staleness():
    m = AttributeEditorModel()
    current, selection = _record(m.events.current), _record(m.events.selection)
    m.set_classes([Row(1), Row(2)])
    assert m.current == 1 and current == [1]
    m.set_attributes([Row(10), Row(11), Row(12)])
    m.select([11, 12, 11, 99])  # unknown ids are dropped, order kept, no duplicates
    assert m.selected == [11, 12] and selection == [[11, 12]]
    m.set_attributes([Row(10), Row(12)])  # 11 deleted: it leaves the selection
    assert m.selected == [12]
    m.set_current(2)
    assert m.selected == [] and current == [1, 2]
    m.set_version("v2", "v1")
    assert m.stale
    m.set_version("v2", None)
    assert not m.stale  # never run: nothing on screen to be stale
