"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
def project(tmp_path: Path):
    """A fresh project on a real SQLite file with an empty image root."""
    from db import Project

    root = tmp_path / "images"
    root.mkdir()
    proj = Project.create(tmp_path / "test.lazlabel", root)
    yield proj
    proj.close()
