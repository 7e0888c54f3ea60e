"""class ids are never reused; decisions and predictions keep the id of a deleted class

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:10:00

`label_class` gets AUTOINCREMENT (SQLite otherwise hands a deleted class's id to the next new
class, so old top-k scores and decisions would name a class they never meant), and its sequence
starts above every class id any table or the edit log ever used. `decision.class_id` and
`prediction.class_id` stop being foreign keys: after `classes delete --force` they keep the id of
the class they meant (shown as deleted, with its old name from the edit log) instead of NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_FK_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_USED_CLASS_IDS = (
    ("label_class", "id"),
    ("attribute_edit", "class_id"),
    ("decision", "class_id"),
    ("decision", "previous_class_id"),
    ("prediction", "class_id"),
    ("imported_label", "class_id"),
    ("label_issue", "given_class_id"),
    ("label_issue", "suggested_class_id"),
)


def _drop_class_fk(table: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(table, naming_convention=_FK_NAMES, recreate="always") as batch_op:
            batch_op.drop_constraint(f"fk_{table}_class_id_label_class", type_="foreignkey")
        return
    for fk in sa.inspect(bind).get_foreign_keys(table):
        if fk["constrained_columns"] == ["class_id"] and fk.get("name"):
            op.drop_constraint(fk["name"], table, type_="foreignkey")


def upgrade() -> None:
    bind = op.get_bind()
    _drop_class_fk("decision")
    _drop_class_fk("prediction")
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL sequences never hand an id out twice
    with op.batch_alter_table(
        "label_class", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=512), existing_nullable=False)
    high = max(
        int(bind.exec_driver_sql(f"SELECT coalesce(max({col}), 0) FROM {table}").scalar() or 0)
        for table, col in _USED_CLASS_IDS
    )
    n = bind.exec_driver_sql("SELECT count(*) FROM sqlite_sequence WHERE name = 'label_class'").scalar()
    if n:
        bind.exec_driver_sql(f"UPDATE sqlite_sequence SET seq = max(seq, {high}) WHERE name = 'label_class'")
    else:
        bind.exec_driver_sql(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('label_class', {high})")


def downgrade() -> None:
    with op.batch_alter_table("label_class", recreate="always", table_kwargs={"sqlite_autoincrement": False}) as b:
        b.alter_column("name", existing_type=sa.String(length=512), existing_nullable=False)
    for table in ("decision", "prediction"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_class_id_label_class", "label_class", ["class_id"], ["id"], ondelete="SET NULL"
            )
