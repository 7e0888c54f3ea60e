"""Moved to `desktop.widgets.palette` (kept until desktop/audit imports it from there)."""

from desktop.widgets.palette import *  # noqa: F403
