"""The store's tests run on SQLite and on a real PostgreSQL (tests/pg_fixtures.py): `project`
here is parametrised over both back-ends."""

from __future__ import annotations

import pytest

from tests.pg_fixtures import any_project, backend, pg_admin_url, pg_url, store_location  # noqa: F401


@pytest.fixture
def project(any_project):  # noqa: F811
    return any_project
