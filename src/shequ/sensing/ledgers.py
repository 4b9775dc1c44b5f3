"""The device ledger (设备台账, 6.4.1.a) on the generic ledger layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shequ.cim.models import DeviceModelKind, DevicePlacement
from shequ.kit.ledger import Ledger
from shequ.kit.scope import Principal
from shequ.sensing import registry
from shequ.sensing.models import Device
from shequ.sensing.schemas import DeviceCreate, DeviceRead, DeviceUpdate

EXAMPLE_TYPES = ("smoke_detector", "streetlight_controller", "water_meter", "waste_bin_sensor")
BASE_LON, BASE_LAT = 120.1205, 30.2902


@dataclass
class DeviceLedger(Ledger[Device]):
    """Devices: type and format checked against the catalogue and adapters, secrets digested,
    placements linked, broker accounts kept in step."""

    def prepare(self, session: Session, principal: Principal, data: dict[str, Any],
                current: Device | None) -> dict[str, Any]:
        """Check the type, format, place and indicators; digest a new secret."""
        return registry.prepare_device(session, data, current)

    def after_write(self, session: Session, principal: Principal, row: Device) -> None:
        """Link the CIM placement and provision the broker account."""
        registry.after_device_write(session, row)


def example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    """Device number n of a community, placed at a new CIM placement."""
    placement = DevicePlacement(community_id=community_id, name=f"点位{n}",
                                model_kind=DeviceModelKind.building_sensing,
                                lon=BASE_LON + n * 1e-4, lat=BASE_LAT, height=3.0)
    session.add(placement)
    session.flush()
    device_type = EXAMPLE_TYPES[n % len(EXAMPLE_TYPES)]
    return {
        "community_id": community_id, "code": f"dev-{n:04d}", "name": f"设备{n}",
        "device_type": device_type, "model": f"M-{n % 3}",
        "vendor": ["海康", "大华", "华为"][n % 3],
        "serial": f"SN{n:08d}", "placement_id": placement.id,
        "installed_on": f"2024-0{n % 9 + 1}-15",
        "lifecycle": ["installed", "active", "maintenance"][n % 3],
        "payload_format": ["native", "sensorthings"][n % 2],
    }


devices = DeviceLedger(
    name="devices", model=Device, create_schema=DeviceCreate, update_schema=DeviceUpdate,
    read_schema=DeviceRead, label=("设备台账", "Devices"),
    labels={
        "code": ("设备编码", "Device code"), "device_type": ("设备类型", "Device type"),
        "model": ("型号", "Model"), "vendor": ("厂商", "Vendor"), "serial": ("序列号", "Serial"),
        "placement_id": ("设备点位", "Placement"), "installed_on": ("安装日期", "Installed on"),
        "lifecycle": ("生命周期", "Lifecycle"), "payload_format": ("报文格式", "Payload format"),
        "secret": ("设备密钥", "Device secret"), "credentials_at": ("密钥设置时间",
                                                                 "Credentials set at"),
        "properties": ("指标属性", "Indicator properties"),
        "connectivity": ("在线状态", "Connectivity"), "last_seen_at": ("最近通信", "Last seen"),
    },
    filterable=("device_type", "lifecycle", "connectivity", "vendor", "model", "placement_id",
                "building_id", "room_id", "payload_format", "installed_on", "created_at"),
    sortable=("id", "code", "name", "device_type", "lifecycle", "installed_on",
              "last_seen_at", "created_at", "updated_at"),
    search=("code", "name", "serial", "vendor"),
    permission="devices", building_column="building_id", layer="sensing", example=example,
).register()
