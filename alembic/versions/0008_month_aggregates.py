"""per-month window aggregates beside the count cells

Every window aggregate that is the sum of its months' values (verification cells, score and feature
histograms, label sources) is kept per device and local month in ``month_aggregates``, recounted in the
same pass as the month's count cells and sharing its ``cell_months`` state (docs/count-cells.md). The
months counted before this revision have cells but no aggregates, so they are marked dirty: the next
analysis (or ``samd-monitor cells refresh``) recounts both. Downgrade drops the table (the cells stay).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('month_aggregates',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'month', 'kind', name='pk_month_aggregates'),
    )
    cell_months = sa.table('cell_months', sa.column('state', sa.String))
    op.execute(cell_months.update().values(state='dirty'))


def downgrade() -> None:
    op.drop_table('month_aggregates')
