"""Compositional review and insight in the desktop app: "dot" Tab "tri" corrects to the pair, the
evidence is split by state and object, and Insight shows the pair grid."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.review.compose_input import PairResolver, parts_html
from tests.desktop.test_review import build_world, press

PAIR_CLASSES = {"dotted circle": ["small dots", "a round outline"], "dotted triangle": ["small dots", "three corners"],
                "red triangle": ["red colour", "three corners"]}


def test_pair_resolver_reads_two_fragments():
    r = PairResolver(("dotted", "red", "dark red"), ("circle", "triangle"),
                     {("dotted", "triangle"): 1, ("red", "triangle"): 2, ("dark red", "circle"): 3})
    assert r.complete_state("dot") == "dotted" and r.complete_state("re") == "red"
    assert r.resolve("dot tri") == 1 and r.resolve("DOTTED   Triangle") == 1
    assert r.resolve("dark red cir") == 3 and r.resolve("dark cir") == 3
    assert r.resolve("red circle") is None and "not an allowed pair" in r.explain("red circle")
    assert r.resolve("zz tri") is None and "no state and object match" in r.explain("zz tri")
    assert "state, Tab" in r.explain("dot")


@pytest.fixture
def pair_world(ctx, project):
    data = build_world(project, n_images=4, classes=PAIR_CLASSES)
    project.compose_classes(["dotted", "red"], ["circle", "triangle"],
                            [("dotted", "circle"), ("dotted", "triangle"), ("red", "triangle")])
    ctx.set_project(project)
    return data


def test_dot_tab_tri_enter_corrects_to_the_pair(ctx, project, pair_world, qtbot):
    from desktop.review.view import ReviewView

    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    view.activate()
    first = view.controller.current_id
    press(qtbot, view, Qt.Key.Key_Slash)
    qtbot.keyClicks(view.search, "dot")
    press(qtbot, view.search, Qt.Key.Key_Tab)
    # Tab completed the state and did not move on (offscreen, the closed completion popup takes
    # the window's focus with it, so focus itself is not asserted here)
    assert view.search.text() == "dotted " and "now type the object" in view.notice.text()
    qtbot.keyClicks(view.search, "tri")
    press(qtbot, view.search, Qt.Key.Key_Return)
    assert project.image(first).label_class_id == pair_world["classes"]["dotted triangle"]
    second = view.controller.current_id
    assert second != first
    press(qtbot, view, Qt.Key.Key_Slash)  # both fragments typed without Tab work too
    qtbot.keyClicks(view.search, "re tri")
    press(qtbot, view.search, Qt.Key.Key_Return)
    assert project.image(second).label_class_id == pair_world["classes"]["red triangle"]
    third = view.controller.current_id
    press(qtbot, view, Qt.Key.Key_Slash)
    qtbot.keyClicks(view.search, "re cir")  # red circle is not an allowed pair: nothing recorded
    press(qtbot, view.search, Qt.Key.Key_Return)
    assert project.image(third).review_status == "unreviewed"
    assert "not an allowed pair" in view.notice.text()


def test_evidence_is_split_by_state_and_object():
    from engine.evidence import AttributeEvidence, ClassEvidence, Presence

    attrs = (AttributeEvidence(0, "small dots", 0.5, 0.3, share=0.7, presence=Presence(2.0, "found")),
             AttributeEvidence(1, "three corners", 0.5, 0.2, share=0.3, presence=Presence(1.2, "weak")),
             AttributeEvidence(2, "drawn by hand", 0.5, 0.1, presence=Presence(0.1, "not found")))
    ev = ClassEvidence("dotted triangle", 1, 0.3, (64, 64), attrs)
    tags = {"small dots": ("state", "dotted"), "three corners": ("object", "triangle")}
    text = parts_html(ev, "dotted", "triangle", tags)
    state_line, object_line, own_line = text.split("<br>")
    assert "state <b>dotted</b>" in state_line and "✔ small dots 70%" in state_line
    assert "object <b>triangle</b>" in object_line and "◐ three corners 30%" in object_line
    assert "✕ drawn by hand" in own_line
    marg = ClassEvidence("dotted triangle", 1, 0.3, (64, 64), (
        AttributeEvidence(0, "state: dotted", 0.9, 0.3, share=0.6, presence=Presence(0.9, "found", False)),
        AttributeEvidence(1, "object: triangle", 0.2, 0.2, share=0.4, presence=Presence(0.2, "weak", False))))
    assert "✔ dotted 60%" in parts_html(marg, "dotted", "triangle", {}).split("<br>")[0]


def test_insight_pair_grid_counts_and_opens_a_pair(ctx, project, pair_world, qtbot):
    from desktop.insight.view import InsightView
    from workflows.review import decide

    ids = pair_world["ids"]
    decide(project, ids[:2], "corrected", class_id=pair_world["classes"]["dotted circle"], reviewer="t")
    view = InsightView(ctx)
    qtbot.addWidget(view)
    view.show()
    view.refresh()
    grid = view.pairs
    assert grid.isVisible()
    t = grid.table
    assert [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())] == ["circle", "triangle"]
    assert [t.verticalHeaderItem(r).text() for r in range(t.rowCount())] == ["dotted", "red"]
    # build_world predicts image k as class k % 3: images 0 and 1 are dotted circle / dotted triangle
    assert t.item(0, 0).text() == "1/2" and t.item(1, 0).text() == "·"
    assert t.item(0, 1).text().startswith("unseen") and t.item(0, 1).font().italic()
    assert "1 seen pairs" in grid.caption.text()
    opened = view.open_pair(pair_world["classes"]["dotted circle"], True)
    assert sorted(opened) == sorted(ids[:2]) and sorted(ctx.selection) == sorted(ids[:2])
