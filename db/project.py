"""`Project`: the one front object over a project's SQLite file.

Each public method is one unit of work (`with self.session() as s:`). The methods live in small
mixins named for what they hold (images, attributes, runs, review, labels) and are composed here.
"""

from __future__ import annotations

from db.engine_setup import ProjectStore
from db.store_attributes import AttributesMixin
from db.store_compose import ComposeMixin
from db.store_effort import EffortMixin
from db.store_images import ImagesMixin
from db.store_labels import LabelsMixin
from db.store_learning import LearningMixin
from db.store_review import ReviewMixin
from db.store_runs import RunsMixin
from db.store_team import TeamMixin


class Project(
    ImagesMixin,
    AttributesMixin,
    ComposeMixin,
    RunsMixin,
    ReviewMixin,
    LabelsMixin,
    LearningMixin,
    EffortMixin,
    TeamMixin,
    ProjectStore,
):
    """Open or create with `Project.open(path)` / `Project.create(path, image_root)`."""


__all__ = ["Project"]
