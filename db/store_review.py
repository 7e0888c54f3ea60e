"""Project store: decisions, undo, review queue (issue #6)."""

from __future__ import annotations


class ReviewMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""
