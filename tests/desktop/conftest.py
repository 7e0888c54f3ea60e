"""Desktop test fixtures: offscreen Qt, per-test QSettings, an AppContext on a real project."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path_factory, qapp):
    """Recent lists etc. go to a temporary INI file, never to the developer's real settings."""
    from PySide6.QtCore import QSettings

    d = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(d))
    yield


@pytest.fixture
def ctx(qapp):
    """A non-interactive AppContext (errors are recorded in `ctx.errors` instead of dialogs)."""
    from desktop.context import AppContext

    c = AppContext(interactive=False)
    yield c
    c.cancel_all()
    if c.project is not None:
        c.project.close()
