"""Team mode in the app (issue #20): open a PostgreSQL project from the welcome screen by a URL
without password, and the conflict view where a lead resolves (real widgets, a real server)."""

from __future__ import annotations

import pytest

from tests.desktop.conftest import index_images, make_images, predict
from tests.pg_fixtures import pg_admin_url, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def team_project(pg_url, tmp_path):  # noqa: F811
    """A team project on PostgreSQL: 4 images predicted cat/dog, two reviewers disagreeing on two."""
    from db import Project

    root = tmp_path / "images"
    root.mkdir()
    proj = Project.create(pg_url, root)
    ids = index_images(proj, make_images(root, 4))
    cat, dog = proj.add_class("cat"), proj.add_class("dog")
    predict(proj, ids, [cat, dog, cat, dog], [0.9, 0.8, 0.7, 0.6])
    proj.record_decisions(ids[:3], "accepted", reviewer="ana")
    proj.record_decisions([ids[0]], "corrected", class_id=dog, reviewer="bob")
    proj.record_decisions([ids[1]], "rejected", reviewer="bob")
    proj.record_decisions([ids[2]], "accepted", reviewer="bob")
    proj.close()
    return pg_url, ids, cat, dog


def _window(qtbot, ctx):
    from desktop.main_window import MainWindow

    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.resize(1100, 720)
    win.show()
    return win


def test_open_team_dialog_takes_a_url_without_password(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    from desktop.dialogs.team_open import OpenTeamDialog, add_recent_team, recent_team_projects

    add_recent_team("postgresql+psycopg://ana:pw@db.lab:5432/birds")
    assert recent_team_projects() == ["postgresql+psycopg://ana@db.lab:5432/birds"]  # never the password
    dlg = OpenTeamDialog()
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Open)
    dlg.field.setText("postgresql://ana:secret@db.lab/birds")
    assert not ok.isEnabled() and ".pgpass" in dlg.problem.text() and "db.lab:5432:birds:ana:PASSWORD" in dlg.problem.text()
    dlg.field.setText("mysql://ana@db.lab/birds")
    assert not ok.isEnabled() and "PostgreSQL" in dlg.problem.text()
    dlg.recent.setCurrentRow(0)
    assert ok.isEnabled() and dlg.url() == "postgresql+psycopg://ana@db.lab:5432/birds"


def test_welcome_opens_a_team_project_and_lists_it_as_recent(qtbot, ctx, team_project):
    url, *_ = team_project
    win = _window(qtbot, ctx)
    from PySide6.QtWidgets import QPushButton

    assert "Open team project…" in [b.text() for b in win.welcome.findChildren(QPushButton)]
    assert win.actions.open_path(url), ctx.errors
    assert ctx.project.is_team and ctx.project.location == url
    assert win.screens["browser"].controller.model.rowCount() == 4
    win.actions.close_project.trigger()
    win.welcome.refresh()
    texts = [win.welcome.recent.item(i).toolTip() for i in range(win.welcome.recent.count())]
    assert url in texts
    bad = url.rsplit("/", 1)[0] + "/no_such_project"
    assert not win.actions.open_path(bad)
    assert ctx.errors[-1][0] == "Open project" and "no project at" in ctx.errors[-1][1]


def test_conflict_view_lists_and_a_lead_resolves_keeping_both_decisions(qtbot, ctx, team_project, tmp_path):
    from desktop.dialogs.conflicts import ConflictsDialog

    url, ids, cat, dog = team_project
    ctx.open_project(url)
    import dataclasses

    ctx.save_settings(dataclasses.replace(ctx.settings, reviewer="lee"))
    dlg = ConflictsDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 2 and not dlg.busy, timeout=10000)
    assert [dlg.table.item(r, 0).text() for r in range(2)] == ["img_000.png", "img_001.png"]
    assert dlg.table.item(0, 1).text() == "ana: cat, bob: dog"
    assert dlg.table.item(1, 1).text() == "ana: dog, bob: (no class)"
    dlg.grab().save(str(tmp_path / "conflicts.png"))
    dlg.table.selectRow(0)
    dlg.choose(dog)
    dlg.resolve_button.click()
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1 and not dlg.busy, timeout=10000)
    trail = ctx.project.decision_history(ids[0])
    assert [(d.reviewer, d.class_id) for d in trail] == [("ana", cat), ("bob", dog), ("lee", dog)]
    assert ctx.project.image(ids[0]).label_class_id == dog
    dlg.table.selectRow(0)
    dlg.resolve_selected(None)  # no class
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 0 and not dlg.busy, timeout=10000)
    assert "No conflicts" in dlg.summary.text() and not dlg.resolve_button.isEnabled()
    assert ctx.project.image(ids[1]).review_status == "rejected"
