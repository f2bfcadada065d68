"""CAPA ticket fields of regulatory.md section 3 (issue 16 item 5)

``tickets.capa``: the CAPA record of a ticket (monitor.domain.capa.CapaRecord as JSON: identification, trigger
evidence, risk, reportability, containment, root cause, modification and pathway, data management, acceptance
criteria, impact, verification of effectiveness, approvals). NULL on tickets opened before this revision: they
keep the earlier lifecycle except closing, which needs a record (docs/tickets.md). Downgrade drops the column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('capa', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('capa')
