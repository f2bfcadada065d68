"""Register and update device configurations."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.domain.device import DeviceConfig
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["DeviceRegistration", "register_device"]


@dataclass(frozen=True)
class DeviceRegistration:
    """The outcome of registering a configuration."""

    device_id: str
    config_version: int
    changed: bool
    config_hash: str


def register_device(config: DeviceConfig, *, uow: UnitOfWorkFactory, clock: Clock, actor: str,
                    source: str) -> DeviceRegistration:
    """Store ``config`` as the device's current configuration (a new version when it changed)."""
    with uow() as unit:
        at = clock()
        try:
            previous = unit.devices.get(config.device.id).config_hash()
        except LookupError:
            previous = None
        version, changed = unit.devices.save(config, at=at, actor=actor)
        if changed:
            unit.audit.append(at=at, actor=actor, action="device.configure", entity="device",
                              entity_id=config.device.id,
                              details={"source": source, "config_version": version,
                                       "old_config_hash": previous, "new_config_hash": config.config_hash()})
    return DeviceRegistration(config.device.id, version, changed, config.config_hash())
