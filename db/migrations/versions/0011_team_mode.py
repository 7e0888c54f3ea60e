"""team mode: review assignments and conflict resolutions

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 12:30:00

Several reviewers on one project (issue #20): `review_assignment` splits the queue by reviewer
(or overlaps a share of images for agreement); `conflict_resolution` records which decision of a
lead settled disagreeing decisions (all of them stay in the decision log). Portable DDL only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_assignment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('reviewer', sa.String(length=256), nullable=False),
        sa.Column('overlap', sa.Boolean(), nullable=False),
        sa.Column('assigned_by', sa.String(length=256), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('image_id', 'reviewer'),
    )
    op.create_index('ix_review_assignment_reviewer', 'review_assignment', ['reviewer'], unique=False)
    op.create_index(op.f('ix_review_assignment_image_id'), 'review_assignment', ['image_id'], unique=False)
    op.create_table(
        'conflict_resolution',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('decision_id', sa.Integer(), nullable=False),
        sa.Column('votes', sa.JSON(), nullable=False),
        sa.Column('lead', sa.String(length=256), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_conflict_resolution_image_id'), 'conflict_resolution', ['image_id'], unique=False)
    op.create_index(op.f('ix_conflict_resolution_decision_id'), 'conflict_resolution', ['decision_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_table('conflict_resolution')
    op.drop_table('review_assignment')
