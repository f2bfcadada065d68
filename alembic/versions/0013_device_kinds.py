"""Device kinds beyond one binary call (issue 17)

``predictions``: ``predicted_level`` (the level of an ordinal output), ``low_confidence`` (the AI's
low-confidence flag), ``comparator_score`` and ``comparator_label`` (a reference reader or guideline score on the
same study), ``overlap_volume_mm3`` (the overlap of the AI and the reviewed masks, for Dice / IoU); ``ground_truth``: ``label_level`` (an ordinal reference grade). Nullable columns only: existing rows
keep their values and hashes; downgrade drops them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_PREDICTION_COLUMNS = (("predicted_level", sa.SmallInteger()), ("low_confidence", sa.SmallInteger()),
                       ("comparator_score", sa.Float()), ("comparator_label", sa.SmallInteger()),
                       ("overlap_volume_mm3", sa.Float()))


def upgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        for name, kind in _PREDICTION_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table('ground_truth') as batch:
        batch.add_column(sa.Column('label_level', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ground_truth') as batch:
        batch.drop_column('label_level')
    with op.batch_alter_table('predictions') as batch:
        for name, _ in reversed(_PREDICTION_COLUMNS):
            batch.drop_column(name)
