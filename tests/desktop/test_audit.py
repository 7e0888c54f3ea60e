"""Audit screen: ranked rows from the store, the explanation of the disagreement, keep/correct decisions."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.desktop.test_review import (
    CLASSES,
    LONG_CLASSES,
    LONG_REL,
    MAX_SCREEN_MIN_HEIGHT,
    MAX_SCREEN_MIN_WIDTH,
    build_world,
    explanation,
)


def write_audit(project, world) -> list[tuple[int, float, bool]]:
    """An audit run through the store's API: image 0..3 with given = class k+1, model = class k."""
    from db.store_review import LabelIssueWrite

    names, cids, ids, attrs = world["order"], world["classes"], world["ids"], world["attributes"]
    run = project.create_run(kind="audit", model_id="random:tiny", engine_config={"temperature": 1.0},
                             attribute_set_version=project.attribute_set_version(), n_images=len(ids))
    scores = [(ids[0], 0.40, False), (ids[1], 0.95, True), (ids[2], 0.10, False), (ids[3], 0.70, True)]
    rows = []
    for k, (iid, score, flagged) in enumerate(scores):
        model, given = names[k % 3], names[(k + 1) % 3]
        rows.append(LabelIssueWrite(
            image_id=iid, given_class_id=cids[given], suggested_class_id=cids[model], p_given=1 - score,
            issue_score=score, flagged=flagged,
            explanations={cids[model]: explanation(model, attrs[model], 0.3, seed=k),
                          cids[given]: explanation(given, attrs[given], 0.2, seed=50 + k)} if flagged else None,
        ))
    project.write_label_issues(run, rows)
    project.update_run(run, status="done", finished=True)
    return scores


@pytest.fixture
def audit(ctx, project, qtbot):
    import workflows.evidence  # noqa: F401 - the app warms these up at start (see test_review's fixture)
    import workflows.scoring  # noqa: F401
    from desktop.audit.view import AuditView

    world = build_world(project)
    scores = write_audit(project, world)
    ctx.set_project(project)
    view = AuditView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.activate()
    return view, world, scores


def test_rows_are_ranked_flagged_first_then_by_issue_score(audit):
    view, world, scores = audit
    shown = [it.row.image_id for it in view.model.items]
    expected = [i for i, _s, _f in sorted(scores, key=lambda t: (not t[2], -t[1]))]
    assert shown == expected
    m = view.model
    assert m.rowCount() == 4
    assert m.index(0, 4).data() == f"{1 - 0.95:.3f}" and m.index(0, 5).data() == "0.950"
    assert m.index(0, 2).data() == world["order"][2] and m.index(0, 3).data() == world["order"][1]
    assert view.summary.text() == "2 flagged of 4 audited"
    view.flagged.setChecked(True)
    assert [it.row.flagged for it in view.model.items] == [True, True]


def loaded(view) -> bool:
    return view.evidence.found is not None


def test_selected_row_shows_both_classes_evidence_with_the_review_widgets(audit, qtbot):
    """Issue #12: the audit explains a flagged label with Review's evidence widgets: the model's
    class and the given class side by side, and why the model's class and not the given one."""
    from desktop.widgets.contrast import ContrastPanel
    from desktop.widgets.evidence_list import EvidenceList
    from desktop.widgets.evidence_overlay import EvidenceOverlay, shown_attributes

    view, world, _ = audit
    top = view.model.items[0].row
    assert top.flagged and top.suggested_class_id != top.given_class_id
    assert view.controller.current.row.image_id == top.image_id  # the first row is selected
    panel = view.evidence
    assert isinstance(panel.suggested, EvidenceList) and isinstance(panel.given, EvidenceList)
    assert isinstance(panel.compare, ContrastPanel) and isinstance(view.overlay, EvidenceOverlay)
    qtbot.waitUntil(lambda: loaded(view), timeout=10000)
    sug, giv = panel.suggested.evidence, panel.given.evidence
    assert sug.class_name == top.suggested_label and giv.class_name == top.given_label
    assert sorted(panel.suggested.row_texts()) == sorted(CLASSES[top.suggested_label])
    assert sorted(panel.given.row_texts()) == sorted(CLASSES[top.given_label])
    # the contrast is the model's class against the given one
    c = panel.compare.contrast
    assert (c.a.class_name, c.b.class_name) == (top.suggested_label, top.given_label)
    assert f"<b>{top.suggested_label}</b>" in panel.compare.summary.text()
    assert f"and not <b>{top.given_label}</b>" in panel.compare.summary.text()
    # the image shows the model's class: a contour and a peak per present attribute (maps)
    assert view.overlay.evidence is sug
    assert len(view.overlay.overlay_items()) == 2 * len(shown_attributes(sug))
    # an attribute of the given class clicked: that class is drawn, the attribute alone
    row = panel.given.rows[0]
    qtbot.mouseClick(row, Qt.MouseButton.LeftButton)
    assert view.overlay.evidence is giv and view.overlay.attribute is row.attr
    assert len(view.overlay.overlay_items()) == 2 and panel.drawn.currentData() == "given"
    assert panel.given.selected is row.attr and panel.suggested.selected is None
    # ...and one of the contrast: drawn alone in its own class's colours
    crow = panel.compare.rows[0]
    qtbot.mouseClick(crow, Qt.MouseButton.LeftButton)
    assert view.overlay.attribute is crow.attr and panel.given.selected is None
    qtbot.waitUntil(lambda: view.model.thumbs.pending() == 0 and view.model.index(0, 0).data(1) is not None,
                    timeout=10000)


def test_evidence_is_loaded_off_the_gui_thread(audit, qtbot):
    """Selecting a row never computes evidence on the GUI thread: the lists say it is loading and
    fill when the background loader answers; an answer for a row left behind is dropped."""
    view, _world, _ = audit
    qtbot.waitUntil(lambda: loaded(view), timeout=10000)
    view.controller.loader.clear()  # nothing cached: the next rows must be computed
    second, first = view.model.items[1].row, view.model.items[0].row
    view.table.selectRow(1)
    assert view.evidence.found is None
    assert view.evidence.suggested.evidence is None and "loading" in view.evidence.suggested.title.text()
    view.table.selectRow(0)  # moved on before the answer came
    qtbot.waitUntil(lambda: loaded(view), timeout=10000)
    assert view.evidence.suggested.evidence.class_name == first.suggested_label
    assert view.controller.current.row.image_id == first.image_id != second.image_id


def test_keep_given_and_use_model_are_recorded_decisions(audit, project, ctx):
    view, world, _ = audit
    first, second = view.model.items[0].row, view.model.items[1].row
    view.keep.click()
    img = project.image(first.image_id)
    assert img.label_class_id == first.given_class_id and img.review_status in ("corrected", "accepted")
    hist = project.decision_history(first.image_id)
    assert hist[-1].note == "audit: kept the given label"
    assert view.model.items[0].review_status != "unreviewed"
    assert view.controller.current.row.image_id == second.image_id  # moved on to the next open row
    view.use.click()
    img = project.image(second.image_id)
    assert img.label_class_id == second.suggested_class_id
    assert ctx.errors == []


def test_no_audit_yet_says_what_to_do(ctx, project, qtbot):
    from desktop.audit.view import AuditView

    ctx.set_project(project)
    view = AuditView(ctx)
    qtbot.addWidget(view)
    view.activate()
    assert view.model.rowCount() == 0 and "run the audit" in view.notice.text()
    assert not view.keep.isEnabled()


_NO_TORCH_ON_OPEN = r"""
import sys
import threading

class _WhoImportsTorch:
    # records the thread that imports torch first (evidence is loaded, torch included, off the GUI thread)
    threads = []

    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            self.threads.append(threading.current_thread() is threading.main_thread())
        return None

sys.meta_path.insert(0, _WhoImportsTorch())
from PySide6.QtWidgets import QApplication

app = QApplication([])
from desktop.attributes.view import AttributesView
from desktop.audit.view import AuditView
from desktop.context import AppContext
from desktop.review.view import ReviewView

ctx = AppContext(interactive=False)
views = [AuditView(ctx), ReviewView(ctx), AttributesView(ctx)]
ctx.open_project(sys.argv[1])
for v in views:
    v.show()
    v.activate()
app.processEvents()
assert ctx.errors == [], ctx.errors
assert views[0].model.rowCount() == 4, views[0].model.rowCount()
print("TORCH" if any(_WhoImportsTorch.threads) else "NO-TORCH")
ctx.cancel_all()
ctx.project.close()
"""


def test_opening_a_project_does_not_import_torch_on_the_gui_thread(project, tmp_path):
    """Loading the stored audit report is one SQL query: showing the audit (and review,
    attributes) screens for a freshly opened project must not pay seconds for importing torch on
    the GUI thread (the review's evidence loader may import it in its own thread)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    world = build_world(project)
    write_audit(project, world)
    project.close()
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAZLABEL_SETTINGS=str(tmp_path / "s.ini"),
               PYTHONPATH=str(repo))
    out = subprocess.run([sys.executable, "-c", _NO_TORCH_ON_OPEN, project.location], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == "NO-TORCH", out.stdout


def test_audit_screen_fits_a_small_window_with_long_names(ctx, project, qtbot):
    """Long paths and class names elide or wrap; they never force the window wider."""
    from desktop.audit.view import AuditView
    from workflows.progress import Progress

    write_audit(project, build_world(project, classes=LONG_CLASSES, rel=LONG_REL))
    ctx.set_project(project)
    view = AuditView(ctx)
    qtbot.addWidget(view)
    view.resize(1080, 760)
    view.show()
    view.activate()
    assert view.controller.current is not None
    qtbot.waitUntil(lambda: loaded(view), timeout=10000)
    assert len(view.evidence.suggested.rows) == 2 and len(view.evidence.given.rows) == 2
    view.strip.show()  # while the audit runs, its progress message is shown inline
    view.strip._progress(Progress(0, 0, "scoring labelled images against every active class from the feature "
                                  "cache of the project (this message is long on purpose)", stage="score"))
    QApplication.processEvents()  # pending layout requests: the hints below are up to date
    hint = view.minimumSizeHint()
    assert hint.width() <= MAX_SCREEN_MIN_WIDTH and hint.height() <= MAX_SCREEN_MIN_HEIGHT, hint
