"""The complaints and adverse-event log (issue 16 item 2, safety and feedback)

``safety_events``: one row per version of an event of the safety-event log (schemas/safety_event_log.schema.json;
monitor.domain.safety_events). A new table only: downgrade drops it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('safety_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('seriousness', sa.String(length=32), nullable=False),
    sa.Column('imdrf_codes', sa.JSON(), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('patient_hash', sa.String(length=64), nullable=True),
    sa.Column('accession_hash', sa.String(length=64), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('decisions', sa.JSON(), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'],
                            name='fk_safety_events_batch_id_ingestion_batches'),
    sa.PrimaryKeyConstraint('id', name='pk_safety_events'),
    sa.UniqueConstraint('device_id', 'event_id', 'version', name='uq_safety_events_device_id_event_id_version'),
    )
    op.create_index('ix_safety_events_device_id_received_at', 'safety_events', ['device_id', 'received_at'])


def downgrade() -> None:
    op.drop_index('ix_safety_events_device_id_received_at', table_name='safety_events')
    op.drop_table('safety_events')
