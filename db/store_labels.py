"""Project store: imported labels and export rows (issue #7)."""

from __future__ import annotations


class LabelsMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""
