"""Alembic revisions, chained; `db.migrate.upgrade_to_head` applies them on open."""
