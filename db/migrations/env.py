"""Alembic environment: runs on the connection `db.migrate` hands over (no alembic.ini, no URL).

`render_as_batch` makes ALTERs work on SQLite (copy-and-move), and is a no-op on PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a bare `alembic` command line
    raise RuntimeError("run migrations through db.migrate.upgrade_to_head(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
