"""CIM imports into the database, each all-or-nothing with a report.

- The housing register (楼盘表) from CSV/XLSX with Chinese (or English) headers.
- CityJSON, CityGML, IFC and GeoJSON through `shequ.cim.io.read_scene`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry import mapping as shape_mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cim.geo import bbox, to_local, to_lonlat
from shequ.cim.io.read import read_scene
from shequ.cim.io.scene import Crs, Geometry, ObjectKind, Scene, SceneObject
from shequ.cim.levels import refresh_building
from shequ.cim.models import (
    Building,
    BuildingUse,
    CimGeometry,
    CimSite,
    Floor,
    GeometrySource,
    Room,
    RoomState,
    RoomUse,
    Unit,
)
from shequ.cim.service import bump, site
from shequ.kit.errors import ValidationFailed
from shequ.kit.fields import enum_label
from shequ.kit.i18n import LANGUAGES, t
from shequ.kit.ledger import validation_errors
from shequ.kit.tabular import cell_value, header_map, read_table, xlsx_bytes
from shequ.platform.models import Community

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total) for command-line bars and import jobs."""

FILE_KINDS = ("cityjson", "citygml", "ifc", "geojson")


def _no_progress(stage: str, done: int, total: int) -> None:
    """Ignore progress."""


@dataclass
class ImportReport:
    """What an import created and updated, the CIM level reached, and warnings."""

    kind: str
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    levels: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON (the `--json` output and the API answer)."""
        reached = min(self.levels.values(), default=0)
        return {"kind": self.kind, "created": dict(self.created), "updated": dict(self.updated),
                "cim_level": reached, "building_levels": self.levels,
                "warnings": self.warnings, "errors": []}


# -- the housing register -------------------------------------------------------------------

REGISTER_COLUMNS: dict[str, tuple[str, str]] = {
    "building_code": ("楼栋编号", "Building code"),
    "building_name": ("楼栋名称", "Building name"),
    "unit": ("单元", "Unit"),
    "floor": ("楼层", "Floor"),
    "room": ("房号", "Room number"),
    "use": ("用途", "Use"),
    "state": ("状态", "State"),
    "building_area": ("建筑面积", "Building area"),
    "inner_area": ("套内面积", "Inner area"),
    "fee_coefficient": ("收费系数", "Fee coefficient"),
    "layout": ("户型", "Layout"),
    "address": ("地址", "Address"),
    "floors_above": ("地上层数", "Floors above ground"),
    "floor_height": ("层高", "Floor height"),
}
REQUIRED = ("building_code", "unit", "floor", "room")


class RegisterRow(BaseModel):
    """One row of the housing register."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}
    building_code: str = Field(min_length=1, max_length=32)
    building_name: str | None = Field(default=None, max_length=100)
    unit: int = Field(ge=1, le=99)
    floor: int = Field(ge=-20, le=200)
    room: str = Field(min_length=1, max_length=32)
    use: RoomUse = RoomUse.residential
    state: RoomState = RoomState.vacant
    building_area: float | None = Field(default=None, gt=0, le=100_000)
    inner_area: float | None = Field(default=None, gt=0, le=100_000)
    fee_coefficient: float = Field(default=1.0, gt=0, le=10)
    layout: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)
    floors_above: int | None = Field(default=None, ge=1, le=200)
    floor_height: float | None = Field(default=None, gt=1.5, le=20)


def register_template(lang: str) -> bytes:
    """The XLSX template of the housing register, with an example row."""
    names = [REGISTER_COLUMNS[c][0 if lang == "zh-CN" else 1] + ("*" if c in REQUIRED else "")
             for c in REGISTER_COLUMNS]
    example = ["1幢", "1号楼", 1, 1, "101", enum_label(RoomUse, "residential", lang),
               enum_label(RoomState, "occupied", lang), 89.5, 72.3, 1.0, "2室1厅",
               "文二西路1号", 6, 3.0]
    return xlsx_bytes(names, [example], title=t("cim.register.title", lang))


def _labels() -> dict[str, dict[str, str]]:
    return {name: dict(zip(LANGUAGES, pair, strict=True))
            for name, pair in REGISTER_COLUMNS.items()}


def _enum_value(enum_cls: Any, value: Any) -> Any:
    for member in enum_cls:
        if value in (member.value, *(enum_label(enum_cls, member, lang) for lang in LANGUAGES)):
            return member.value
    return value


def parse_register(filename: str, content: bytes) -> list[tuple[int, RegisterRow]]:
    """Validate every row; raise one error listing every bad row (row number and reason)."""
    header, rows = read_table(filename, content)
    mapping = header_map(header, _labels())
    missing = [REGISTER_COLUMNS[c][0] for c in REQUIRED if c not in mapping.values()]
    if missing:
        raise ValidationFailed(code="import.bad_header", columns="缺少 " + "、".join(missing))
    parsed: list[tuple[int, RegisterRow]] = []
    errors: list[dict[str, Any]] = []
    for number, cells in rows:
        data = {name: cell_value(cells[i]) if i < len(cells) else None
                for i, name in mapping.items()}
        data = {k: v for k, v in data.items() if v is not None}
        for key, enum_cls in (("use", RoomUse), ("state", RoomState)):
            if key in data:
                data[key] = _enum_value(enum_cls, data[key])
        for key in ("building_code", "room"):
            if key in data:
                data[key] = str(data[key])
        try:
            parsed.append((number, RegisterRow.model_validate(data)))
        except ValidationError as exc:
            errors += validation_errors(exc, number)
    errors += _register_conflicts(parsed)
    if errors:
        raise ValidationFailed(code="import.rows_failed",
                               count=len({e["row"] for e in errors}), errors=errors)
    return parsed


def _register_conflicts(rows: list[tuple[int, RegisterRow]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, int, int, str], int] = {}
    errors = []
    for number, row in rows:
        key = (row.building_code, row.unit, row.floor, row.room)
        if key in seen:
            errors.append({"row": number, "field": "room", "code": "cim.register.duplicate",
                           "message": t("cim.register.duplicate", other=seen[key])})
        seen.setdefault(key, number)
        if row.floor == 0:
            errors.append({"row": number, "field": "floor", "code": "cim.register.floor_zero",
                           "message": t("cim.register.floor_zero")})
        if row.floors_above and row.floor > row.floors_above:
            errors.append({"row": number, "field": "floor", "code": "cim.register.floor_above",
                           "message": t("cim.register.floor_above", floors=row.floors_above)})
    return errors


class _Register:
    """Upserts buildings, units, floors and rooms of one community in memory-cached steps."""

    def __init__(self, session: Session, community: Community, report: ImportReport) -> None:
        self.session, self.community, self.report = session, community, report
        cid = community.id
        self.buildings = {b.code: b for b in session.scalars(select(Building).where(
            Building.community_id == cid, Building.deleted_at.is_(None)))}
        self.units = {(u.building_id, u.number): u for u in session.scalars(select(Unit).where(
            Unit.community_id == cid, Unit.deleted_at.is_(None)))}
        self.floors = {(f.building_id, f.unit_id, f.level_index): f for f in session.scalars(
            select(Floor).where(Floor.community_id == cid, Floor.deleted_at.is_(None)))}
        self.rooms = {(r.floor_id, r.number): r for r in session.scalars(select(Room).where(
            Room.community_id == cid, Room.deleted_at.is_(None)))}

    def building(self, row: RegisterRow) -> Building:
        found = self.buildings.get(row.building_code)
        if found is None:
            found = Building(community_id=self.community.id, code=row.building_code,
                             name=row.building_name or f"{row.building_code}",
                             address_code=f"{self.community.code}-{row.building_code}",
                             floors_above=row.floors_above or max(row.floor, 1),
                             floor_height=row.floor_height or 3.0, modelling_level=3,
                             use=BuildingUse.residential, geometry_source=GeometrySource.register)
            self._add(found, "buildings")
            self.buildings[row.building_code] = found
        elif row.floors_above and row.floors_above != found.floors_above:
            found.floors_above = row.floors_above
        found.floors_above = max(found.floors_above, row.floor)
        return found

    def unit(self, building: Building, number: int) -> Unit:
        found = self.units.get((building.id, number))
        if found is None:
            found = Unit(community_id=self.community.id, building_id=building.id, number=number,
                         name=f"{number}单元", address_code=f"{building.address_code}-{number:02d}")
            self._add(found, "units")
            self.units[(building.id, number)] = found
        return found

    def floor(self, building: Building, unit: Unit, index: int) -> Floor:
        found = self.floors.get((building.id, unit.id, index))
        if found is None:
            height = building.floor_height
            found = Floor(community_id=self.community.id, building_id=building.id,
                          unit_id=unit.id, level_index=index,
                          label=f"{index}F" if index > 0 else f"B{-index}", height=height,
                          elevation=(index - 1) * height if index > 0 else index * height)
            self._add(found, "floors")
            self.floors[(building.id, unit.id, index)] = found
        return found

    def room(self, building: Building, unit: Unit, floor: Floor, row: RegisterRow) -> None:
        values = {"use": row.use, "state": row.state, "building_area": row.building_area,
                  "inner_area": row.inner_area, "fee_coefficient": row.fee_coefficient,
                  "layout": row.layout}
        found = self.rooms.get((floor.id, row.room))
        if found is not None:
            for key, value in values.items():
                setattr(found, key, value)
            self.report.updated["rooms"] += 1
            return
        address = row.address or f"{building.name}{unit.name}{row.room}室"
        room = Room(community_id=self.community.id, building_id=building.id, unit_id=unit.id,
                    floor_id=floor.id, number=row.room, address=address,
                    address_code=f"{unit.address_code}-{row.room}", **values)
        self._add(room, "rooms", flush=False)
        self.rooms[(floor.id, row.room)] = room

    def _add(self, row: Any, kind: str, flush: bool = True) -> None:
        self.session.add(row)
        if flush:
            self.session.flush()
        self.report.created[kind] += 1


def import_register(session: Session, community: Community, filename: str, content: bytes,
                    progress: Progress = _no_progress) -> ImportReport:
    """Import the housing register (all rows or none); existing rooms are updated."""
    rows = parse_register(filename, content)
    report = ImportReport("register")
    register = _Register(session, community, report)
    for done, (_, row) in enumerate(rows, start=1):
        building = register.building(row)
        unit = register.unit(building, row.unit)
        floor = register.floor(building, unit, row.floor)
        register.room(building, unit, floor, row)
        if done % 500 == 0 or done == len(rows):
            progress("rows", done, len(rows))
    session.flush()
    _finish(session, community.id, {b.id for b in register.buildings.values()}, report)
    return report


def _finish(session: Session, community_id: int, building_ids: Iterable[int],
            report: ImportReport) -> None:
    for building_id in sorted(building_ids):
        building = session.get(Building, building_id)
        if building is not None:
            report.levels[building.code] = refresh_building(session, building)
    bump(session, community_id)
    session.flush()


# -- CityJSON, CityGML, IFC, GeoJSON ----------------------------------------------------------


def import_file(session: Session, community: Community, kind: str, filename: str,
                content: bytes, *, crs: str | None = None,
                place_at: tuple[float, float] | None = None,
                progress: Progress = _no_progress) -> ImportReport:
    """Import a model file; any error in the file imports nothing and lists every problem.

    `crs` is assumed when the file declares none; `place_at` (lon, lat) moves the model's
    origin there, for BIM files whose georeferencing is missing or only approximate.
    """
    if kind not in FILE_KINDS:
        raise ValidationFailed(code="cim.import.unknown_kind", kind=kind[:20])
    default = Crs(epsg=int(crs.split(":")[-1])) if crs else None
    scene = read_scene(kind, content, name=filename, default_crs=default)
    if place_at is not None:
        scene.origin = (place_at[0], place_at[1], scene.origin[2])
    if scene.errors:
        raise ValidationFailed(code="cim.import.file_errors", count=len(scene.errors), errors=[
            {"location": i.location, "message": i.message} for i in scene.errors])
    progress("read", 1, 1)
    report = ImportReport(kind)
    report.warnings = [{"location": i.location, "message": i.message} for i in scene.issues]
    frame = site(session, community.id, scene.origin[:2])
    placer = _Placer(session, community, frame, scene, GeometrySource(kind), report)
    buildings = scene.of_kind(ObjectKind.building)
    for done, obj in enumerate(buildings, start=1):
        placer.building(obj)
        progress("buildings", done, len(buildings))
    _finish(session, community.id, placer.building_ids, report)
    return report


class _Placer:
    """Moves scene objects into the site frame and writes them as register rows."""

    def __init__(self, session: Session, community: Community, frame: CimSite, scene: Scene,
                 source: GeometrySource, report: ImportReport) -> None:
        self.session, self.community, self.scene = session, community, scene
        self.source, self.report = source, report
        self.origin = (frame.origin_lon, frame.origin_lat)
        dx, dy = to_local(scene.origin[0], scene.origin[1], self.origin)
        self.shift = np.array([dx, dy, scene.origin[2] - frame.origin_height])
        self.building_ids: set[int] = set()
        self.codes = set(session.scalars(select(Building.code).where(
            Building.community_id == community.id, Building.deleted_at.is_(None))))

    def building(self, obj: SceneObject) -> None:
        parts = [obj, *self._descendants(obj.id, {ObjectKind.building_part})]
        geometries = [g for part in parts for g in part.geometry]
        footprint = self._footprint(obj, geometries)
        storeys = sorted(self._descendants(obj.id, {ObjectKind.storey}),
                         key=lambda s: (s.storey_index or 0, s.elevation or 0))
        rooms = self._descendants(obj.id, {ObjectKind.room})
        code = self._code(obj)
        height = obj.height or _extent(geometries)
        building = Building(
            community_id=self.community.id, code=code, name=obj.name or code,
            address_code=f"{self.community.code}-{code}",
            floors_above=max(1, sum(1 for s in storeys if (s.storey_index or 1) > 0)),
            floors_below=sum(1 for s in storeys if (s.storey_index or 1) < 0),
            height=round(height, 2) if height else None, footprint=footprint,
            geometry_source=self.source, modelling_level=4 if rooms else 2,
            attributes=_plain(obj.attributes))
        building.min_lon, building.min_lat, building.max_lon, building.max_lat = (
            bbox(footprint) or (None, None, None, None))
        self.session.add(building)
        self.session.flush()
        self.building_ids.add(building.id)
        self.report.created["buildings"] += 1
        for geometry in geometries:
            self._geometry("building", building.id, geometry)
        floors = self._floors(building, storeys)
        if rooms:
            self._rooms(building, rooms, floors)

    def _descendants(self, parent_id: str, kinds: set[ObjectKind]) -> list[SceneObject]:
        found, queue = [], [parent_id]
        while queue:
            current = queue.pop()
            for child in self.scene.children(current):
                if child.kind in kinds:
                    found.append(child)
                queue.append(child.id)
        return found

    def _code(self, obj: SceneObject) -> str:
        base = (obj.name or obj.id).strip()[:28] or "B"
        code, n = base, 1
        while code in self.codes:
            n += 1
            code = f"{base}-{n}"
        self.codes.add(code)
        return code

    def _footprint(self, obj: SceneObject, geometries: list[Geometry]) -> dict[str, Any] | None:
        if obj.footprint and obj.footprint.rings:
            polygon = Polygon(obj.footprint.rings[0], obj.footprint.rings[1:])
        else:
            points = np.vstack([g.vertices[:, :2] for g in geometries]) if geometries else None
            if points is None or len(points) < 3:
                return None
            polygon = MultiPoint([tuple(p) for p in points]).convex_hull
        if polygon.is_empty or polygon.geom_type != "Polygon":
            return None
        ring = [to_lonlat(x + self.shift[0], y + self.shift[1], self.origin)
                for x, y in polygon.exterior.coords]
        return dict(shape_mapping(Polygon(ring)))

    def _floors(self, building: Building, storeys: list[SceneObject]) -> dict[str, Floor]:
        floors: dict[str, Floor] = {}
        used: set[int] = set()
        for position, storey in enumerate(storeys, start=1):
            index = storey.storey_index if storey.storey_index is not None else position
            while index in used or index == 0:
                index += 1
            used.add(index)
            floor = Floor(community_id=self.community.id, building_id=building.id,
                          level_index=index, label=(storey.name or f"{index}F")[:16],
                          elevation=round((storey.elevation or 0.0) + float(self.shift[2]), 3),
                          height=round(storey.height or 3.0, 3))
            self.session.add(floor)
            floors[storey.id] = floor
            self.report.created["floors"] += 1
        self.session.flush()
        return floors

    def _rooms(self, building: Building, rooms: list[SceneObject],
               floors: dict[str, Floor]) -> None:
        fallback = next(iter(floors.values()), None)
        if fallback is None:
            fallback = Floor(community_id=self.community.id, building_id=building.id,
                             level_index=1, label="1F")
            self.session.add(fallback)
            self.session.flush()
            self.report.created["floors"] += 1
        numbers: set[tuple[int, str]] = set()
        for obj in rooms:
            floor = self._floor_of(obj, floors) or fallback
            number = _room_number(obj, floor, numbers)
            room = Room(community_id=self.community.id, building_id=building.id,
                        floor_id=floor.id, number=number,
                        address_code=f"{building.address_code}-{number}",
                        address=f"{building.name}{number}", use=RoomUse.residential,
                        building_area=_area(obj))
            self.session.add(room)
            self.session.flush()
            self.report.created["rooms"] += 1
            for geometry in obj.geometry:
                self._geometry("room", room.id, geometry)

    def _floor_of(self, obj: SceneObject, floors: dict[str, Floor]) -> Floor | None:
        parent_id = obj.parent
        while parent_id is not None:
            if parent_id in floors:
                return floors[parent_id]
            parent = self.scene.objects.get(parent_id)
            parent_id = parent.parent if parent else None
        return None

    def _geometry(self, object_type: str, object_id: int, geometry: Geometry) -> None:
        vertices = np.round(geometry.vertices + self.shift, 3)
        self.session.add(CimGeometry(
            community_id=self.community.id, object_type=object_type, object_id=object_id,
            lod=geometry.lod, source=self.source, data={
                "vertices": vertices.tolist(), "surfaces": geometry.surfaces,
                "semantics": geometry.semantics, "solid": geometry.solid}))
        self.report.created["geometries"] += 1


def _extent(geometries: list[Geometry]) -> float | None:
    if not geometries:
        return None
    z = np.concatenate([g.vertices[:, 2] for g in geometries])
    return float(z.max() - z.min()) if len(z) else None


def _room_number(obj: SceneObject, floor: Floor, used: set[tuple[int, str]]) -> str:
    base = str(obj.attributes.get("number") or obj.name or obj.id).strip()[:28] or "R"
    number, n = base, 1
    while (floor.id, number) in used:
        n += 1
        number = f"{base}-{n}"
    used.add((floor.id, number))
    return number


def _area(obj: SceneObject) -> float | None:
    for key in ("area", "floor_area", "NetFloorArea", "GrossFloorArea"):
        value = obj.attributes.get(key)
        if isinstance(value, int | float) and value > 0:
            return round(float(value), 2)
    return None


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes as JSON-safe values (dates and other objects as text)."""
    plain: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str | int | float | bool) or value is None:
            plain[str(key)] = value
        elif isinstance(value, dt.date):
            plain[str(key)] = value.isoformat()
        else:
            plain[str(key)] = str(value)[:500]
    return plain
