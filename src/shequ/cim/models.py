"""The community CIM (静态模型): the housing register (楼盘表), structures, facilities,
roads and parking, points of interest, device placements, geometry and CIM levels."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import Base, BigId, IdMixin, JsonData, LedgerBase, TimestampMixin, live_index


class GeometrySource(enum.StrEnum):
    """Where an object's geometry came from (3.5-1 provenance)."""

    none = "none"
    register = "register"
    procedural = "procedural"
    survey = "survey"
    design = "design"
    geojson = "geojson"
    cityjson = "cityjson"
    citygml = "citygml"
    ifc = "ifc"


class BuildingUse(enum.StrEnum):
    """What a building is mainly used for."""

    residential = "residential"
    commercial = "commercial"
    office = "office"
    mixed = "mixed"
    public = "public"
    parking = "parking"
    other = "other"


class RoomUse(enum.StrEnum):
    """What a room (户) is used for."""

    residential = "residential"
    commercial = "commercial"
    office = "office"
    parking = "parking"
    storage = "storage"
    public = "public"
    other = "other"


class RoomState(enum.StrEnum):
    """Occupancy state of a room."""

    occupied = "occupied"
    rented = "rented"
    vacant = "vacant"
    renovating = "renovating"


class StructureKind(enum.StrEnum):
    """Structures (构筑物) of Table 3."""

    pump_room = "pump_room"
    power_room = "power_room"
    shelter = "shelter"
    pavilion = "pavilion"
    guard_room = "guard_room"
    waste_station = "waste_station"
    other = "other"


class FacilityCategory(enum.StrEnum):
    """The guide's facility categories (Table 2 static rows)."""

    water_supply = "water_supply"
    drainage = "drainage"
    gas = "gas"
    sanitation = "sanitation"
    power = "power"
    lighting = "lighting"
    pipeline = "pipeline"
    fire = "fire"
    other = "other"


class DeviceModelKind(enum.StrEnum):
    """Smart-device model kinds (3.6-1, Table 2)."""

    building_sensing = "building_sensing"
    environment_sensing = "environment_sensing"
    security_monitoring = "security_monitoring"
    smart_recognition = "smart_recognition"
    other = "other"


class CimSite(IdMixin, TimestampMixin, Base):
    """A community's CIM frame: local origin, source CRS, chosen level, model version."""

    __tablename__ = "cim_sites"

    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"), unique=True)
    origin_lon: Mapped[float] = mapped_column(Float)
    origin_lat: Mapped[float] = mapped_column(Float)
    origin_height: Mapped[float] = mapped_column(Float, default=0.0)
    source_crs: Mapped[str] = mapped_column(String(60), default="EPSG:4490")
    target_level: Mapped[int] = mapped_column(default=3)
    model_version: Mapped[int] = mapped_column(default=1)


class Building(LedgerBase, Base):
    """A building (楼栋) with its register data and footprint."""

    __tablename__ = "buildings"
    __table_args__ = (
        UniqueConstraint("community_id", "code", name="uq_buildings_community_code"),
        UniqueConstraint("community_id", "address_code", name="uq_buildings_address_code"),
        live_index("ix_buildings_community_level", "community_id", "cim_level", "code"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    address_code: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(200))
    use: Mapped[BuildingUse] = mapped_column(String(16), default=BuildingUse.residential)
    floors_above: Mapped[int] = mapped_column(default=1)
    floors_below: Mapped[int] = mapped_column(default=0)
    floor_height: Mapped[float] = mapped_column(Float, default=3.0)
    height: Mapped[float | None] = mapped_column(Float)
    built_year: Mapped[int | None]
    footprint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    geometry_source: Mapped[GeometrySource] = mapped_column(String(16),
                                                            default=GeometrySource.none)
    modelling_level: Mapped[int] = mapped_column(default=3)
    cim_level: Mapped[int] = mapped_column(default=1)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JsonData)


class Unit(LedgerBase, Base):
    """A unit (单元): one stairwell's share of a building."""

    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("building_id", "number", name="uq_units_building_number"),
        live_index("ix_units_community_building", "community_id", "building_id", "number"),
    )

    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"), index=True)
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    address_code: Mapped[str] = mapped_column(String(64))
    footprint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cim_level: Mapped[int] = mapped_column(default=1)


class Floor(LedgerBase, Base):
    """A floor (楼层) of a building, per unit where the building is split into units."""

    __tablename__ = "floors"
    __table_args__ = (
        UniqueConstraint("building_id", "unit_id", "level_index", name="uq_floors_position"),
        live_index("ix_floors_community_building", "community_id", "building_id", "level_index"),
    )

    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("units.id"), index=True)
    level_index: Mapped[int]
    label: Mapped[str] = mapped_column(String(16))
    elevation: Mapped[float] = mapped_column(Float, default=0.0)
    height: Mapped[float] = mapped_column(Float, default=3.0)
    cim_level: Mapped[int] = mapped_column(default=1)


class Room(LedgerBase, Base):
    """A room or household (户): the housing register row residents and fees attach to."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("floor_id", "number", name="uq_rooms_floor_number"),
        UniqueConstraint("community_id", "address_code", name="uq_rooms_address_code"),
        live_index("ix_rooms_community_building", "community_id", "building_id", "number"),
        live_index("ix_rooms_community_state", "community_id", "state", "building_id"),
    )

    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("units.id"))
    floor_id: Mapped[int] = mapped_column(BigId, ForeignKey("floors.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    address_code: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(200))
    use: Mapped[RoomUse] = mapped_column(String(16), default=RoomUse.residential)
    state: Mapped[RoomState] = mapped_column(String(16), default=RoomState.vacant)
    building_area: Mapped[float | None] = mapped_column(Float)
    inner_area: Mapped[float | None] = mapped_column(Float)
    fee_coefficient: Mapped[float] = mapped_column(Float, default=1.0)
    layout: Mapped[str | None] = mapped_column(String(32))
    cim_level: Mapped[int] = mapped_column(default=1)


class Structure(LedgerBase, Base):
    """A structure (构筑物): pump and power rooms, shelters, pavilions."""

    __tablename__ = "structures"
    __table_args__ = (live_index("ix_structures_community_kind", "community_id", "kind"),)

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[StructureKind] = mapped_column(String(24))
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    height: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None]
    source: Mapped[GeometrySource] = mapped_column(String(16), default=GeometrySource.survey)
    cim_level: Mapped[int] = mapped_column(default=1)


class Facility(LedgerBase, Base):
    """A facility (设施) by the guide's categories, as point, line or solid."""

    __tablename__ = "facilities"
    __table_args__ = (
        live_index("ix_facilities_community_category", "community_id", "category", "kind"),
    )

    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[FacilityCategory] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(40))
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    height: Mapped[float | None] = mapped_column(Float)
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    source: Mapped[GeometrySource] = mapped_column(String(16), default=GeometrySource.survey)
    cim_level: Mapped[int] = mapped_column(default=1)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JsonData)


class Road(LedgerBase, Base):
    """A road or path, as a centre line or a surface."""

    __tablename__ = "roads"

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24), default="road")
    width: Mapped[float | None] = mapped_column(Float)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cim_level: Mapped[int] = mapped_column(default=1)


class ParkingLot(LedgerBase, Base):
    """A parking lot: surface or underground."""

    __tablename__ = "parking_lots"

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24), default="surface")
    capacity: Mapped[int] = mapped_column(default=0)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cim_level: Mapped[int] = mapped_column(default=1)


class ParkingSpace(LedgerBase, Base):
    """One parking space of a lot."""

    __tablename__ = "parking_spaces"
    __table_args__ = (
        UniqueConstraint("lot_id", "number", name="uq_parking_spaces_lot_number"),
        live_index("ix_parking_spaces_community_lot", "community_id", "lot_id", "number"),
    )

    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("parking_lots.id"), index=True)
    number: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="standard")
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cim_level: Mapped[int] = mapped_column(default=1)


class Poi(LedgerBase, Base):
    """A point of interest with its GB/T 35648 class code."""

    __tablename__ = "pois"

    name: Mapped[str] = mapped_column(String(100))
    class_code: Mapped[str] = mapped_column(String(6))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))


class DevicePlacement(LedgerBase, Base):
    """Where a smart device sits in the model; `device_id` is filled by the sensing layer."""

    __tablename__ = "device_placements"
    __table_args__ = (live_index("ix_device_placements_community_kind", "community_id",
                                 "model_kind"),)

    name: Mapped[str] = mapped_column(String(100))
    model_kind: Mapped[DeviceModelKind] = mapped_column(String(24))
    device_id: Mapped[int | None] = mapped_column(BigId, index=True)
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    floor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("floors.id"))
    room_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    facility_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("facilities.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    cim_level: Mapped[int] = mapped_column(default=1)


class CimGeometry(IdMixin, Base):
    """Imported or generated geometry of one object, in the site's local ENU frame."""

    __tablename__ = "cim_geometries"
    __table_args__ = (
        live_index("ix_cim_geometries_object", "community_id", "object_type", "object_id"),
    )

    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(BigId)
    lod: Mapped[str] = mapped_column(String(8))
    source: Mapped[GeometrySource] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
