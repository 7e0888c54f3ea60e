"""Project store: SQLAlchemy 2.0 models, migrations and the `Project` front object. No Qt, no torch."""

from db.engine_setup import PROJECT_SUFFIX, ProjectError
from db.project import Project

__all__ = ["Project", "ProjectError", "PROJECT_SUFFIX"]
