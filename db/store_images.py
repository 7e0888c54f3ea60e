"""Project store: images, folder-scan writes, counts, page queries (issue #2)."""

from __future__ import annotations


class ImagesMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""
