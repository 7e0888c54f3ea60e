"""Engines for team projects on a PostgreSQL server, and the checks before anything is changed.

The counterpart of `connection.probe_project_file` for a database URL: a database that is not a
lazlabel project is refused untouched, `init` refuses one that already has tables, and a database
that does not exist yet is created by `init` (the role needs CREATEDB; else create it yourself
with `createdb NAME`). Connection problems are one line naming the server, never the password.
docs/architecture.md, "Team mode".
"""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from db.connection import CORE_TABLES, ProjectError
from db.location import display_url

#: the server database every PostgreSQL has; `init` connects to it to create the project's one
MAINTENANCE_DB = "postgres"


def first_line(err: BaseException) -> str:
    msg = str(getattr(err, "orig", None) or err).strip()
    return msg.splitlines()[0] if msg else type(err).__name__


def is_connection_lost(err: BaseException) -> bool:
    """The server went away under an open project (restart, network): worth one line, not a bug."""
    low = first_line(err).lower()
    return bool(getattr(err, "connection_invalidated", False)) or any(
        w in low for w in ("server closed the connection", "connection refused", "terminating connection",
                           "consuming input failed", "the connection is lost", "connection timeout"))


def connection_error(url: URL, err: BaseException) -> ProjectError:
    """One line for a failed connection, with the hint that fits (password file, server down)."""
    line = first_line(err)
    hint = ""
    low = line.lower()
    if "password" in low:
        hint = " (put the password in your PGPASSFILE, default ~/.pgpass, never in the URL of a shared file)"
    elif "refused" in low or "could not connect" in low or "timeout" in low:
        hint = " (is the server running and reachable from this machine?)"
    return ProjectError(f"cannot connect to {display_url(url)}: {line}{hint}")


def _missing_database(err: BaseException) -> bool:
    return "does not exist" in first_line(err) and "database" in first_line(err)


def make_server_engine(url: URL) -> Engine:
    """The engine of a team project: a small pool, connections checked before use (a server may
    restart under a long-running app)."""
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=4, max_overflow=4,
                         connect_args={"connect_timeout": 10})


def _create_database(url: URL) -> None:
    admin = create_engine(url.set(database=MAINTENANCE_DB), poolclass=NullPool, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as conn:
            name = conn.dialect.identifier_preparer.quote(str(url.database))
            conn.execute(text(f"CREATE DATABASE {name}"))
    except DBAPIError as err:
        raise ProjectError(
            f"cannot create database {url.database!r} on {display_url(url._replace(database=None))}: "
            f"{first_line(err)} (create it with `createdb {url.database}` and run init again)"
        ) from err
    finally:
        admin.dispose()


def open_server_engine(url: URL, *, create: bool) -> tuple[Engine, str | None]:
    """An engine on `url` once the database is known to be a lazlabel project (or, with `create`,
    an empty database, created when missing), and its schema revision. ProjectError (one line)
    otherwise."""
    engine = make_server_engine(url)
    revision = None
    try:
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                if "alembic_version" in tables:
                    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as err:
            if not (create and _missing_database(err)):
                if _missing_database(err):
                    raise ProjectError(
                        f"no project at {display_url(url)} (the database does not exist; "
                        f"create it with `lazlabel init --db {display_url(url)} --images DIR`)"
                    ) from err
                raise connection_error(url, err) from err
            _create_database(url)
            tables = set()
        if create and tables:
            raise ProjectError(f"{display_url(url)} already has tables; open it instead of creating it "
                               "(or use a new database name)")
        if not create:
            if not tables:
                raise ProjectError(f"{display_url(url)} is an empty database, not a lazlabel project yet "
                                   f"(create one with `lazlabel init --db {display_url(url)} --images DIR`)")
            if not CORE_TABLES <= tables:
                raise ProjectError(f"{display_url(url)} is not a lazlabel project (a database with other tables)")
    except BaseException:
        engine.dispose()
        raise
    return engine, revision
