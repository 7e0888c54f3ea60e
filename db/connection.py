"""Connections to a project file: the checks before anything is changed, engines, busy handling.

Leaf module of `db` (imports no other `db` module), so `engine_setup` and `migrate` both build
on it without importing each other (docs/architecture.md, "The data model").

* `probe_project_file` reads a file through a read-only SQLite connection and says whether it is
  a lazlabel project, before any pragma (WAL switch) or schema is applied: only `init` creates.
* `writable` says whether the file can be written (file and folder); a project that cannot be
  is opened read-only and every write is refused with one line saying why.
* Writers wait for SQLite's lock with SQLite's own backoff (`busy_timeout`); a lock held longer
  than that ends in one line naming the lazlabel process that holds the project (`holders`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

PROJECT_SUFFIX = ".lazlabel"  # a project is the SQLite file `<name>.lazlabel`
SQLITE_HEADER = b"SQLite format 3\x00"
#: tables every lazlabel schema revision has; an Alembic-versioned file without them is not ours
CORE_TABLES = frozenset({"alembic_version", "setting", "image", "label_class"})
#: how long a writer waits for another writer's lock (SQLite retries with growing sleeps)
DEFAULT_BUSY_TIMEOUT_MS = 30_000


class ProjectError(Exception):
    """A user-facing problem with the project file (missing, not a project, newer schema...)."""


class ProjectBusy(ProjectError):
    """Another process held the project's write lock for longer than the busy timeout."""


class ProjectReadOnly(ProjectError):
    """A write was asked of a project opened read-only."""


def busy_timeout_ms() -> int:
    """The writer's wait for a lock, in ms (`LAZLABEL_BUSY_TIMEOUT_MS` overrides the default)."""
    try:
        return max(0, int(os.environ.get("LAZLABEL_BUSY_TIMEOUT_MS", DEFAULT_BUSY_TIMEOUT_MS)))
    except ValueError:
        return DEFAULT_BUSY_TIMEOUT_MS


# --- checks before anything is changed ----------------------------------------------------------

_VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"


def code_head_revision() -> str:
    """The newest revision id of the code, from the revision files' names (`NNNN_what.py`), without
    importing Alembic (a second per command); tests check it equals Alembic's single head."""
    return max(p.name[:4] for p in _VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))



@dataclass(frozen=True)
class FileCheck:
    """What a read-only look at a project file found."""

    path: Path
    revision: str | None
    tables: frozenset[str]


def _ro_connect(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """A read-only sqlite3 connection: never creates the file, never changes its journal mode.
    `immutable` is for a file in a read-only folder with no -shm beside it (WAL readers need one)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def ro_connect(path: Path) -> sqlite3.Connection:
    """Read-only connection that also works where SQLite cannot create its -shm file."""
    conn = _ro_connect(path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return _ro_connect(path, immutable=True)


def probe_project_file(path: Path) -> FileCheck:
    """Say whether `path` is a lazlabel project, changing nothing; ProjectError if it is not."""
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a project file")
    if not path.exists():
        raise ProjectError(f"no project at {path} (create one with `lazlabel init`)")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as err:
        raise ProjectError(f"cannot read {path}: {err.strerror or err}") from err
    if not head:
        raise ProjectError(f"{path} is not a lazlabel project (an empty file; create one with `lazlabel init`)")
    if head != SQLITE_HEADER:
        raise ProjectError(f"{path} is not a lazlabel project (not an SQLite file)")
    try:
        conn = ro_connect(path)
        try:
            tables = frozenset(
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            )
            revision = None
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise ProjectError(f"{path} is not a lazlabel project ({str(err).splitlines()[0]})") from err
    if not CORE_TABLES <= tables or revision is None:
        raise ProjectError(f"{path} is not a lazlabel project (an SQLite file with other tables)")
    return FileCheck(path, revision, tables)


def writable(path: Path) -> tuple[bool, str]:
    """(can write, why not): SQLite in WAL mode writes the file and creates files beside it."""
    if not os.access(path, os.W_OK):
        return False, "the project file is read-only"
    folder = path.resolve().parent
    if not os.access(folder, os.W_OK):
        return False, f"its folder {folder} is read-only"
    return True, ""


# --- engines -----------------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
    cur.close()


def make_engine(url_or_path: str | os.PathLike[str], *, read_only: bool = False) -> Engine:
    """The engine of a project file (WAL, foreign keys, busy wait), or a read-only one that
    applies no pragma that writes."""
    url = str(url_or_path)
    if read_only:
        path = Path(url)
        engine = create_engine(
            f"sqlite:///{path.resolve()}", creator=lambda: ro_connect(path), poolclass=QueuePool, future=True
        )

        @event.listens_for(engine, "connect")
        def _ro_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")

        return engine
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# --- who holds the project (named in the "busy" message) --------------------------------------


def holders_dir(path: Path) -> Path:
    return path.with_name(path.name + ".cache") / "holders"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def register_holder(path: Path) -> Path | None:
    """Note that this process has the project open for writing (best effort; None if it can't)."""
    d = holders_dir(path)
    me = d / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"  # one per open project
    what = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200] or "python"
    try:
        d.mkdir(parents=True, exist_ok=True)
        me.write_text(
            json.dumps(
                {
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "command": what,
                    "since": dt.datetime.now().strftime("%H:%M:%S"),
                }
            )
        )
    except OSError:
        return None
    return me


def unregister_holder(token: Path | None) -> None:
    if token is not None:
        try:
            token.unlink(missing_ok=True)
        except OSError:
            pass


def other_holders(path: Path) -> list[dict[str, Any]]:
    """Live lazlabel processes (other than this one) that have the project open for writing."""
    out = []
    here = socket.gethostname()
    try:
        files = sorted(holders_dir(path).glob("*.json"))
    except OSError:
        return []
    for f in files:
        try:
            info = json.loads(f.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if info.get("host") == here and pid == os.getpid():
            continue
        if info.get("host") == here and not _pid_alive(pid):
            try:
                f.unlink()  # a killed process's note
            except OSError:
                pass
            continue
        out.append(info)
    return out


def busy_message(path: Path) -> str:
    """One line: the project is locked, by whom, and what to do."""
    secs = busy_timeout_ms() / 1000
    holders = other_holders(path)
    if holders:
        h = holders[0]
        who = f"`{h.get('command', 'lazlabel')}` (pid {h.get('pid')} on {h.get('host')}, since {h.get('since')})"
        more = f" and {len(holders) - 1} more" if len(holders) > 1 else ""
        return f"{path} is busy: locked for over {secs:g} s, open for writing in {who}{more}; try again when it finishes"
    return (
        f"{path} is busy: another program kept it locked for over {secs:g} s "
        "(an sqlite3 shell, a backup or sync tool?); try again when it finishes"
    )


def is_busy_error(err: BaseException) -> bool:
    text = str(getattr(err, "orig", None) or err).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def is_readonly_error(err: BaseException) -> bool:
    text = str(getattr(err, "orig", None) or err).lower()
    return "readonly database" in text or "read-only" in text


# --- one writer at a time on a server ---------------------------------------------------------

#: advisory-lock keys (any fixed numbers) for the steps that must see no concurrent writer
LOCK_RUNS = 0x1A2_0001
LOCK_ATTRIBUTES = 0x1A2_0002


def server_write_lock(s: Any, key: int) -> bool:
    """On PostgreSQL, take a transaction-scoped advisory lock `key` (what SQLite's single writer
    gives by itself) and return True; on SQLite do nothing and return False (callers then start
    SQLite's write transaction with a no-op write)."""
    if s.get_bind().dialect.name != "postgresql":
        return False
    from sqlalchemy import text

    s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    return True
