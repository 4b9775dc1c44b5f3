"""Input and output models of the CIM ledgers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from shequ.cim.geo import Area, PointOrLine
from shequ.cim.models import (
    Building,
    BuildingUse,
    DeviceModelKind,
    DevicePlacement,
    Facility,
    FacilityCategory,
    Floor,
    GeometrySource,
    ParkingLot,
    ParkingSpace,
    Poi,
    Road,
    Room,
    RoomState,
    RoomUse,
    Structure,
    StructureKind,
    Unit,
)
from shequ.kit.schema import Id, StrictInput, partial, row_schema

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\u4e00-\u9fff_-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Level = Annotated[int, Field(ge=1, le=4)]
Metres = Annotated[float, Field(ge=0, le=1000)]
SquareMetres = Annotated[float, Field(gt=0, le=100_000)]


class Input(BaseModel):
    """Every CIM input refuses unknown fields and names its community (or infers it)."""

    model_config = StrictInput
    community_id: Id | None = None


class BuildingCreate(Input):
    """A building of the housing register."""

    code: Code
    name: Name
    address_code: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200)
    use: BuildingUse = BuildingUse.residential
    floors_above: int = Field(default=1, ge=1, le=200)
    floors_below: int = Field(default=0, ge=0, le=20)
    floor_height: float = Field(default=3.0, gt=1.5, le=20)
    height: Metres | None = None
    built_year: int | None = Field(default=None, ge=1800, le=2100)
    footprint: Area | None = None
    modelling_level: Level = 3
    attributes: dict[str, Any] | None = None


class UnitCreate(Input):
    """A unit (单元) of a building."""

    building_id: Id
    number: int = Field(ge=1, le=99)
    name: str | None = Field(default=None, max_length=40)
    address_code: str | None = Field(default=None, max_length=64)
    footprint: Area | None = None


class FloorCreate(Input):
    """A floor of a building (of one unit when the building has units)."""

    building_id: Id
    unit_id: Id | None = None
    level_index: int = Field(ge=-20, le=200)
    label: str | None = Field(default=None, max_length=16)
    elevation: float | None = Field(default=None, ge=-100, le=1000)
    height: float = Field(default=3.0, gt=1.5, le=20)


class RoomCreate(Input):
    """A room or household of the register."""

    floor_id: Id
    number: Code
    address_code: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200)
    use: RoomUse = RoomUse.residential
    state: RoomState = RoomState.vacant
    building_area: SquareMetres | None = None
    inner_area: SquareMetres | None = None
    fee_coefficient: float = Field(default=1.0, gt=0, le=10)
    layout: str | None = Field(default=None, max_length=32)


class StructureCreate(Input):
    """A structure (构筑物)."""

    name: Name
    kind: StructureKind
    geometry: Area | None = None
    height: Metres | None = None
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    source: GeometrySource = GeometrySource.survey


class FacilityCreate(Input):
    """A facility by the guide's categories."""

    name: Name
    category: FacilityCategory
    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    geometry: PointOrLine | None = None
    height: Metres | None = None
    building_id: Id | None = None
    source: GeometrySource = GeometrySource.survey
    attributes: dict[str, Any] | None = None


class RoadCreate(Input):
    """A road as a centre line or a surface."""

    name: Name
    kind: str = Field(default="road", max_length=24)
    width: Metres | None = None
    geometry: PointOrLine | None = None


class ParkingLotCreate(Input):
    """A parking lot."""

    name: Name
    kind: str = Field(default="surface", pattern=r"^(surface|underground|garage)$")
    capacity: int = Field(default=0, ge=0, le=100_000)
    geometry: Area | None = None


class ParkingSpaceCreate(Input):
    """A parking space."""

    lot_id: Id
    number: Code
    kind: str = Field(default="standard", pattern=r"^(standard|charging|accessible|large)$")
    geometry: Area | None = None


class PoiCreate(Input):
    """A point of interest with a GB/T 35648 class code (six digits)."""

    name: Name
    class_code: str = Field(pattern=r"^[0-9]{6}$")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    address: str | None = Field(default=None, max_length=200)


class DevicePlacementCreate(Input):
    """Where a device sits: a room, floor, building, facility, or its own coordinates."""

    name: Name
    model_kind: DeviceModelKind
    device_id: Id | None = None
    building_id: Id | None = None
    floor_id: Id | None = None
    room_id: Id | None = None
    facility_id: Id | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    height: float | None = Field(default=None, ge=-100, le=1000)


READ = {model: row_schema(model, f"{model.__name__}Read") for model in (
    Building, Unit, Floor, Room, Structure, Facility, Road, ParkingLot, ParkingSpace, Poi,
    DevicePlacement)}
UPDATE = {create: partial(create) for create in (
    BuildingCreate, UnitCreate, FloorCreate, RoomCreate, StructureCreate, FacilityCreate,
    RoadCreate, ParkingLotCreate, ParkingSpaceCreate, PoiCreate, DevicePlacementCreate)}
