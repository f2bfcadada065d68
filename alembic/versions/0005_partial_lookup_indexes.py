"""partial indexes for the study and accession lookups of ground truth

The indexes on (device_id, study_uid) and (device_id, accession_hash) serve only lookups of a given
study or accession, never of a missing one: kept only for the rows that carry one, they cost nothing
to the many predictions logged without (about a fifth of the COPY time of such rows on PostgreSQL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, column in (('ix_predictions_device_study', 'study_uid'),
                         ('ix_predictions_device_accession', 'accession_hash')):
        op.drop_index(name, table_name='predictions')
        present = sa.text(f'{column} IS NOT NULL')
        op.create_index(name, 'predictions', ['device_id', column], postgresql_where=present, sqlite_where=present)


def downgrade() -> None:
    for name, column in (('ix_predictions_device_study', 'study_uid'),
                         ('ix_predictions_device_accession', 'accession_hash')):
        op.drop_index(name, table_name='predictions')
        op.create_index(name, 'predictions', ['device_id', column])
