"""Audit screen: ranked rows from the store, the explanation of the disagreement, keep/correct decisions."""

from __future__ import annotations

import pytest
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


def test_selected_row_explains_the_disagreement(audit, qtbot):
    view, world, _ = audit
    top = view.model.items[0].row
    assert view.controller.current.row.image_id == top.image_id  # the first row is selected
    ev = view.overlay.evidence
    assert ev is not None and ev.class_name == top.suggested_label
    assert len(view.overlay.visible_region_items()) == 2 * len(CLASSES[top.suggested_label])
    assert view.compare.right_title.text().startswith(f"<b>{top.given_label}</b>")
    view.legend.click_position(1)
    assert {r.data(0) for r in view.overlay.visible_region_items()} == {1}
    qtbot.waitUntil(lambda: view.model.thumbs.pending() == 0 and view.model.index(0, 0).data(1) is not None,
                    timeout=10000)


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
    out = subprocess.run([sys.executable, "-c", _NO_TORCH_ON_OPEN, str(project.path)], cwd=repo, env=env,
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
    assert view.controller.current is not None and view.compare.left.topLevelItemCount() == 2
    view.strip.show()  # while the audit runs, its progress message is shown inline
    view.strip._progress(Progress(0, 0, "scoring labelled images against every active class from the feature "
                                  "cache of the project (this message is long on purpose)", stage="score"))
    QApplication.processEvents()  # pending layout requests: the hints below are up to date
    hint = view.minimumSizeHint()
    assert hint.width() <= MAX_SCREEN_MIN_WIDTH and hint.height() <= MAX_SCREEN_MIN_HEIGHT, hint
