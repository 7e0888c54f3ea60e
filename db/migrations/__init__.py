"""Alembic environment of the project file schema (driven by `db.migrate`, no alembic.ini)."""
