"""The recent-projects list, kept in QSettings (per user, not per project)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "recent_projects"
MAX_RECENT = 10


def app_settings() -> QSettings:
    """Per-user application settings; `$LAZLABEL_SETTINGS` (an INI path) overrides (tests, kiosks)."""
    override = os.environ.get("LAZLABEL_SETTINGS")
    if override:
        return QSettings(override, QSettings.Format.IniFormat)
    return QSettings("lazlabel", "lazlabel")


def recent_projects(existing_only: bool = True) -> list[Path]:
    """Most recent first; files that no longer exist are left out."""
    raw = app_settings().value(KEY, []) or []
    if isinstance(raw, str):  # QSettings returns a bare string for a one-item list
        raw = [raw]
    paths = [Path(p) for p in raw]
    return [p for p in paths if p.exists()] if existing_only else paths


def add_recent(path: str | os.PathLike[str]) -> None:
    p = str(Path(path).resolve())
    items = [str(x) for x in recent_projects(existing_only=False) if str(x) != p]
    app_settings().setValue(KEY, [p, *items][:MAX_RECENT])


def clear_recent() -> None:
    app_settings().remove(KEY)
