"""Registered devices and their configuration versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from monitor.adapters.db.tables import device_config_versions, devices, model_versions, sites
from monitor.domain.device import DeviceConfig
from monitor.errors import NotFoundError

__all__ = ["DeviceRepository"]


class DeviceRepository:
    """Read and register device configurations."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def configs(self) -> dict[str, DeviceConfig]:
        """All registered devices' current configurations."""
        rows = self._conn.execute(select(devices.c.device_id, devices.c.config))
        return {r.device_id: DeviceConfig.model_validate(r.config) for r in rows}

    def get(self, device_id: str) -> DeviceConfig:
        """The current configuration of ``device_id``."""
        row = self._conn.execute(select(devices.c.config).where(devices.c.device_id == device_id)).first()
        if row is None:
            known = sorted(self.configs())
            raise NotFoundError(f"device {device_id!r} is not registered (known: {', '.join(known) or 'none'})")
        return DeviceConfig.model_validate(row.config)

    def save(self, config: DeviceConfig, *, at: datetime, actor: str) -> tuple[int, bool]:
        """Register or update a device; return ``(config_version, changed)``."""
        device_id = config.device.id
        document = config.model_dump(mode="json")
        digest = config.config_hash()
        current = self._conn.execute(
            select(devices.c.config_hash, devices.c.config_version).where(devices.c.device_id == device_id)
        ).first()
        if current is not None and current.config_hash == digest:
            return current.config_version, False
        version = 1 if current is None else current.config_version + 1
        values = dict(name=config.device.name, config=document, config_hash=digest, config_version=version, updated_at=at)
        if current is None:
            self._conn.execute(devices.insert().values(device_id=device_id, created_at=at, **values))
        else:
            self._conn.execute(devices.update().where(devices.c.device_id == device_id).values(**values))
        self._conn.execute(device_config_versions.insert().values(
            device_id=device_id, version=version, config=document, config_hash=digest, created_at=at, created_by=actor,
        ))
        return version, True

    def list(self) -> list[dict[str, object]]:
        """Devices with their name, configuration version and counts of model versions and sites."""
        mv = select(model_versions.c.device_id, func.count().label("n")).group_by(model_versions.c.device_id).subquery()
        st = select(sites.c.device_id, func.count().label("n")).group_by(sites.c.device_id).subquery()
        rows = self._conn.execute(
            select(devices.c.device_id, devices.c.name, devices.c.config_version,
                   func.coalesce(mv.c.n, 0).label("model_versions"), func.coalesce(st.c.n, 0).label("sites"))
            .outerjoin(mv, mv.c.device_id == devices.c.device_id)
            .outerjoin(st, st.c.device_id == devices.c.device_id)
            .order_by(devices.c.device_id)
        )
        return [dict(r._mapping) for r in rows]

    def model_versions(self, device_id: str) -> list[str]:
        """Model versions seen in the logs of ``device_id``."""
        rows = self._conn.execute(
            select(model_versions.c.model_version).where(model_versions.c.device_id == device_id)
            .order_by(model_versions.c.first_seen_at, model_versions.c.model_version)
        )
        return [r.model_version for r in rows]

    def sites(self, device_id: str) -> list[str]:
        """Sites seen in the logs of ``device_id``."""
        rows = self._conn.execute(select(sites.c.site_id).where(sites.c.device_id == device_id).order_by(sites.c.site_id))
        return [r.site_id for r in rows]
