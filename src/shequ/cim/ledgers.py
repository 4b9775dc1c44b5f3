"""The CIM ledgers: the housing register (楼盘表) and the community's physical objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shequ.cim import schemas as s
from shequ.cim import service
from shequ.cim.models import (
    Building,
    DevicePlacement,
    Facility,
    Floor,
    ParkingLot,
    ParkingSpace,
    Poi,
    Road,
    Room,
    Structure,
    Unit,
)
from shequ.kit.schema import partial

BASE_LON, BASE_LAT = 120.1205, 30.2902
SQUARE = [[0.0, 0.0], [0.0003, 0.0], [0.0003, 0.0002], [0.0, 0.0002], [0.0, 0.0]]


def square(n: int, size: float = 1.0) -> dict[str, Any]:
    """A small valid footprint polygon, shifted by `n` (for examples and tests)."""
    lon, lat = BASE_LON + 0.0005 * (n % 40), BASE_LAT + 0.0004 * (n // 40)
    ring = [[lon + x * size, lat + y * size] for x, y in SQUARE]
    return {"type": "Polygon", "coordinates": [ring]}


def _building(session: Session, community_id: int, n: int) -> Building:
    row = Building(community_id=community_id, code=f"X{n:03d}", name=f"示例楼{n}",
                   address_code=f"EX-{community_id}-{n}-{id(session) % 9973}")
    session.add(row)
    session.flush()
    return row


def _floor(session: Session, community_id: int, n: int) -> Floor:
    building = _building(session, community_id, 500 + n)
    unit = Unit(community_id=community_id, building_id=building.id, number=1, name="1单元",
                address_code=f"{building.address_code}-01")
    session.add(unit)
    session.flush()
    floor = Floor(community_id=community_id, building_id=building.id, unit_id=unit.id,
                  level_index=1, label="1F")
    session.add(floor)
    session.flush()
    return floor


def _lot(session: Session, community_id: int, n: int) -> ParkingLot:
    lot = ParkingLot(community_id=community_id, name=f"示例停车场{n}", capacity=10)
    session.add(lot)
    session.flush()
    return lot


EXAMPLES: dict[str, Any] = {
    "buildings": lambda _, c, n: {
        "community_id": c, "code": f"{n + 1}幢", "name": f"{n + 1}号楼",
        "use": ["residential", "commercial", "office"][n % 3], "floors_above": 6 + n,
        "footprint": square(n), "address": f"文二西路{n + 1}号"},
    "units": lambda ses, c, n: {
        "community_id": c, "building_id": _building(ses, c, n).id, "number": n % 9 + 1},
    "floors": lambda ses, c, n: {
        "community_id": c, "building_id": _building(ses, c, 100 + n).id,
        "level_index": n + 1, "height": 3.0},
    "rooms": lambda ses, c, n: {
        "community_id": c, "floor_id": _floor(ses, c, n).id, "number": f"{101 + n}",
        "use": ["residential", "commercial"][n % 2],
        "state": ["occupied", "rented", "vacant", "renovating"][n % 4],
        "building_area": 80.5 + n, "inner_area": 65.0 + n, "layout": "2室1厅"},
    "structures": lambda _, c, n: {
        "community_id": c, "name": f"构筑物{n}",
        "kind": ["pump_room", "power_room", "shelter", "pavilion"][n % 4],
        "geometry": square(n, 0.2), "height": 4.0 if n % 2 else None},
    "facilities": lambda _, c, n: {
        "community_id": c, "name": f"设施{n}",
        "category": ["fire", "water_supply", "drainage", "gas", "lighting"][n % 5],
        "kind": ["hydrant", "valve", "manhole", "meter", "lamp"][n % 5],
        "geometry": {"type": "Point", "coordinates": [BASE_LON + n * 1e-4, BASE_LAT]}},
    "roads": lambda _, c, n: {
        "community_id": c, "name": f"道路{n}", "width": 6.0,
        "geometry": {"type": "LineString", "coordinates": [
            [BASE_LON, BASE_LAT + n * 1e-4], [BASE_LON + 0.002, BASE_LAT + n * 1e-4]]}},
    "parking_lots": lambda _, c, n: {
        "community_id": c, "name": f"停车场{n}", "capacity": 20 + n, "geometry": square(n)},
    "parking_spaces": lambda ses, c, n: {
        "community_id": c, "lot_id": _lot(ses, c, n).id, "number": f"P{n:03d}",
        "kind": ["standard", "charging"][n % 2]},
    "pois": lambda _, c, n: {
        "community_id": c, "name": f"便利店{n}", "class_code": f"06{n % 10:02d}00",
        "lon": BASE_LON + n * 1e-4, "lat": BASE_LAT},
    "device_placements": lambda _, c, n: {
        "community_id": c, "name": f"烟感{n}",
        "model_kind": ["building_sensing", "environment_sensing", "security_monitoring"][n % 3],
        "lon": BASE_LON + n * 1e-4, "lat": BASE_LAT, "height": 3.0},
}


def _declare(name: str, model: Any, create: Any, label: tuple[str, str], *,
             filterable: tuple[str, ...], sortable: tuple[str, ...], search: tuple[str, ...],
             fixed: tuple[str, ...] = (), **options: Any) -> service.CimLedger:
    ledger = service.CimLedger(
        name=name, model=model, create_schema=create,
        update_schema=partial(create, exclude=("community_id", *fixed)),
        read_schema=s.READ[model], label=label, filterable=filterable,
        sortable=("id", "created_at", "updated_at", *sortable), search=search,
        layer="static", example=EXAMPLES[name], **options,
    )
    ledger.register()
    return ledger


REGISTER: dict[str, Any] = {"on_write": service.after_register_write}

buildings = _declare(
    "buildings", Building, s.BuildingCreate, ("楼栋", "Buildings"),
    filterable=("code", "use", "cim_level", "floors_above", "geometry_source", "created_at"),
    sortable=("code", "name", "floors_above", "cim_level"), search=("code", "name", "address",
                                                                      "address_code"),
    building_column="id", public_within_community=True,
    preparer=service.prepare_building, **REGISTER)
units = _declare(
    "units", Unit, s.UnitCreate, ("单元", "Units"),
    filterable=("building_id", "number", "cim_level"), sortable=("building_id", "number"),
    search=("name", "address_code"), fixed=("building_id",), building_column="building_id",
    refs={"building_id": "buildings"},
    public_within_community=True, preparer=service.prepare_unit, **REGISTER)
floors = _declare(
    "floors", Floor, s.FloorCreate, ("楼层", "Floors"),
    filterable=("building_id", "unit_id", "level_index", "cim_level"),
    sortable=("building_id", "level_index"), search=("label",),
    fixed=("building_id", "unit_id"), building_column="building_id",
    refs={"building_id": "buildings", "unit_id": "units"},
    public_within_community=True, preparer=service.prepare_floor, **REGISTER)
rooms = _declare(
    "rooms", Room, s.RoomCreate, ("房屋", "Rooms and households"),
    filterable=("building_id", "unit_id", "floor_id", "number", "use", "state", "cim_level",
                "address_code", "created_at"),
    sortable=("number", "building_id", "building_area", "state"),
    search=("number", "address", "address_code"), fixed=("floor_id",),
    refs={"building_id": "buildings", "unit_id": "units", "floor_id": "floors"},
    building_column="building_id", household_column="id",
    preparer=service.prepare_room, **REGISTER)
structures = _declare(
    "structures", Structure, s.StructureCreate, ("构筑物", "Structures"),
    filterable=("kind", "cim_level", "source"), sortable=("name", "kind"), search=("name",),
    public_within_community=True)
facilities = _declare(
    "facilities", Facility, s.FacilityCreate, ("设施", "Facilities"),
    filterable=("category", "kind", "cim_level", "building_id", "source"),
    sortable=("name", "category", "kind"), search=("name", "kind"),
    public_within_community=True, preparer=service.prepare_facility,
    refs={"building_id": "buildings"})
roads = _declare(
    "roads", Road, s.RoadCreate, ("道路", "Roads"), filterable=("kind", "cim_level"),
    sortable=("name",), search=("name",), public_within_community=True)
parking_lots = _declare(
    "parking_lots", ParkingLot, s.ParkingLotCreate, ("停车场", "Parking lots"),
    filterable=("kind", "cim_level"), sortable=("name", "capacity"), search=("name",),
    public_within_community=True, permission="parking")
parking_spaces = _declare(
    "parking_spaces", ParkingSpace, s.ParkingSpaceCreate, ("车位", "Parking spaces"),
    filterable=("lot_id", "kind", "number"), sortable=("lot_id", "number"), search=("number",),
    fixed=("lot_id",), public_within_community=True, permission="parking",
    refs={"lot_id": "parking_lots"},
    preparer=service.prepare_space)
pois = _declare(
    "pois", Poi, s.PoiCreate, ("兴趣点", "Points of interest"), filterable=("class_code",),
    sortable=("name", "class_code"), search=("name", "address"), public_within_community=True)
device_placements = _declare(
    "device_placements", DevicePlacement, s.DevicePlacementCreate,
    ("设备点位", "Device placements"),
    filterable=("model_kind", "building_id", "floor_id", "room_id", "facility_id",
                "cim_level", "device_id"),
    sortable=("name", "model_kind", "cim_level"), search=("name",),
    public_within_community=True, permission="devices", preparer=service.prepare_placement,
    refs={"building_id": "buildings", "floor_id": "floors", "room_id": "rooms",
          "facility_id": "facilities"})
