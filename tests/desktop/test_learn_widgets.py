"""Learned weights in the evidence, the "Why not…" and Insight entries to the refine dialog, on real
widgets and real `engine.evidence` objects (issue #17 item 7)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt

from engine.evidence import ClassEvidence, contrast
from tests.desktop.test_evidence_widgets import SIZE, attr, bump, evidence


def test_learned_weights_show_beside_the_share(qtbot):
    from desktop.widgets.evidence_list import EvidenceList

    zero = evidence()
    w = EvidenceList()
    qtbot.addWidget(w)
    w.set_evidence(zero)
    assert all(r.weight is None for r in w.rows) and "learned weights" not in w.title.text()
    learned = zero.weighted({1: 1.4, 2: -0.5}) if hasattr(zero, "weighted") else replace(
        zero, attributes=tuple(replace(a, weight={1: 1.4, 2: -0.5}.get(a.index, 1.0)) for a in zero.attributes))
    w.set_evidence(learned)
    assert "learned weights" in w.title.text()
    by_index = {r.attr.index: r for r in w.rows}
    assert by_index[1].weight.text() == "×1.40" and "#1a73e8" in by_index[1].weight.styleSheet()
    assert by_index[2].weight.text() == "×-0.50" and "#d93025" in by_index[2].weight.styleSheet()  # counts against
    assert "learned weight 1.40" in by_index[1].toolTip()


def test_why_not_offers_the_llm_for_the_two_classes(qtbot):
    from desktop.widgets.contrast import ContrastPanel

    a = replace(evidence("blorp"), class_id=11)
    b = ClassEvidence("zenti", 1, 0.29, SIZE, (attr(0, "has dots", "found", 0.2, 1.0, bump(2, 2)),), class_id=12)
    panel = ContrastPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_contrast(contrast(a, b))
    assert panel.refine_button.isVisible()
    with qtbot.waitSignal(panel.refine_requested, timeout=1000) as sig:
        qtbot.mouseClick(panel.refine_button, Qt.MouseButton.LeftButton)
    assert sig.args == [11, 12]
    panel.set_contrast(contrast(evidence("blorp"), b))  # no class id for A (an old explanation): no button
    assert not panel.refine_button.isVisible()


def test_insight_cell_menu_offers_the_llm_only_for_two_classes(qtbot, ctx, grid_project):
    from desktop.insight.view import InsightView

    ctx.set_project(grid_project)
    view = InsightView(ctx)
    qtbot.addWidget(view)
    a, b, _c = grid_project.class_ids
    texts = [t for t, _f in view.cell_actions(a, b)]
    assert texts == ["Review these images", "Ask the LLM what tells apple from banana…"]
    assert [t for t, _f in view.cell_actions(a, a)] == ["Review these images"]  # agreement cell
    assert [t for t, _f in view.cell_actions(None, b)] == ["Review these images"]
