"""CIM verbs: the site frame, parent checks, standard addresses (标准地址), levels, versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cim.geo import bbox, centroid
from shequ.cim.levels import placement_level, refresh_building, shape_level
from shequ.cim.models import (
    Building,
    CimGeometry,
    CimSite,
    DevicePlacement,
    Facility,
    Floor,
    GeometrySource,
    ParkingLot,
    Room,
    Structure,
    Unit,
)
from shequ.kit.errors import ValidationFailed
from shequ.kit.ledger import Ledger
from shequ.kit.scope import Principal
from shequ.platform.models import Community

Preparer = Callable[[Session, dict[str, Any], Any], dict[str, Any]]


def site(session: Session, community_id: int,
         near: tuple[float, float] | None = None) -> CimSite:
    """The community's CIM frame, created around `near` (lon, lat) the first time."""
    found = session.scalar(select(CimSite).where(CimSite.community_id == community_id))
    if found is None:
        lon, lat = near or (120.1551, 30.2741)
        found = CimSite(community_id=community_id, origin_lon=lon, origin_lat=lat)
        session.add(found)
        session.flush()
    return found


def bump(session: Session, community_id: int) -> None:
    """Mark the community's model changed (3D Tiles are regenerated on next request)."""
    current = site(session, community_id)
    current.model_version += 1


def parent(session: Session, model: Any, row_id: int | None, community_id: int,
           field: str) -> Any:
    """A live parent row of the same community, or a 422 naming the field."""
    row = session.get(model, row_id) if row_id else None
    if row is None or row.community_id != community_id or row.deleted_at is not None:
        raise ValidationFailed(code="cim.parent_missing", field=field, id=row_id,
                               errors=[{"field": field, "code": "cim.parent_missing"}])
    return row


def _merged(data: dict[str, Any], current: Any, *names: str) -> dict[str, Any]:
    return {n: data[n] if n in data else getattr(current, n, None) for n in names}


def prepare_building(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """Address code, bounding box, height and geometry source of a building."""
    values = _merged(data, current, "community_id", "code", "footprint", "height",
                     "floors_above", "floor_height")
    if current is None and not data.get("address_code"):
        community = session.get(Community, values["community_id"])
        data["address_code"] = f"{community.code if community else 'C'}-{values['code']}"
    if "footprint" in data:
        box = bbox(data["footprint"])
        data["min_lon"], data["min_lat"], data["max_lon"], data["max_lat"] = box or (None,) * 4
        if data["footprint"]:
            site(session, values["community_id"], centroid(data["footprint"]))
            data.setdefault("geometry_source", GeometrySource.register)
    if values["footprint"] and not values["height"] and values["floors_above"]:
        data["height"] = round(values["floors_above"] * (values["floor_height"] or 3.0), 2)
    return data


def prepare_unit(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """A unit's building must exist; name and address code follow the number."""
    if current is None:
        building = parent(session, Building, data["building_id"], data["community_id"],
                          "building_id")
        data["name"] = data.get("name") or f"{data['number']}单元"
        data["address_code"] = data.get("address_code") or (
            f"{building.address_code}-{data['number']:02d}")
    return data


def prepare_floor(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """A floor's unit must belong to its building; label and elevation follow the index."""
    if current is None:
        parent(session, Building, data["building_id"], data["community_id"], "building_id")
        if data.get("unit_id"):
            unit = parent(session, Unit, data["unit_id"], data["community_id"], "unit_id")
            if unit.building_id != data["building_id"]:
                raise ValidationFailed(code="cim.unit_elsewhere", errors=[
                    {"field": "unit_id", "code": "cim.unit_elsewhere"}])
    values = _merged(data, current, "level_index", "height", "label", "elevation")
    index, height = values["level_index"], values["height"] or 3.0
    if not values["label"]:
        data["label"] = f"{index}F" if index > 0 else f"B{-index}" if index < 0 else "0F"
    if values["elevation"] is None:
        data["elevation"] = round((index - 1) * height if index > 0 else index * height, 2)
    return data


def prepare_room(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """A room takes its building and unit from its floor; address code and address follow."""
    if current is None:
        floor = parent(session, Floor, data["floor_id"], data["community_id"], "floor_id")
        building = session.get(Building, floor.building_id)
        unit = session.get(Unit, floor.unit_id) if floor.unit_id else None
        assert building is not None
        data["building_id"], data["unit_id"] = floor.building_id, floor.unit_id
        prefix = unit.address_code if unit else building.address_code
        data["address_code"] = data.get("address_code") or f"{prefix}-{data['number']}"
        place = f"{building.name}{unit.name if unit else ''}{data['number']}室"
        data["address"] = data.get("address") or (
            f"{building.address}{place}" if building.address else place)
    return data


def prepare_placement(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """Every anchor of a placement must exist in the community."""
    community = data.get("community_id") or current.community_id
    for field, model in (("building_id", Building), ("floor_id", Floor), ("room_id", Room),
                         ("facility_id", Facility)):
        if data.get(field):
            parent(session, model, data[field], community, field)
    return data


def prepare_space(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """A parking space's lot must exist."""
    if current is None:
        parent(session, ParkingLot, data["lot_id"], data["community_id"], "lot_id")
    return data


def prepare_facility(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """A facility inside a building names a building of the same community."""
    community = data.get("community_id") or current.community_id
    if data.get("building_id"):
        parent(session, Building, data["building_id"], community, "building_id")
    return data


def after_register_write(session: Session, row: Any) -> None:
    """Re-derive the building's CIM level and bump the model version."""
    building = row if isinstance(row, Building) else session.get(Building, row.building_id)
    if building is not None:
        refresh_building(session, building)
    bump(session, row.community_id)


def after_shape_write(session: Session, row: Any) -> None:
    """Set a facility's, structure's or placement's level and bump the model version."""
    if isinstance(row, DevicePlacement):
        row.cim_level = placement_level(row)
    elif isinstance(row, Facility | Structure):
        has_model = session.scalar(select(CimGeometry.id).where(
            CimGeometry.object_type == row.__tablename__, CimGeometry.object_id == row.id,
            CimGeometry.deleted_at.is_(None)).limit(1)) is not None
        row.cim_level = shape_level(row.geometry, row.height, has_model)
    else:
        row.cim_level = 2 if getattr(row, "geometry", None) else 1
    bump(session, row.community_id)


@dataclass
class CimLedger(Ledger[Any]):
    """A ledger of the CIM: preparation and level upkeep through the named hooks."""

    preparer: Preparer | None = None
    on_write: Callable[[Session, Any], None] = after_shape_write

    def prepare(self, session: Session, principal: Principal, data: dict[str, Any],
                current: Any) -> dict[str, Any]:
        """Run the kind's preparer."""
        return self.preparer(session, data, current) if self.preparer else data

    def after_write(self, session: Session, principal: Principal, row: Any) -> None:
        """Keep levels and the model version current."""
        session.flush()
        self.on_write(session, row)
