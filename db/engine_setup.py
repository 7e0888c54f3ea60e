"""Engine, pragmas, migrations and the session factory shared by every store mixin."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.connection import (
    PROJECT_SUFFIX,
    ProjectBusy,
    ProjectError,
    ProjectReadOnly,
    busy_message,
    code_head_revision,
    is_busy_error,
    is_readonly_error,
    make_engine,
    probe_project_file,
    register_holder,
    unregister_holder,
    writable,
)
from db.location import LocationError, display_url, is_url, parse_url, stand_in_path
from db.models import Setting
from db.server import connection_error, is_connection_lost, open_server_engine

__all__ = ["PROJECT_SUFFIX", "ProjectBusy", "ProjectError", "ProjectReadOnly", "ProjectStore", "make_engine"]


def _upgrade(engine: Engine) -> None:
    """Alembic is imported only when a file needs creating or upgrading (it costs a second)."""
    from db.migrate import upgrade_to_head

    upgrade_to_head(engine)


def host_image_root_key(host: str | None = None) -> str:
    """The setting holding one machine's own image root (a team shares one project, not one disk)."""
    import socket

    return f"image_root@{host or socket.gethostname()}"


class ProjectStore:
    """Owns the engine and session factory. Mixins only use `self.session()` and settings.

    `read_only` (with `read_only_reason`) when the file or its folder cannot be written: reads
    work, every write is refused with one line (`ProjectReadOnly`).
    """

    path: Path
    #: where the project lives, as shown to people: the file path, or the URL without password
    location: str

    def __init__(
        self, path: str | os.PathLike[str], engine: Engine, *, read_only: bool = False, read_only_reason: str = "",
        location: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.location = location or str(self.path)
        self.engine = engine
        self.read_only = read_only
        self.read_only_reason = read_only_reason
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._holder = None if read_only else register_holder(self.path)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False):
        """Open a project. Nothing is changed before the file is known to be a lazlabel project
        (only `create` makes one); a file that cannot be written opens read-only.
        A `postgresql+psycopg://` URL opens a team project (db/server.py)."""
        if is_url(path):
            return cls._open_url(str(path), create=create)
        p = Path(path)
        if p.is_dir():
            raise ProjectError(f"{p} is a folder, not a project file")
        if create:
            if not p.parent.is_dir():
                raise ProjectError(f"cannot create {p}: folder {p.parent} does not exist")
            engine = make_engine(p)
            _upgrade(engine)
            return cls(p, engine)
        check = probe_project_file(p)
        ok, why = writable(p)
        if not ok:
            if check.revision != code_head_revision():
                raise ProjectError(
                    f"{p} needs a schema upgrade but {why}; open it once where it can be written"
                )
            return cls(p, make_engine(p, read_only=True), read_only=True, read_only_reason=why)
        engine = make_engine(p)
        if check.revision != code_head_revision():
            try:
                _upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(p, engine)

    @classmethod
    def _open_url(cls, text: str, *, create: bool):
        try:
            url = parse_url(text)
        except LocationError as err:
            raise ProjectError(str(err)) from err
        engine, revision = open_server_engine(url, create=create)
        if revision != code_head_revision():  # Alembic (a second to import) only when needed
            try:
                _upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(stand_in_path(url), engine, location=display_url(url))

    @property
    def is_team(self) -> bool:
        """On a database server (PostgreSQL) rather than in a local SQLite file."""
        return self.engine.dialect.name != "sqlite"

    @classmethod
    def create(cls, path: str | os.PathLike[str], image_root: str | os.PathLike[str]):
        """A new project file for `image_root`. Refuses an existing file (nothing is overwritten)."""
        if is_url(path):
            proj = cls.open(path, create=True)
            proj.set_setting("image_root", str(Path(image_root).resolve()))
            return proj
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
        unregister_holder(self._holder)
        self._holder = None
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refuse_if_read_only(self, what: str = "this") -> None:
        """Raise ProjectReadOnly (one line) before a write is attempted on a read-only project."""
        if self.read_only:
            raise ProjectReadOnly(
                f"{self.path} is open read-only ({self.read_only_reason}): {what} needs to write to it"
            )

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error.

        A lock held by another writer is waited for (SQLite retries with backoff for the busy
        timeout); past it, or on a write to a read-only project, one line says why (ProjectError).
        """
        try:
            with self._sessions() as s, s.begin():
                yield s
        except OperationalError as err:
            self._raise_store_error(err)
            raise

    def _raise_store_error(self, err: OperationalError) -> None:
        """Turn a locked, full or read-only database into one line (ProjectError); else return."""
        if self.is_team and is_connection_lost(err):
            raise connection_error(self.engine.url, err) from err
        if is_busy_error(err):
            raise ProjectBusy(busy_message(self.path)) from err
        if "disk is full" in str(err):
            raise ProjectError(f"disk full: {self.path} could not be written; nothing of this step was saved") from err
        if is_readonly_error(err) or self.read_only:
            reason = self.read_only_reason or "the file or its folder cannot be written"
            raise ProjectReadOnly(f"{self.path} is read-only ({reason}); nothing was changed") from err

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
        """The image folder as this machine reaches it: `LAZLABEL_IMAGE_ROOT`, else this host's
        override (`image_root@<hostname>`, set by `lazlabel team image-root`), else the shared one."""
        env = os.environ.get("LAZLABEL_IMAGE_ROOT")
        if env:
            return Path(env).expanduser()
        root = self.get_setting(host_image_root_key()) or self.get_setting("image_root")
        if not root:
            raise ProjectError("project has no image root")
        return Path(root)

    @property
    def cache_dir(self) -> Path:
        """Per-project cache (features, thumbnails) beside the project file."""
        d = self.path.with_name(self.path.name + ".cache")
        if not self.read_only:
            d.mkdir(parents=True, exist_ok=True)
        return d


