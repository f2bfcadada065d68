"""retire monitoring.audit_half_width from stored device configurations

The audit plan is now sized on a relative scale (``labels.audit_relative_half_width``, issue 19): the
absolute half-width on a ~1% false-omission rate asked for a handful of over-reads. The configuration model
no longer accepts ``monitoring.audit_half_width``, so this revision removes the key from the stored
configurations (current and historical versions), which would otherwise no longer load. The stored
``config_hash`` values are left as registered: they identify the configuration each analysis used.
Downgrade puts the old default (0.02) back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TABLES = (("devices", "device_id"), ("device_config_versions", "id"))


def _rewrite(change: Any) -> None:
    connection = op.get_bind()
    for name, key in _TABLES:
        table = sa.table(name, sa.column(key), sa.column("config", sa.JSON))
        for row_key, config in connection.execute(sa.select(table.c[key], table.c.config)).all():
            value = json.loads(config) if isinstance(config, str) else config
            if isinstance(value, dict) and change(value.setdefault("monitoring", {})):
                connection.execute(table.update().where(table.c[key] == row_key).values(config=value))


def upgrade() -> None:
    _rewrite(lambda monitoring: monitoring.pop("audit_half_width", None) is not None)


def downgrade() -> None:
    def restore(monitoring: dict[str, Any]) -> bool:
        monitoring.setdefault("audit_half_width", 0.02)
        return True

    _rewrite(restore)
