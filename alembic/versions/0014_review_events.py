"""The review log (issue 17 item 3, review worklists)

``review_events``: one row per version of the review of one AI result (schemas/review_event_log.schema.json;
monitor.domain.review_events). A new table only: downgrade drops it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('prediction_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=True),
    sa.Column('old_value', sa.Float(), nullable=True),
    sa.Column('new_value', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'],
                            name='fk_review_events_batch_id_ingestion_batches'),
    sa.PrimaryKeyConstraint('id', name='pk_review_events'),
    sa.UniqueConstraint('device_id', 'prediction_id', 'version',
                        name='uq_review_events_device_id_prediction_id_version'),
    )


def downgrade() -> None:
    op.drop_table('review_events')
