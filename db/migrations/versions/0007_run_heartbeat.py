"""run heartbeat: the run lease's owner writes it with every batch

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:30:00

With `run.owner`, a lease: a second pre-label on the same project sees run #N in progress
(owner alive on this host, or a fresh heartbeat from another host) instead of joining it silently.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
