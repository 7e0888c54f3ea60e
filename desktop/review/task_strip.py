"""Moved to `desktop.widgets.task_strip` (kept until desktop/audit imports it from there)."""

from desktop.widgets.task_strip import *  # noqa: F403
