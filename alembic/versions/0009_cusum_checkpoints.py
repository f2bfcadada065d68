"""CUSUM checkpoints and the CUSUM design basis counted once per period (issue 20)

``cusum_checkpoints`` (one row per model version, instant, configuration and cut-off) with
``cusum_checkpoint_charts`` (each chart's design and state there) let a period's analysis resume its
charts at the previous period's end instead of replaying the model version's history;
``cusum_design_bases`` keeps each period's design basis (cases known by the period's start), which no
later cut-off changes (docs/sequential.md, section 1c). New tables only: downgrade drops them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cusum_checkpoints',
    sa.Column('checkpoint_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('known_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('cutoff', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('checkpoint_id', name='pk_cusum_checkpoints'),
    )
    op.create_index('ix_cusum_checkpoints_lookup', 'cusum_checkpoints',
                    ['device_id', 'model_version', 'config_hash', 'known_before'])
    op.create_table('cusum_checkpoint_charts',
    sa.Column('checkpoint_id', sa.Integer(), nullable=False),
    sa.Column('stratum', sa.Text(), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('q0', sa.Float(), nullable=False),
    sa.Column('q1', sa.Float(), nullable=False),
    sa.Column('h', sa.Float(), nullable=False),
    sa.Column('running_sum', sa.Float(), nullable=False),
    sa.Column('running_min', sa.Float(), nullable=False),
    sa.Column('cases', sa.BigInteger(), nullable=False),
    sa.Column('corrected', sa.BigInteger(), nullable=False),
    sa.Column('restarted_ns', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['cusum_checkpoints.checkpoint_id'],
                            name='fk_cusum_checkpoint_charts_checkpoint_id_cusum_checkpoints'),
    sa.PrimaryKeyConstraint('checkpoint_id', 'stratum', 'metric', name='pk_cusum_checkpoint_charts'),
    )
    op.create_table('cusum_design_bases',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('chart_cases', sa.Text(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'period_start', 'config_hash', name='pk_cusum_design_bases'),
    )


def downgrade() -> None:
    op.drop_table('cusum_design_bases')
    op.drop_table('cusum_checkpoint_charts')
    op.drop_index('ix_cusum_checkpoints_lookup', table_name='cusum_checkpoints')
    op.drop_table('cusum_checkpoints')
