"""Project store: runs, predictions, explanations (issue #6)."""

from __future__ import annotations


class RunsMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""
