"""Engine, pragmas, migrations and the session factory shared by every store mixin."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.models import Base, Setting

PROJECT_SUFFIX = ".lazlabel"  # a project is the SQLite file `<name>.lazlabel`


class ProjectError(Exception):
    """A user-facing problem with the project file (missing, not a project, newer schema...)."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url_or_path: str | os.PathLike[str]) -> Engine:
    url = str(url_or_path)
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class ProjectStore:
    """Owns the engine and session factory. Mixins only use `self.session()` and settings."""

    path: Path

    def __init__(self, path: str | os.PathLike[str], engine: Engine) -> None:
        self.path = Path(path)
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False):
        p = Path(path)
        if p.is_dir():
            raise ProjectError(f"{p} is a folder, not a project file")
        if not create and not p.exists():
            raise ProjectError(f"no project at {p} (create one with `lazlabel init`)")
        if create and not p.parent.is_dir():
            raise ProjectError(f"cannot create {p}: folder {p.parent} does not exist")
        engine = make_engine(p)
        from db.migrate import upgrade_to_head

        upgrade_to_head(engine)
        return cls(p, engine)

    @classmethod
    def create(cls, path: str | os.PathLike[str], image_root: str | os.PathLike[str]):
        """A new project file for `image_root`. Refuses an existing file (nothing is overwritten)."""
        p = Path(path)
        if p.exists() and p.stat().st_size > 0:
            raise ProjectError(f"{p} already exists; open it instead of creating it")
        if not p.exists():
            # journal files left by a deleted project would be replayed into the new one
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{p}{suffix}").unlink(missing_ok=True)
        proj = cls.open(path, create=True)
        proj.set_setting("image_root", str(Path(image_root).resolve()))
        return proj

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error."""
        with self._sessions() as s, s.begin():
            yield s

    # -- settings ------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.session() as s:
            row = s.get(Setting, key)
            return default if row is None else row.value

    def set_setting(self, key: str, value: Any) -> None:
        with self.session() as s:
            row = s.get(Setting, key)
            if row is None:
                s.add(Setting(key=key, value=value))
            else:
                row.value = value

    def settings(self) -> dict[str, Any]:
        with self.session() as s:
            return {r.key: r.value for r in s.query(Setting).all()}

    @property
    def image_root(self) -> Path:
        root = self.get_setting("image_root")
        if not root:
            raise ProjectError("project has no image root")
        return Path(root)

    @property
    def cache_dir(self) -> Path:
        """Per-project cache (features, thumbnails) beside the project file."""
        d = self.path.with_name(self.path.name + ".cache")
        d.mkdir(parents=True, exist_ok=True)
        return d


def init_schema_without_migrations(engine: Engine) -> None:  # used only by tests of migrate
    Base.metadata.create_all(engine)
