"""effort accounting and vouched bulk acceptance (issue #21)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:40:00

`audit_sample`: seeded random draws the curator audits; `vouch`: how a bulk acceptance was vouched
for (target, confidence, bound, the sample, the run); `decision.vouch_id` points a vouched
acceptance's decisions at it; `effort_event`: keys, clicks and commands behind each decision.
(Planned chain: 0008 learning runs -> 0009; down_revision is re-chained when 0008 lands.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_sample',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seed', sa.BigInteger(), nullable=False),
        sa.Column('n_pool', sa.Integer(), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('reviewer', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'vouch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sample_id', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('target', sa.Float(), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('method', sa.String(length=64), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('thresholds', sa.JSON(), nullable=False),
        sa.Column('families', sa.JSON(), nullable=False),
        sa.Column('sample_image_ids', sa.JSON(), nullable=False),
        sa.Column('sample_decision_ids', sa.JSON(), nullable=False),
        sa.Column('n_sample', sa.Integer(), nullable=False),
        sa.Column('n_errors', sa.Integer(), nullable=False),
        sa.Column('precision_bound', sa.Float(), nullable=False),
        sa.Column('n_accepted', sa.Integer(), nullable=False),
        sa.Column('overridden', sa.Boolean(), nullable=False),
        sa.Column('statement', sa.Text(), nullable=False),
        sa.Column('reviewer', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'effort_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('n_images', sa.Integer(), nullable=False),
        sa.Column('keys', sa.Integer(), nullable=False),
        sa.Column('clicks', sa.Integer(), nullable=False),
        sa.Column('commands', sa.Integer(), nullable=False),
        sa.Column('decision_id', sa.Integer(), nullable=True),
        sa.Column('vouch_id', sa.Integer(), nullable=True),
        sa.Column('reviewer', sa.String(length=256), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('effort_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_effort_event_source'), ['source'], unique=False)
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vouch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_decision_vouch_id'), ['vouch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_vouch_id'))
        batch_op.drop_column('vouch_id')
    with op.batch_alter_table('effort_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_effort_event_source'))
    op.drop_table('effort_event')
    op.drop_table('vouch')
    op.drop_table('audit_sample')
