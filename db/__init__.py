"""Project store: SQLAlchemy 2.0 models, migrations and the `Project` front object. No Qt, no torch."""

from db.connection import PROJECT_SUFFIX, ProjectBusy, ProjectError, ProjectReadOnly
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
    "ProjectBusy",
    "ProjectError",
    "ProjectReadOnly",
    "ScanRecord",
]
