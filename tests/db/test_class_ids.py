"""Class ids are never reused after `classes delete --force`; runs and decisions keep the class
they meant, shown as deleted with its old name (issue #13 item 3)."""

from __future__ import annotations

import sqlite3

from alembic import command
from sqlalchemy import text

from cli.main import main
from db import Project
from db.connection import make_engine
from db.migrate import alembic_config
from tests.workflows.conftest import predicted, seeded  # noqa: F401  (fixtures)


def test_a_deleted_class_id_is_never_handed_out_again(predicted, capsys):  # noqa: F811
    project, cids, iids, run_id = predicted
    fox = cids[2]  # the newest class: SQLite without AUTOINCREMENT reuses max(id) + 1
    project.record_decisions([iids[2]], "accepted", reviewer="ana")  # img2 predicted fox
    assert main(["-p", project.location, "classes", "delete", "fox", "--force"]) == 0
    new = project.add_class("wolf")
    assert new != fox and new > fox

    # the run's top-k and the decision still name fox, shown as deleted
    pred = project.prediction(iids[2], run_id)
    assert pred.topk[0][:2] == (fox, "fox (deleted)")
    dec = project.decision_history(iids[2])[-1]
    assert (dec.class_id, dec.class_name) == (fox, "fox (deleted)")
    # the image's current label is gone; no export calls it wolf
    assert project.current_label(iids[2]).class_id is None
    assert project.deleted_classes() == {fox: "fox"}


def test_upgrade_starts_the_sequence_above_every_id_ever_used(tmp_path):
    path = tmp_path / "old.lazlabel"
    engine = make_engine(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('image_root', :v)"), {"v": f'"{tmp_path}"'})
        conn.execute(text("INSERT INTO label_class (id, name, sort_order, active, created_at) "
                          "VALUES (1, 'cat', 0, 1, '2026-01-01')"))
        # class 7 was deleted before the upgrade: only the edit log remembers it
        conn.execute(text("INSERT INTO attribute_edit (class_id, action, before, who, at) "
                          "VALUES (7, 'delete_class', '{\"name\": \"old\"}', '', '2026-01-01')"))
    engine.dispose()
    with Project.open(path) as proj:
        assert proj.add_class("new") == 8
        assert proj.deleted_classes() == {7: "old"}
    with sqlite3.connect(path) as conn:
        assert "AUTOINCREMENT" in conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'label_class'").fetchone()[0]
