"""Moved to `desktop.widgets.fit` (kept until desktop/audit imports it from there)."""

from desktop.widgets.fit import *  # noqa: F403
