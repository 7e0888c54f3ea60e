"""compositional label space: states, objects, pairs (a pair is a class), part attributes

Revision ID: 0010
Revises: 0008 (plan: 0009)
Create Date: 2026-12-03 12:30:00

Three new tables, nothing existing changes: `compose_part` (a state or an object),
`compose_pair` (which class is which state-object pair) and `compose_part_attribute` (attributes
attached to a state or an object; the store copies them into the pairs' attribute lists).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'compose_part',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=256), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'name'),
    )
    op.create_table(
        'compose_pair',
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('state_id', sa.Integer(), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['class_id'], ['label_class.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['object_id'], ['compose_part.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['state_id'], ['compose_part.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('class_id'),
        sa.UniqueConstraint('state_id', 'object_id'),
    )
    with op.batch_alter_table('compose_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compose_pair_object_id'), ['object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_compose_pair_state_id'), ['state_id'], unique=False)
    op.create_table(
        'compose_part_attribute',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('part_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['part_id'], ['compose_part.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('part_id', 'text'),
    )
    with op.batch_alter_table('compose_part_attribute', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compose_part_attribute_part_id'), ['part_id'], unique=False)


def downgrade() -> None:
    op.drop_table('compose_part_attribute')
    with op.batch_alter_table('compose_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compose_pair_state_id'))
        batch_op.drop_index(batch_op.f('ix_compose_pair_object_id'))
    op.drop_table('compose_pair')
    op.drop_table('compose_part')
