"""learning runs: index run.kind (learning runs are listed and switched by kind)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:50:00

A learning run is a `run` row with kind 'learn' (its record in `engine_config["learn"]`, its
parameters in a content-addressed file beside the cache); `lazlabel learn runs` and activation
look runs up by kind.
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_kind', ['kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_kind')
