"""The keyed audit chain and regulated-table digests (issue 16 item 4)

``audit_log.key_id``: the fingerprint of the key whose HMAC-SHA256 is the record's hash (NULL: a legacy
record, hashed with unkeyed SHA-256 before this revision; the chain continues from them and they stay
verifiable). ``audit_log.row_digests``: the SHA-256 digests of the regulated rows of the record's entity
(monitor.domain.audit_chain). ``ix_audit_log_entity``: the newest record of an entity, found at each append.
Existing records are left exactly as they are (their hashes cover only their old fields). Downgrade drops
the columns and the index; keyed records then no longer verify (the old code cannot recompute them).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('row_digests', sa.JSON(), nullable=True))
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_column('row_digests')
        batch_op.drop_column('key_id')
