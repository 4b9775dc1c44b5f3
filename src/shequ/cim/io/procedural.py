"""Procedural CIM geometry from the housing register (楼盘表).

A building in the register is a footprint, a number of floors, units (单元) and households (户)
per floor. From that this module builds the graded models of guide Table 3:

- CIM2: the building white model (白模), an extruded footprint prism (LoD1 solid);
- CIM3: the standard model (标模) split by unit and floor: the footprint is cut along the long
  axis of its minimum rotated rectangle into one prism per unit, and each unit into storeys;
- CIM4: the fine model (精模) split by floor and household: every unit-storey is cut into one box
  per household, carrying the household's register attributes.

Ids are deterministic so the database can map them back: building ``B03``, unit ``B03-U2``,
storey ``B03-U2-F12`` (below ground ``B03-U2-B1``), household ``B03-U2-F12-02``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from shequ.cim.io.scene import Crs, Footprint, Geometry, ObjectKind, Scene, SceneObject

Ring: TypeAlias = Sequence[tuple[float, float]]
Shape: TypeAlias = Polygon | MultiPolygon
FootprintLike: TypeAlias = Polygon | Footprint | Ring | Sequence[Ring]

EXTERIOR = ("GroundSurface", "RoofSurface", "WallSurface")
INTERIOR = ("FloorSurface", "CeilingSurface", "InteriorWallSurface")
SOURCE_TYPE = "procedural"
_MIN_AREA = 1e-6
GRID = 1e-6
"""Coordinates of split pieces are snapped to this grid (metres) to drop rounding noise."""
_BISECT_STEPS = 48

_ID = re.compile(
    r"^(?P<building>.+?)-U(?P<unit>\d+)"
    r"(?:-(?P<level>[FB])(?P<floor>\d+)(?:-(?P<household>\d+))?)?$"
)


@dataclass(frozen=True)
class BuildingSpec:
    """One building as the housing register (楼盘表) describes it, in local metres.

    `households` maps (unit, floor, household number), all 1-based, to that household's
    register attributes; households exist on every floor above ground, basements
    (`below_ground` floors) have storeys but no households.
    """

    id: str
    name: str
    footprint: Ring
    floors: int
    floor_height: float = 3.0
    units: int = 1
    households_per_floor: int = 2
    below_ground: int = 0
    base: float = 0.0
    holes: Sequence[Ring] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    households: Mapping[tuple[int, int, int], Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisterKey:
    """Where an object sits in the register: building id, unit, floor, household number."""

    building: str
    unit: int | None = None
    floor: int | None = None
    household: int | None = None

    @property
    def id(self) -> str:
        """The scene object id this key names."""
        if self.unit is None:
            return self.building
        if self.floor is None:
            return unit_id(self.building, self.unit)
        if self.household is None:
            return storey_id(self.building, self.unit, self.floor)
        return household_id(self.building, self.unit, self.floor, self.household)


def unit_id(building: str, unit: int) -> str:
    """Id of unit `unit` of a building, e.g. B03-U2."""
    return f"{building}-U{unit}"


def floor_label(floor: int) -> str:
    """F12 for the twelfth floor above ground, B1 for the first below ground."""
    if floor == 0:
        raise ValueError("floor numbers start at 1 above ground and -1 below ground")
    return f"F{floor}" if floor > 0 else f"B{-floor}"


def storey_id(building: str, unit: int, floor: int) -> str:
    """Id of one storey of one unit, e.g. B03-U2-F12 or B03-U2-B1."""
    return f"{unit_id(building, unit)}-{floor_label(floor)}"


def household_id(building: str, unit: int, floor: int, number: int) -> str:
    """Id of one household, e.g. B03-U2-F12-02."""
    return f"{storey_id(building, unit, floor)}-{number:02d}"


def room_number(floor: int, number: int) -> str:
    """The door number used in addresses: floor then two digits, e.g. 1202."""
    return f"{floor}{number:02d}"


def parse_id(object_id: str) -> RegisterKey:
    """Map a procedural id back to its register key; other ids become a bare building key.

    Unambiguous because building ids of the form ``X-U<n>[-F<n>|-B<n>[-<n>]]`` are refused.
    """
    match = _ID.match(object_id)
    if match is None:
        return RegisterKey(object_id)
    floor: int | None = None
    if match["floor"] is not None:
        floor = int(match["floor"]) * (1 if match["level"] == "F" else -1)
    household = int(match["household"]) if match["household"] is not None else None
    return RegisterKey(match["building"], int(match["unit"]), floor, household)


# ---------------------------------------------------------------- polygons


def to_polygon(footprint: FootprintLike) -> Polygon:
    """A valid, counter-clockwise, clean shapely polygon from any footprint form."""
    if isinstance(footprint, Polygon):
        polygon = footprint
    elif isinstance(footprint, Footprint):
        polygon = Polygon(footprint.rings[0], footprint.rings[1:])
    elif len(footprint) > 0 and _is_point(footprint[0]):
        polygon = Polygon(footprint)
    else:
        rings = list(footprint)
        polygon = Polygon(rings[0], rings[1:])
    if polygon.is_empty or not polygon.is_valid or polygon.area <= _MIN_AREA:
        raise ValueError(f"footprint is not a valid simple polygon: {polygon.wkt[:120]}")
    cleaned = polygon.simplify(1e-6, preserve_topology=True)
    return orient(cleaned if isinstance(cleaned, Polygon) else polygon, 1.0)


def _is_point(item: object) -> bool:
    """True when `item` looks like an (x, y) pair rather than a ring."""
    return (
        isinstance(item, Sequence | np.ndarray)
        and len(item) in {2, 3}
        and all(isinstance(v, int | float | np.floating | np.integer) for v in item)
    )


def _polygons(shape: shapely.Geometry) -> list[Polygon]:
    """The non-degenerate polygons of any shapely geometry, oriented counter-clockwise."""
    if isinstance(shape, Polygon):
        parts = [shape]
    elif hasattr(shape, "geoms"):
        parts = [p for g in shape.geoms for p in _polygons(g)]
    else:
        parts = []
    return [orient(p, 1.0) for p in parts if p.area > _MIN_AREA]


def _shape(parts: list[Polygon]) -> Shape:
    """One polygon, or a multipolygon when a cut left several pieces."""
    if not parts:
        raise ValueError("a split produced an empty piece")
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def long_axis(polygon: Shape) -> float:
    """Angle (radians from east) of the long side of the minimum rotated rectangle.

    The direction is normalised to point east (or north when exactly north-south), so unit 1
    is at the west (or south) end.
    """
    corners = np.asarray(shapely.oriented_envelope(polygon).exterior.coords)[:3]
    edges = np.diff(corners, axis=0)
    edge = edges[int(np.argmax(np.hypot(edges[:, 0], edges[:, 1])))]
    if edge[0] < -1e-9 or (abs(edge[0]) <= 1e-9 and edge[1] < 0):
        edge = -edge
    return float(np.arctan2(edge[1], edge[0]))


def _area_left_of(polygon: Shape, cut: float) -> float:
    """Area of the part of an axis-aligned polygon west of x = cut."""
    minx, miny, _, maxy = polygon.bounds
    return float(polygon.intersection(box(minx - 1.0, miny - 1.0, cut, maxy + 1.0)).area)


def _equal_area_cuts(polygon: Shape, parts: int) -> list[float]:
    """x positions cutting an (axis-aligned) polygon into `parts` slabs of equal area."""
    minx, _, maxx, _ = polygon.bounds
    total = polygon.area
    cuts = [minx]
    for k in range(1, parts):
        target = total * k / parts
        low, high = cuts[-1], maxx
        for _ in range(_BISECT_STEPS):
            middle = (low + high) / 2
            if _area_left_of(polygon, middle) < target:
                low = middle
            else:
                high = middle
        cuts.append((low + high) / 2)
    cuts.append(maxx)
    return cuts


def split_along(shape: Shape, parts: int, angle: float) -> list[Shape]:
    """Cut a footprint into `parts` pieces of equal area across the direction `angle`."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    if parts == 1:
        return [shape]
    local = affinity.rotate(shape, -angle, origin=(0.0, 0.0), use_radians=True)
    cuts = _equal_area_cuts(local, parts)
    _, miny, _, maxy = local.bounds
    pieces: list[Shape] = []
    for left, right in itertools.pairwise(cuts):
        lo = left if left > cuts[0] else left - 1.0
        hi = right if right < cuts[-1] else right + 1.0
        piece = local.intersection(box(lo, miny - 1.0, hi, maxy + 1.0))
        back = affinity.rotate(piece, angle, origin=(0.0, 0.0), use_radians=True)
        pieces.append(_shape(_polygons(shapely.set_precision(back, GRID))))
    return pieces


def household_grid(count: int) -> tuple[int, int]:
    """(rows across the depth, columns along the long axis) for `count` households."""
    rows = 2 if count >= 4 and count % 2 == 0 else 1
    return rows, count // rows


def split_households(unit: Shape, count: int, angle: float) -> list[Shape]:
    """Cut one unit's footprint into `count` household footprints (columns, then rows)."""
    rows, columns = household_grid(count)
    result: list[list[Shape]] = [[] for _ in range(rows)]
    for column in split_along(unit, columns, angle):
        for row, piece in enumerate(split_along(column, rows, angle + np.pi / 2)):
            result[row].append(piece)
    return [piece for row in result for piece in row]


# ---------------------------------------------------------------- prisms


def prism(
    footprint: FootprintLike,
    base: float,
    height: float,
    *,
    interior: bool = False,
    lod: str = "1",
) -> Geometry:
    """An extruded footprint as a closed solid with outward-facing surfaces.

    Exterior prisms name their surfaces GroundSurface / RoofSurface / WallSurface; interior
    ones (storeys, rooms) FloorSurface / CeilingSurface / InteriorWallSurface.
    """
    if height <= 0:
        raise ValueError("prism height must be positive")
    polygon = to_polygon(footprint)
    rings = [np.asarray(polygon.exterior.coords)[:-1, :2]]
    rings += [np.asarray(r.coords)[:-1, :2] for r in polygon.interiors]
    flat = np.concatenate(rings)
    count = len(flat)
    vertices = np.empty((2 * count, 3))
    vertices[:count, :2] = flat
    vertices[count:, :2] = flat
    vertices[:count, 2] = base
    vertices[count:, 2] = base + height
    bottom_name, top_name, wall_name = INTERIOR if interior else EXTERIOR
    surfaces, semantics = _caps(rings, count, bottom_name, top_name)
    walls = _walls(rings, count)
    surfaces += walls
    semantics += [wall_name] * len(walls)
    return Geometry(lod=lod, vertices=vertices, surfaces=surfaces, semantics=semantics)


def _caps(
    rings: list[np.ndarray], count: int, bottom: str, top: str
) -> tuple[list[list[list[int]]], list[str | None]]:
    """Bottom (reversed, facing down) and top (facing up) surfaces of a prism."""
    starts = np.cumsum([0] + [len(r) for r in rings])
    indices = [list(range(int(s), int(e))) for s, e in itertools.pairwise(starts)]
    ground = [ring[::-1] for ring in indices]
    roof = [[i + count for i in ring] for ring in indices]
    return [ground, roof], [bottom, top]


def _walls(rings: list[np.ndarray], count: int) -> list[list[list[int]]]:
    """One quad per footprint edge, counter-clockwise seen from outside."""
    walls: list[list[list[int]]] = []
    start = 0
    for ring in rings:
        size = len(ring)
        for i in range(size):
            a, b = start + i, start + (i + 1) % size
            walls.append([[a, b, b + count, a + count]])
        start += size
    return walls


def prisms(shape: Shape, base: float, height: float, *, interior: bool = False) -> list[Geometry]:
    """One prism per polygon of a (multi)polygon footprint."""
    return [prism(p, base, height, interior=interior) for p in _polygons(shape)]


def footprint_of(shape: Shape, base: float, height: float) -> Footprint | None:
    """A scene Footprint for a single polygon; None for a multipolygon."""
    if not isinstance(shape, Polygon):
        return None
    rings = [list(shape.exterior.coords)[:-1]] + [list(r.coords)[:-1] for r in shape.interiors]
    return Footprint(
        rings=[[(float(x), float(y)) for x, y, *_ in ring] for ring in rings],
        base=base,
        height=height,
    )


# ---------------------------------------------------------------- register → scene objects


def _storey_base(spec: BuildingSpec, floor: int) -> float:
    """Elevation of the floor slab of a storey (floor 1 starts at spec.base)."""
    index = floor - 1 if floor > 0 else floor
    return spec.base + index * spec.floor_height


def _floors(spec: BuildingSpec) -> list[int]:
    """Storey numbers from the lowest basement to the top: -2, -1, 1, 2, ..."""
    return list(range(-spec.below_ground, 0)) + list(range(1, spec.floors + 1))


def _check(spec: BuildingSpec) -> None:
    """Reject specs that cannot be built (programming errors in the caller)."""
    if spec.floors < 1 or spec.units < 1 or spec.households_per_floor < 1:
        raise ValueError(f"building {spec.id}: floors, units and households must be >= 1")
    if _ID.match(spec.id):
        raise ValueError(f"building id {spec.id!r} looks like a unit/storey/household id")
    if spec.below_ground < 0 or spec.floor_height <= 0:
        raise ValueError(f"building {spec.id}: bad below_ground or floor_height")
    unknown = [
        key
        for key in spec.households
        if not (
            1 <= key[0] <= spec.units
            and 1 <= key[1] <= spec.floors
            and 1 <= key[2] <= spec.households_per_floor
        )
    ]
    if unknown:
        raise ValueError(f"building {spec.id}: register rows outside the grid: {unknown[:5]}")


def building_objects(spec: BuildingSpec) -> list[SceneObject]:
    """Every scene object of one building: building, units, storeys and households."""
    _check(spec)
    outline = to_polygon([list(spec.footprint), *[list(h) for h in spec.holes]])
    bottom = _storey_base(spec, _floors(spec)[0])
    top = spec.base + spec.floors * spec.floor_height
    building = SceneObject(
        id=spec.id,
        kind=ObjectKind.building,
        name=spec.name,
        attributes=_building_attributes(spec),
        geometry=[prism(outline, bottom, top - bottom)],
        footprint=footprint_of(outline, bottom, top - bottom),
        elevation=bottom,
        height=top - bottom,
        source_type=SOURCE_TYPE,
    )
    objects = [building]
    angle = long_axis(outline)
    for number, piece in enumerate(split_along(outline, spec.units, angle), start=1):
        objects += _unit_objects(spec, number, piece, angle, bottom, top)
    return objects


def _building_attributes(spec: BuildingSpec) -> dict[str, Any]:
    """Register attributes of the building plus its layout."""
    layout = {
        "floors_above": spec.floors,
        "floors_below": spec.below_ground,
        "units": spec.units,
        "households_per_floor": spec.households_per_floor,
        "floor_height": spec.floor_height,
    }
    return {**layout, **spec.attributes}


def _unit_objects(
    spec: BuildingSpec, unit: int, shape: Shape, angle: float, bottom: float, top: float
) -> list[SceneObject]:
    """A unit, its storeys and its households."""
    uid = unit_id(spec.id, unit)
    objects = [
        SceneObject(
            id=uid,
            kind=ObjectKind.unit,
            name=f"{spec.name}{unit}单元",  # "unit N" as written in addresses
            parent=spec.id,
            attributes={"building_id": spec.id, "unit_no": unit},
            geometry=prisms(shape, bottom, top - bottom),
            footprint=footprint_of(shape, bottom, top - bottom),
            elevation=bottom,
            height=top - bottom,
            source_type=SOURCE_TYPE,
        )
    ]
    rooms = split_households(shape, spec.households_per_floor, angle)
    for floor in _floors(spec):
        objects.append(_storey(spec, unit, floor, shape))
        if floor > 0:
            objects += [_household(spec, unit, floor, n, r) for n, r in enumerate(rooms, start=1)]
    return objects


def _storey_name(spec: BuildingSpec, unit: int, floor: int) -> str:
    """Address-style storey name: 3号楼2单元12层, basements 地下1层."""
    label = str(floor) if floor > 0 else f"地下{-floor}"  # "below ground"
    return f"{spec.name}{unit}单元{label}层"


def _storey(spec: BuildingSpec, unit: int, floor: int, shape: Shape) -> SceneObject:
    """One storey of one unit."""
    base = _storey_base(spec, floor)
    return SceneObject(
        id=storey_id(spec.id, unit, floor),
        kind=ObjectKind.storey,
        name=_storey_name(spec, unit, floor),
        parent=unit_id(spec.id, unit),
        attributes={"building_id": spec.id, "unit_no": unit, "floor_no": floor},
        geometry=prisms(shape, base, spec.floor_height, interior=True),
        footprint=footprint_of(shape, base, spec.floor_height),
        storey_index=floor,
        elevation=base,
        height=spec.floor_height,
        source_type=SOURCE_TYPE,
    )


def _household(spec: BuildingSpec, unit: int, floor: int, number: int, shape: Shape) -> SceneObject:
    """One household (户) box with its register attributes."""
    base = _storey_base(spec, floor)
    door = room_number(floor, number)
    keys = {
        "building_id": spec.id,
        "unit_no": unit,
        "floor_no": floor,
        "household_no": number,
        "room_no": door,
    }
    register = dict(spec.households.get((unit, floor, number), {}))
    return SceneObject(
        id=household_id(spec.id, unit, floor, number),
        kind=ObjectKind.room,
        name=f"{spec.name}{unit}单元{door}室",  # "unit N, room NNNN" as in addresses
        parent=storey_id(spec.id, unit, floor),
        attributes={**keys, **register},
        geometry=prisms(shape, base, spec.floor_height, interior=True),
        footprint=footprint_of(shape, base, spec.floor_height),
        storey_index=floor,
        elevation=base,
        height=spec.floor_height,
        source_type=SOURCE_TYPE,
    )


def add_building(scene: Scene, spec: BuildingSpec) -> SceneObject:
    """Add one register building and all its parts to a scene; returns the building."""
    objects = building_objects(spec)
    for obj in objects:
        scene.add(obj)
    return objects[0]


def community_scene(
    specs: Sequence[BuildingSpec],
    origin: tuple[float, float, float],
    *,
    source_crs: Crs | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Scene:
    """A scene of register buildings around `origin` (WGS 84 lon, lat, ellipsoidal height)."""
    scene = Scene(
        source_crs=source_crs or Crs(name="local ENU"),
        origin=origin,
        metadata=dict(metadata or {}),
    )
    for spec in specs:
        add_building(scene, spec)
    return scene
