"""Lesion-level detection (issue 17 item 2)

``lesion_findings``: the AI's findings of a study (lesion id / tracking UID, finding type, centre, diameter, score),
each tied to the study's prediction row; ``reference_lesions``: the reference standard's lesions, one row per
version (corrections and withdrawals add versions). New tables only: downgrade drops them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _common(table: str) -> list[sa.SchemaItem]:
    return [sa.Column('row_hash', sa.String(length=64), nullable=False),
            sa.Column('batch_id', sa.Integer(), nullable=False),
            sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(['batch_id'], ['ingestion_batches.batch_id'],
                                    name=f'fk_{table}_batch_id_ingestion_batches'),
            sa.PrimaryKeyConstraint('id', name=f'pk_{table}')]


def _head() -> list[sa.SchemaItem]:
    return [sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
            sa.Column('device_id', sa.String(length=64), nullable=False),
            sa.Column('prediction_id', sa.String(length=128), nullable=False),
            sa.Column('lesion_id', sa.String(length=128), nullable=False)]


def _centre() -> list[sa.SchemaItem]:
    return [sa.Column(f'centre_{axis}_mm', sa.Float(), nullable=False) for axis in 'xyz'] + [
        sa.Column('diameter_mm', sa.Float(), nullable=True)]


def upgrade() -> None:
    op.create_table('lesion_findings', *_head(),
                    sa.Column('tracking_id', sa.String(length=64), nullable=True),
                    sa.Column('finding_type', sa.String(length=64), nullable=True),
                    *_centre(),
                    sa.Column('score', sa.Float(), nullable=False),
                    *_common('lesion_findings'),
                    sa.UniqueConstraint('device_id', 'prediction_id', 'lesion_id',
                                        name='uq_lesion_findings_device_id_prediction_id_lesion_id'))
    op.create_table('reference_lesions', *_head(),
                    sa.Column('version', sa.Integer(), nullable=False),
                    *_centre(),
                    sa.Column('lesion_type', sa.String(length=64), nullable=True),
                    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('source', sa.String(length=32), nullable=False),
                    sa.Column('withdrawn', sa.Boolean(), nullable=False),
                    sa.Column('correction_reason', sa.Text(), nullable=True),
                    *_common('reference_lesions'),
                    sa.UniqueConstraint('device_id', 'prediction_id', 'lesion_id', 'version',
                                        name='uq_reference_lesions_device_id_prediction_id_lesion_id_version'))


def downgrade() -> None:
    op.drop_table('reference_lesions')
    op.drop_table('lesion_findings')
