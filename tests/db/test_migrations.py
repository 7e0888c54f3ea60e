"""Alembic migrations: upgrade keeps data, head matches models.py, newer/foreign files are refused."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from sqlalchemy import text

from db import Project, ProjectError
from db.engine_setup import make_engine
from db.location import is_url, parse_url
from db.migrate import (
    FIRST_REVISION,
    alembic_config,
    current_revision,
    diff_against_models,
    head_revision,
    script_directory,
)

BIG_MTIME = 1_763_000_000_123_456_789  # ns, needs 64 bits
BIG_SIZE = 6_000_000_000  # a 6 GB file


def _empty_store(location):
    """An engine on an empty store: a new SQLite file, or a new PostgreSQL database."""
    if is_url(location):
        from db.server import _create_database

        _create_database(parse_url(location))
    return make_engine(location)


def _make_at_first_revision(path):
    engine = _empty_store(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), FIRST_REVISION)
    return engine


def test_single_head_and_chain_starts_at_0001():
    script = script_directory()
    assert len(script.get_heads()) == 1
    revs = list(script.walk_revisions())
    assert revs[-1].revision == FIRST_REVISION and revs[-1].down_revision is None


def test_upgrade_from_first_revision_keeps_everything(tmp_path, store_location):
    """The whole chain runs on both back-ends and keeps every row (64-bit sizes, raw bytes)."""
    path = store_location
    engine = _make_at_first_revision(path)
    assert current_revision(engine) == FIRST_REVISION
    # revision 0001 had 32-bit sizes: PostgreSQL (unlike SQLite) holds no larger value until 0002
    size, mtime = (BIG_SIZE, BIG_MTIME) if engine.dialect.name == "sqlite" else (6_000, 1_763_000)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('image_root', :v)"), {"v": f'"{tmp_path}"'})
        conn.execute(text("INSERT INTO label_class (id, name, sort_order, active, created_at) "
                          "VALUES (1, 'cat', 0, :t, '2026-01-01 00:00:00')"), {"t": True})
        conn.execute(
            text(
                "INSERT INTO image (id, rel_path, raw_path, size, mtime_ns, width, height, status, added_at, "
                "updated_at, review_status, label_class_id, pred_class_id, pred_score) VALUES "
                "(7, 'a/b.jpg', :raw, :size, :mtime, 640, 480, 'ok', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 'accepted', 1, 1, 0.9)"
            ),
            {"raw": b"a/b\xff.jpg", "size": size, "mtime": mtime},
        )
        conn.execute(text("INSERT INTO decision (id, image_id, class_id, action, result_status, reviewer, at) "
                          "VALUES (3, 7, 1, 'accepted', 'accepted', 'ana', '2026-01-01 00:00:01')"))
    engine.dispose()

    with Project.open(path) as proj:
        assert current_revision(proj.engine) == head_revision()
        assert proj.get_setting("image_root") == str(tmp_path)
        with proj.engine.begin() as conn:
            conn.execute(text("UPDATE image SET size = :s, mtime_ns = :m"), {"s": BIG_SIZE, "m": BIG_MTIME})
        with proj.engine.connect() as conn:
            row = conn.execute(text("SELECT rel_path, raw_path, size, mtime_ns, review_status, label_class_id "
                                    "FROM image WHERE id = 7")).one()
            assert tuple(row) == ("a/b.jpg", b"a/b\xff.jpg", BIG_SIZE, BIG_MTIME, "accepted", 1)
            dec = conn.execute(text("SELECT image_id, class_id, reviewer FROM decision")).all()
            assert [tuple(d) for d in dec] == [(7, 1, "ana")]
            # foreign keys still enforced after the batch table rebuild
            with pytest.raises(Exception, match="(?i)FOREIGN KEY"):
                conn.execute(text("INSERT INTO decision (image_id, action, result_status, reviewer, at) "
                                  "VALUES (999, 'accepted', 'accepted', '', '2026-01-01')"))
        assert diff_against_models(proj.engine) == []


def test_fresh_project_matches_models_exactly(project):
    assert current_revision(project.engine) == head_revision()
    assert diff_against_models(project.engine) == []


def test_full_chain_from_empty_builds_exactly_the_models(store_location):
    engine = _empty_store(store_location)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert current_revision(engine) == head_revision()
    assert diff_against_models(engine) == []
    engine.dispose()


def test_reopen_at_head_is_a_no_op(tmp_path, store_location):
    path = store_location
    Project.create(path, tmp_path).close()
    with Project.open(path) as proj:
        assert current_revision(proj.engine) == head_revision()


def test_newer_schema_is_a_clear_error(tmp_path):
    path = tmp_path / "future.lazlabel"
    Project.create(path, tmp_path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ProjectError, match="newer than this lazlabel"):
        Project.open(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.lazlabel"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectError, match="not a lazlabel project"):
        Project.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # untouched


def test_other_programs_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "other.lazlabel"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    with pytest.raises(ProjectError, match="not a lazlabel project"):
        Project.open(path)
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"notes"}


def test_create_refuses_an_existing_project_and_ignores_stale_journals(tmp_path):
    path = tmp_path / "p.lazlabel"
    with Project.create(path, tmp_path) as proj:
        proj.set_setting("reviewer", "ana")
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path, tmp_path / "elsewhere")
    with Project.open(path) as proj:
        assert proj.image_root == tmp_path.resolve() and proj.get_setting("reviewer") == "ana"
    # a deleted project's leftover WAL must not leak into a new file of the same name
    wal = tmp_path / "p.lazlabel-wal"
    wal.write_bytes(b"stale")
    path.unlink()
    with Project.create(path, tmp_path) as proj:
        assert proj.get_setting("reviewer") is None


def test_open_errors_name_the_problem(tmp_path):
    with pytest.raises(ProjectError, match="is a folder"):
        Project.open(tmp_path)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.create(tmp_path / "no" / "such" / "p.lazlabel", tmp_path)


def test_developer_commands(capsys):
    from db.migrate import main as migrate_main

    assert migrate_main(["heads"]) == 0
    assert capsys.readouterr().out.strip() == head_revision()
    assert migrate_main(["check"]) == 0  # the chain builds exactly models.py


def test_upgrade_while_another_writer_holds_the_file_is_a_clear_error(tmp_path, monkeypatch):
    from sqlalchemy import event

    import db.migrate as migrate

    path = tmp_path / "busy.lazlabel"
    _make_at_first_revision(path).dispose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO setting (key, value) VALUES ('k', '1')")
    real = migrate._migration_engine

    def impatient(engine):  # the real 10 s busy timeout, shortened for the test
        mig = real(engine)
        event.listen(mig, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout=100"))
        return mig

    monkeypatch.setattr(migrate, "_migration_engine", impatient)
    with pytest.raises(ProjectError, match="busy"):
        Project.open(path)
    writer.execute("COMMIT")
    writer.close()
    monkeypatch.undo()
    with Project.open(path) as proj:  # nothing was half-applied: the upgrade now runs whole
        assert current_revision(proj.engine) == head_revision()
        assert proj.get_setting("k") == 1


def test_the_cheap_head_check_agrees_with_alembic():
    from db.connection import code_head_revision

    assert code_head_revision() == head_revision()
