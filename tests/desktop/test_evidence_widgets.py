"""The reusable evidence widgets (desktop/widgets): list, contrast panel and overlay, on real
`engine.evidence` objects."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from engine.evidence import (
    SHARE_RULE,
    AttributeEvidence,
    AttributeMap,
    ClassEvidence,
    Presence,
    Region,
    contrast,
)

SIZE = (200, 100)  # W, H


def bump(row: int, col: int, rows: int = 5, cols: int = 10) -> AttributeMap:
    yy, xx = np.mgrid[0:rows, 0:cols]
    v = np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / 1.5).astype(np.float32)
    cw, ch = SIZE[0] / cols, SIZE[1] / rows
    return AttributeMap(v, ((col + 0.5) * cw, (row + 0.5) * ch), (col * cw, row * ch, (col + 1) * cw, (row + 1) * ch))


def attr(i: int, text: str, label: str, contribution: float, share: float, m: AttributeMap | None = None,
         regions: tuple[Region, ...] = ()) -> AttributeEvidence:
    score = {"found": 2.0, "weak": 1.0, "not found": -1.0}[label]
    return AttributeEvidence(i, text, 0.2, 0.25, 0.3, contribution, share, Presence(score, label), m, regions)


LONG = "a woodpecker with a long attribute text that goes on about the barring of its back feathers and more"


def evidence(name: str = "blorp") -> ClassEvidence:
    return ClassEvidence(name, 0, 0.31, SIZE, (
        attr(0, "a red circle", "not found", 0.3, 0.6, bump(1, 1)),  # largest share, but absent
        attr(1, LONG, "found", 0.2, 0.4, bump(3, 7)),
        attr(2, "has a striped texture", "weak", 0.0, 0.0, bump(2, 4)),
        attr(3, "a blue square", "not found", -0.1, 0.0, bump(4, 9)),
    ))


def test_list_shows_presence_in_words_full_text_and_against_apart(qtbot):
    from desktop.widgets.evidence_list import EvidenceList

    w = EvidenceList()
    qtbot.addWidget(w)
    w.resize(260, 400)
    w.show()
    ev = evidence()
    w.set_evidence(ev)
    assert SHARE_RULE in (w.caption.text(), w.caption.toolTip())
    # the main reason is never an absent attribute, even when it has the largest share
    assert "main reason" in w.title.text() and LONG in w.title.text() and "a red circle" not in w.title.text()
    rows = {r.attr.text: r for r in w.rows}
    assert [r.attr.text for r in w.rows[:2]] == ["a red circle", LONG]  # support, by share
    assert rows[LONG].text.text() == LONG and rows[LONG].text.wordWrap()  # never cut off
    for text, word in ((LONG, "found"), ("has a striped texture", "weak"), ("a blue square", "not found")):
        assert word in rows[text].marker.text()  # words, not colour alone
    assert rows["a red circle"].marker.text() != rows[LONG].marker.text()
    headings = [lab.text() for lab in w.findChildren(type(w.title)) if lab.objectName() == "muted"]
    assert any(h.startswith("Against") for h in headings)
    seen = []
    w.attribute_selected.connect(seen.append)
    qtbot.mouseClick(rows[LONG], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(rows[LONG], Qt.MouseButton.LeftButton)
    assert [a.text if a else None for a in seen] == [LONG, None]


def test_overlay_draws_a_contour_and_a_peak_per_present_attribute(qtbot):
    from desktop.widgets.evidence_overlay import EvidenceOverlay

    view = EvidenceOverlay()
    qtbot.addWidget(view)
    view.set_image(None, SIZE)
    ev = evidence()
    view.set_evidence(ev)
    # found + weak: 2 attributes x (contour + peak); the two "not found" are left out
    assert len(view.overlay_items()) == 4
    found = ev.attributes[1]
    view.show_attribute(found)
    items = view.overlay_items()
    assert len(items) == 2 and not view.heat_image().isNull()
    contour = next(i for i in items if hasattr(i, "path"))
    assert contour.path().contains(QPointF(*found.map.peak))  # the contour encloses its peak
    assert not contour.path().contains(QPointF(*ev.attributes[0].map.peak))  # and not other bumps
    view.show_attribute(None)
    view.set_mode("heatmap")
    assert not view.heat_image().isNull()
    view.set_evidence(ClassEvidence("none", 0, 0.1, SIZE, (attr(0, "x", "not found", -0.1, 0.0, bump(0, 0)),)))
    assert view.overlay_items() == [] and "none of the attributes" in view.note()


def test_overlay_without_maps_draws_the_strongest_few_boxes_not_all_regions(qtbot):
    from desktop.widgets.evidence_overlay import FALLBACK_BOXES, EvidenceOverlay

    rng = np.random.default_rng(0)
    regions = tuple(Region((float(x), float(y), float(x + 40), float(y + 40)), float(rng.uniform(0, 1)))
                    for x, y in rng.integers(0, 60, size=(90, 2)))
    ev = ClassEvidence("old", 0, 0.3, SIZE, (attr(0, "a", "found", 0.1, 1.0, None, regions),))
    view = EvidenceOverlay()
    qtbot.addWidget(view)
    view.set_image(None, SIZE)
    view.set_evidence(ev)
    from PySide6.QtWidgets import QGraphicsRectItem

    boxes = [i for i in view.overlay_items() if isinstance(i, QGraphicsRectItem)]
    assert len(boxes) == FALLBACK_BOXES  # not 90 rectangles


def test_contrast_panel_lists_what_separates_the_classes(qtbot):
    from desktop.widgets.contrast import ContrastPanel

    a = evidence("blorp")
    b = ClassEvidence("zenti", 1, 0.29, SIZE, (
        attr(0, "a green triangle", "not found", -0.1, 0.0, bump(0, 2)),
        attr(1, "has dots", "found", 0.2, 1.0, bump(2, 2)),
        attr(2, "a blue square", "weak", 0.1, 0.0, bump(4, 9)),
    ))
    c = contrast(a, b)
    panel = ContrastPanel()
    qtbot.addWidget(panel)
    panel.set_contrast(c)
    texts = panel.row_texts()
    assert "a green triangle" in texts  # B's attribute not found here
    assert "has dots" in texts  # found for B only
    assert LONG in texts  # found for A only
    assert "blorp" in panel.summary.text() and "zenti" in panel.summary.text()
    seen = []
    panel.attribute_selected.connect(seen.append)
    qtbot.mouseClick(panel.rows[0], Qt.MouseButton.LeftButton)
    assert seen and seen[0] is panel.rows[0].attr
    panel.set_contrast(None, message="no runner-up")
    assert panel.rows == [] and panel.summary.text() == "no runner-up"
