"""Schema migrations (Alembic), applied automatically when a project is opened.

The Alembic environment lives inside the package (`db/migrations`), so nothing needs an
alembic.ini at run time. On SQLite the whole upgrade runs in one `BEGIN IMMEDIATE` transaction
with foreign keys off (batch "copy and move" must not cascade deletes), so a crash mid-upgrade
leaves the file at its old revision.

Developers add a revision with

    .venv/bin/python -m db.migrate revision -m "what changed" --autogenerate

(autogenerate compares models.py against a scratch database upgraded to head), and check with
`python -m db.migrate heads` / `python -m db.migrate check`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import NullPool

from db.connection import ProjectError, busy_timeout_ms, make_engine
from db.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
#: PostgreSQL advisory-lock key serialising schema upgrades of one database (any fixed number)
_UPGRADE_LOCK_KEY = 0x1A2_1AB31


def alembic_config(connection: Connection | None = None) -> Config:
    """A Config pointing at the in-package environment; `connection` is handed to env.py."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revision scripts (parsed once per process: they do not change while it runs)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The single head revision of the code (several heads = a broken chain, an error)."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migration chain has {len(heads)} heads {heads}; merge them")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """Revision stamped in the database, or None for an empty / unversioned file."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _project_error(message: str) -> Exception:
    return ProjectError(message)


def _check_known(current: str | None, where: str) -> None:
    if current is None:
        return
    known = {rev.revision for rev in script_directory().walk_revisions()}
    if current not in known:
        raise _project_error(
            f"{where} uses schema revision {current}, newer than this lazlabel knows "
            f"(head {head_revision()}); upgrade lazlabel to open it"
        )


def _migration_engine(engine: Engine) -> Engine:
    """A private engine for the upgrade: explicit transactions, FKs off, waits for locks."""
    mig = create_engine(engine.url, poolclass=NullPool)
    if mig.dialect.name != "sqlite":
        return mig

    @event.listens_for(mig, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (transactional DDL)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.close()

    @event.listens_for(mig, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return mig


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database behind `engine` to the head revision; raise ProjectError if it can't.

    Empty file: created at head and stamped. Older file: the chain runs. File newer than the code: ProjectError. File
    that is not SQLite, or an SQLite file of some other program: ProjectError.
    """
    where = _describe(engine)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            current = MigrationContext.configure(conn).get_current_revision()
    except DatabaseError as err:
        raise _project_error(f"{where} is not a lazlabel project ({_first_line(err)})") from err
    _check_known(current, where)
    head = head_revision()
    if current == head:
        return
    if current is None and tables:
        raise _project_error(f"{where} is not a lazlabel project (an SQLite file with other tables)")
    mig = _migration_engine(engine)
    try:
        with mig.begin() as conn:
            if conn.dialect.name == "postgresql":  # one upgrader at a time; the others wait, then see head
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK_KEY})
            ctx = MigrationContext.configure(conn)
            now = ctx.get_current_revision()  # re-read under the write lock (another process may have won)
            _check_known(now, where)
            if now == head:
                return
            cfg = alembic_config(conn)
            if now is None and not inspect(conn).get_table_names():
                # a new file: build head directly and stamp it (what the chain builds, faster;
                # tests check the chain from 0001 yields exactly this schema)
                Base.metadata.create_all(conn)
                command.stamp(cfg, "head")
            else:
                command.upgrade(cfg, "head")
            if conn.dialect.name == "sqlite":
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise _project_error(f"{where}: migration left {len(bad)} broken references; not applied")
    except OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise _project_error(f"{where} is busy (another program is writing to it); try again") from err
        raise
    finally:
        mig.dispose()


def _describe(engine: Engine) -> str:
    if engine.dialect.name != "sqlite":
        from db.location import display_url

        return display_url(engine.url)
    db = engine.url.database
    return str(db) if db else engine.url.render_as_string(hide_password=True)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err)
    return text.splitlines()[0] if text else type(err).__name__


# --- developer command line -------------------------------------------------------------------


def _scratch_at_head(tmp: Path) -> Engine:
    """A scratch database built by running the revision chain (not models.py: that is what
    autogenerate and `check` compare against)."""
    engine = make_engine(tmp / "scratch.lazlabel")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    return engine


def diff_against_models(engine: Engine) -> list[Any]:
    """Alembic's autogenerate differences between the database and models.py ([] = in sync)."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return list(compare_metadata(ctx, Base.metadata))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db.migrate", description="lazlabel schema revisions")
    subs = parser.add_subparsers(dest="cmd", required=True)
    subs.add_parser("heads", help="print the head revision")
    subs.add_parser("check", help="fail if models.py differs from the migrated schema")
    rev = subs.add_parser("revision", help="create a new revision file chained to head")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--autogenerate", action="store_true")
    rev.add_argument("--rev-id", help="revision id (default: next 4-digit number)")
    args = parser.parse_args(argv)

    return _COMMANDS[args.cmd](args)


def _cmd_heads(_args: argparse.Namespace) -> int:
    print(head_revision())
    return 0


def _cmd_check(_args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        engine = _scratch_at_head(Path(tmp))
        try:
            diffs = diff_against_models(engine)
        finally:
            engine.dispose()
    for d in diffs:
        print(d)
    return 1 if diffs else 0


def _cmd_revision(args: argparse.Namespace) -> int:
    rev_id = args.rev_id or f"{int(head_revision()) + 1:04d}"
    script_directory.cache_clear()
    with tempfile.TemporaryDirectory() as tmp:
        engine = _scratch_at_head(Path(tmp))
        try:
            with engine.connect() as conn:
                command.revision(
                    alembic_config(conn), message=args.message, autogenerate=args.autogenerate, rev_id=rev_id
                )
                conn.commit()
        finally:
            engine.dispose()
    return 0


_COMMANDS = {"heads": _cmd_heads, "check": _cmd_check, "revision": _cmd_revision}


if __name__ == "__main__":
    sys.exit(main())
