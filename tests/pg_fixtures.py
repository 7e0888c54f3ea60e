"""Fixtures of the real PostgreSQL server the store tests run on besides SQLite (never a mock).

`LAZLABEL_TEST_PG_URL` (set by scripts/services.sh in `.ci/run` / `scripts/dev.sh test`) names a
running server; without it the first test that needs one starts its own for the session
(tests/pg_server.py) and stops it at the end. Each test gets a database of its own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg_server

BACKENDS = ("sqlite", "postgresql")

# A test that inspects the SQLite file itself (PRAGMAs, copying the file): skipped when the
# project fixtures run on PostgreSQL (LAZLABEL_TEST_BACKEND=postgresql, tests/conftest.py).
sqlite_only = pytest.mark.skipif(os.environ.get("LAZLABEL_TEST_BACKEND") == "postgresql",
                                 reason="inspects the SQLite file itself")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The URL of a superuser on a running server (the env's, or one started for this session)."""
    url = os.environ.get("LAZLABEL_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        server = pg_server.start()
    except RuntimeError as err:
        pytest.fail(f"no PostgreSQL for the store tests: {err}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a new, empty database (not created yet: `init` creates it); dropped afterwards.
    This machine's side of team projects goes under tmp_path."""
    monkeypatch.setenv("LAZLABEL_TEAM_HOME", str(tmp_path / "team-home"))
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield pg_admin_url.rsplit("/", 1)[0] + "/" + name
    pg_server.drop_database(pg_admin_url, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a new project goes on each back-end: an SQLite file path, or a PostgreSQL URL."""
    if backend == "sqlite":
        return str(tmp_path / "test.lazlabel")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def any_project(store_location: str, tmp_path: Path):
    """A fresh project on each back-end, with an empty image root."""
    from db import Project

    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    proj = Project.create(store_location, root)
    yield proj
    proj.close()
