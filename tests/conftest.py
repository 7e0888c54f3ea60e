"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pg_fixtures import pg_admin_url, pg_url  # noqa: F401  (fixtures)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (reference descriptors). Read in place; never copied into the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def project(tmp_path: Path, request: pytest.FixtureRequest):
    """A fresh project on a real SQLite file with an empty image root (on a real PostgreSQL with
    LAZLABEL_TEST_BACKEND=postgresql; tests/db runs on both always, tests/pg_fixtures.py)."""
    from db import Project

    root = tmp_path / "images"
    root.mkdir()
    where = tmp_path / "test.lazlabel"
    if os.environ.get("LAZLABEL_TEST_BACKEND") == "postgresql":
        where = request.getfixturevalue("pg_url")
    proj = Project.create(where, root)
    yield proj
    proj.close()
