"""Project store: SQLAlchemy 2.0 models, migrations and the `Project` front object. No Qt, no torch."""

from db.engine_setup import PROJECT_SUFFIX, ProjectError
from db.project import Project
from db.queries import FILTERS, SORTS, CurrentLabel, ImageFilter, ImageRow
from db.store_images import HashTarget, KnownFile, ScanRecord

__all__ = [
    "FILTERS",
    "PROJECT_SUFFIX",
    "SORTS",
    "CurrentLabel",
    "HashTarget",
    "ImageFilter",
    "ImageRow",
    "KnownFile",
    "Project",
    "ProjectError",
    "ScanRecord",
]
