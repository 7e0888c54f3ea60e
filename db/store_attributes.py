"""Project store: classes, attributes, edit log, attribute-set versions (issue #5)."""

from __future__ import annotations


class AttributesMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""
