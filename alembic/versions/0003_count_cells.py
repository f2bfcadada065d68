"""count cells maintained per batch, accession hashes, and the study and accession indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_predictions_device_study', 'predictions', ['device_id', 'study_uid'])
    op.add_column('predictions', sa.Column('accession_hash', sa.String(length=64), nullable=True))
    op.create_index('ix_predictions_device_accession', 'predictions', ['device_id', 'accession_hash'])
    op.create_table('cell_months',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('predictions', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('device_id', 'month', name='pk_cell_months'),
    )
    op.create_table('case_cells',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('stratum_key', sa.Text(), nullable=False),
    sa.Column('tp', sa.BigInteger(), nullable=False),
    sa.Column('fp', sa.BigInteger(), nullable=False),
    sa.Column('fn', sa.BigInteger(), nullable=False),
    sa.Column('tn', sa.BigInteger(), nullable=False),
    sa.Column('pending', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'month', 'model_version', 'stratum_key', name='pk_case_cells'),
    )


def downgrade() -> None:
    op.drop_table('case_cells')
    op.drop_table('cell_months')
    op.drop_index('ix_predictions_device_accession', table_name='predictions')
    with op.batch_alter_table('predictions') as batch:
        batch.drop_column('accession_hash')
    op.drop_index('ix_predictions_device_study', table_name='predictions')
