"""federated site summaries: site keys, signed bundles and their cells

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('site_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('devices', sa.JSON(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_by', sa.String(length=128), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_site_keys'))
    )
    op.create_index('ix_site_keys_site_id', 'site_keys', ['site_id'], unique=False)
    op.create_table('site_summaries',
    sa.Column('bundle_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('first_month', sa.String(length=7), nullable=False),
    sa.Column('last_month', sa.String(length=7), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by', sa.String(length=128), nullable=False),
    sa.Column('min_cell_size', sa.Integer(), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('small_cells', sa.Integer(), nullable=False),
    sa.Column('bundle', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['site_keys.key_id'], name=op.f('fk_site_summaries_key_id_site_keys')),
    sa.PrimaryKeyConstraint('bundle_id', name=op.f('pk_site_summaries'))
    )
    op.create_index('ix_site_summaries_device_id_site_id_first_month', 'site_summaries',
                    ['device_id', 'site_id', 'first_month'], unique=False)
    op.create_table('site_summary_cells',
    sa.Column('bundle_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('stratum_key', sa.Text(), nullable=False),
    sa.Column('tp', sa.BigInteger(), nullable=False),
    sa.Column('fp', sa.BigInteger(), nullable=False),
    sa.Column('fn', sa.BigInteger(), nullable=False),
    sa.Column('tn', sa.BigInteger(), nullable=False),
    sa.Column('pending', sa.BigInteger(), nullable=False),
    sa.Column('small', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['bundle_id'], ['site_summaries.bundle_id'],
                            name=op.f('fk_site_summary_cells_bundle_id_site_summaries')),
    sa.PrimaryKeyConstraint('bundle_id', 'month', 'model_version', 'stratum_key', name=op.f('pk_site_summary_cells'))
    )


def downgrade() -> None:
    op.drop_table('site_summary_cells')
    op.drop_index('ix_site_summaries_device_id_site_id_first_month', table_name='site_summaries')
    op.drop_table('site_summaries')
    op.drop_index('ix_site_keys_site_id', table_name='site_keys')
    op.drop_table('site_keys')
