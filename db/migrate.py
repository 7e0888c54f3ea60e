"""Schema migrations, applied automatically on open.

TEMPORARY: create_all until the Alembic environment (db/migrations) lands in issue #2.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from db.models import Base


def upgrade_to_head(engine: Engine) -> None:
    Base.metadata.create_all(engine)
