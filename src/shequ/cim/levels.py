"""CIM levels 1–4 (Table 3, 4.1.2) computed from what the data holds, and the level report.

Rules, per object:
- Building: 1 register only; 2 footprint and height (white model, 白模); 3 split into units
  and floors (standard model, 标模; a model without units, such as most IFC files, splits by
  floor alone); 4 per-household geometry (fine model, 精模): imported room
  geometry, or the procedural fine model when the building's modelling level is 4 and every
  floor has rooms. The stored level is min(modelling level, supported level).
- Facility and structure (Table 3; 4.1.2.b disagrees, marked [!] in the requirements): 1 ledger
  only; 2 point, line or polygon; 3 the same with a height (a solid); 4 imported model geometry.
- Device placement (4.1.2.c-1): 1 ledger only; 3 anchored to a building, floor, room or
  facility; 4 own coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shequ.cim.models import (
    Building,
    CimGeometry,
    DevicePlacement,
    Facility,
    FacilityCategory,
    Floor,
    Room,
    Structure,
    Unit,
)

LEVEL_NEEDS = {
    2: "cim.levels.need_footprint",
    3: "cim.levels.need_split",
    4: "cim.levels.need_households",
}


def _live(model: Any) -> Any:
    return model.deleted_at.is_(None)


def building_support(session: Session, building: Building) -> int:
    """The highest level a building's data supports."""
    if not building.footprint or not (building.height or building.floors_above):
        return 1
    floors = session.scalar(select(func.count()).where(
        Floor.building_id == building.id, _live(Floor))) or 0
    unit_floors = session.scalar(select(func.count()).where(
        Floor.building_id == building.id, _live(Floor), Floor.unit_id.is_not(None))) or 0
    units = session.scalar(select(func.count()).where(
        Unit.building_id == building.id, _live(Unit))) or 0
    if floors == 0 or (units and unit_floors == 0):
        return 2
    rooms = session.scalar(select(func.count()).where(
        Room.building_id == building.id, _live(Room))) or 0
    with_geometry = session.scalar(select(func.count(func.distinct(CimGeometry.object_id))).where(
        CimGeometry.object_type == "room", CimGeometry.deleted_at.is_(None),
        CimGeometry.object_id.in_(select(Room.id).where(
            Room.building_id == building.id, _live(Room))))) or 0
    if rooms and with_geometry == rooms:
        return 4
    empty_floors = session.scalar(select(func.count()).where(
        Floor.building_id == building.id, _live(Floor),
        ~select(Room.id).where(Room.floor_id == Floor.id, _live(Room)).exists())) or 0
    if rooms and empty_floors == 0 and building.modelling_level >= 4:
        return 4
    return 3


def refresh_building(session: Session, building: Building) -> int:
    """Recompute and store a building's level and its children's."""
    level = min(building.modelling_level, building_support(session, building))
    building.cim_level = level
    for model in (Unit, Floor):
        session.execute(update(model).where(model.building_id == building.id).values(
            cim_level=min(level, 3)))
    session.execute(update(Room).where(Room.building_id == building.id).values(cim_level=level))
    return level


def shape_level(geometry: dict[str, Any] | None, height: float | None,
                has_model: bool) -> int:
    """Level of a facility or structure from its geometry."""
    if has_model:
        return 4
    if not geometry:
        return 1
    return 3 if height else 2


def placement_level(placement: DevicePlacement) -> int:
    """Level of a device placement (4.1.2.c-1)."""
    if placement.lon is not None and placement.lat is not None:
        return 4
    if any((placement.building_id, placement.floor_id, placement.room_id,
            placement.facility_id)):
        return 3
    return 1


@dataclass
class LevelReport:
    """Objects per level, missing mandatory data and the steps to the next level."""

    community_id: int
    target_level: int
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    missing_mandatory: list[str] = field(default_factory=list)
    next_steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reached(self) -> int:
        """The level every building has reached (the community's level)."""
        levels = self.counts.get("buildings", {})
        return min((lvl for lvl, n in levels.items() if n), default=0)


def report(session: Session, community_id: int, target_level: int) -> LevelReport:
    """The level report of one community (Table 2 mandatory rows, Table 3 levels)."""
    result = LevelReport(community_id, target_level)
    for name, model in (("buildings", Building), ("units", Unit), ("floors", Floor),
                        ("rooms", Room), ("structures", Structure), ("facilities", Facility),
                        ("device_placements", DevicePlacement)):
        rows = session.execute(select(model.cim_level, func.count()).where(
            model.community_id == community_id, _live(model)).group_by(model.cim_level))
        result.counts[name] = {int(level): int(n) for level, n in rows}
    if not result.counts["buildings"]:
        result.missing_mandatory.append("T2.static.building.house")
    fire = session.scalar(select(func.count()).where(
        Facility.community_id == community_id, _live(Facility),
        Facility.category == FacilityCategory.fire)) or 0
    if not fire:
        result.missing_mandatory.append("T2.static.facility.fire")
    buildings = session.scalars(select(Building).where(
        Building.community_id == community_id, _live(Building)).order_by(Building.code))
    for building in buildings:
        supported = building_support(session, building)
        if building.cim_level < target_level:
            step = min(supported, building.modelling_level) + 1
            reason = ("cim.levels.need_modelling_level" if supported >= step
                      else LEVEL_NEEDS.get(step, "cim.levels.need_households"))
            result.next_steps.append({"building_id": building.id, "code": building.code,
                                      "level": building.cim_level, "next": step,
                                      "needs": reason})
    return result
