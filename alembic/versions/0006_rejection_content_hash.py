"""content hash of rejected rows, to recognise a rejected row sent again

A rejected row re-sent unchanged (the same body posted twice, the same file dropped again) is not stored as
a second open quarantine entry: ``content_hash`` (SHA-256 of the log kind, reason and stored content) lets
ingestion find the open entry it repeats. Rows stored before this revision have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rejected_rows') as batch:
        batch.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
    op.create_index('ix_rejected_rows_content_hash', 'rejected_rows', ['content_hash'])


def downgrade() -> None:
    op.drop_index('ix_rejected_rows_content_hash', table_name='rejected_rows')
    with op.batch_alter_table('rejected_rows') as batch:
        batch.drop_column('content_hash')
