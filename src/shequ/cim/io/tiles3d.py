"""3D Tiles 1.1 export: tileset.json plus one GLB per tile, graded by CIM level.

The tree follows guide Table 3 for buildings:

    root (transform: local ENU frame → ECEF at Scene.origin, no content)
    ├── building B03, CIM2 white model (白模)           geometricError large
    │   └── CIM3: units split by floor (标模)             geometricError smaller
    │       └── CIM4: households per floor (精模)          geometricError 0 (leaf)
    ├── building B04 ...
    └── site: other objects with geometry (structures, facilities, ...)

Refinement is REPLACE throughout; every tile with content has `extras` {cimLevel, features,
building} so a client can pin a community's CIM level. Child tiles carry no transform, so
every bounding volume is an oriented `box` in the local ENU frame (z up); GLB content is
written y-up and 3D Tiles' standard y-up → z-up rotation brings it back into that frame.
Objects with imported geometry (IFC spaces, CityJSON rooms) are exported as they are;
objects with only a footprint are extruded; a level with nothing new is skipped. Where a
unit has imported objects of a kind (rooms from IFC, say) they replace the procedural ones of
that kind in that unit.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from shequ.cim.io.glb import Mesh, encode_glb, tessellate
from shequ.cim.io.procedural import SOURCE_TYPE, prism
from shequ.cim.io.scene import Geometry, ObjectKind, Scene, SceneObject

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)
TILES_DIR = "tiles"
LEVEL_COLORS = {
    2: (0.92, 0.92, 0.92, 1.0),
    3: (0.78, 0.86, 0.95, 1.0),
    4: (0.98, 0.85, 0.68, 1.0),
}
INTERIOR_KINDS = {ObjectKind.storey, ObjectKind.room}
MIN_WHITE_MODEL_ERROR = 16.0  # metres; each finer level has a quarter of its parent's error
BOX_PADDING = 1e-3  # metres added to every half axis, so float32 content stays inside


@dataclass(frozen=True)
class TilesetReport:
    """What `write_tileset` wrote: files, total bytes, tile count and feature count."""

    files: list[Path]
    bytes: int
    tiles: int
    features: int


@dataclass
class _Content:
    """One tile's features and their triangulated mesh."""

    level: int
    objects: list[SceneObject]
    mesh: Mesh


@dataclass
class _Tile:
    """A tile under construction."""

    content: _Content | None
    geometric_error: float
    group: str | None = None
    uri: str | None = None
    children: list[_Tile] = field(default_factory=list)


# ---------------------------------------------------------------- frames


def geodetic_to_ecef(lon: float, lat: float, height: float) -> npt.NDArray[np.float64]:
    """ECEF (EPSG:4978) coordinates of a WGS 84 longitude, latitude (degrees) and height."""
    phi, lam = math.radians(lat), math.radians(lon)
    n = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
    return np.array(
        [
            (n + height) * math.cos(phi) * math.cos(lam),
            (n + height) * math.cos(phi) * math.sin(lam),
            (n * (1 - WGS84_E2) + height) * math.sin(phi),
        ]
    )


def enu_to_ecef_matrix(origin: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    """The 4×4 matrix taking local east-north-up metres at `origin` to ECEF metres."""
    lon, lat, height = origin
    phi, lam = math.radians(lat), math.radians(lon)
    east = [-math.sin(lam), math.cos(lam), 0.0]
    north = [-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)]
    up = [math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)]
    matrix = np.eye(4)
    matrix[:3, 0], matrix[:3, 1], matrix[:3, 2] = east, north, up
    matrix[:3, 3] = geodetic_to_ecef(lon, lat, height)
    return matrix


# ---------------------------------------------------------------- bounding boxes


def oriented_box(points: npt.NDArray[np.float64]) -> list[float]:
    """A 3D Tiles `box` around points: tight rectangle in plan, vertical z axis."""
    xy = np.unique(np.round(points[:, :2], 4), axis=0)
    zmin, zmax = float(points[:, 2].min()), float(points[:, 2].max())
    rectangle = shapely.oriented_envelope(shapely.multipoints(xy))
    if isinstance(rectangle, shapely.Polygon) and rectangle.area > 1e-9:
        corners = np.asarray(rectangle.exterior.coords)[:4]
        centre = corners.mean(axis=0)
        axis_a = (corners[1] - corners[0]) / 2
        axis_b = (corners[3] - corners[0]) / 2
    else:
        low, high = xy.min(axis=0), xy.max(axis=0)
        centre = (low + high) / 2
        axis_a = np.array([(high[0] - low[0]) / 2, 0.0])
        axis_b = np.array([0.0, (high[1] - low[1]) / 2])
    half = [_pad(np.array([*axis_a, 0.0]), 0), _pad(np.array([*axis_b, 0.0]), 1)]
    half.append(np.array([0.0, 0.0, (zmax - zmin) / 2 + BOX_PADDING]))
    values = [float(centre[0]), float(centre[1]), (zmin + zmax) / 2]
    for axis in half:
        values += [float(v) for v in axis]
    return values


def _pad(axis: npt.NDArray[np.float64], index: int) -> npt.NDArray[np.float64]:
    """Lengthen a half axis by BOX_PADDING; a zero axis becomes a small one along x or y."""
    length = float(np.linalg.norm(axis))
    if length < 1e-9:
        axis = np.zeros(3)
        axis[index] = 1.0
        return axis * BOX_PADDING
    return axis * (length + BOX_PADDING) / length


# ---------------------------------------------------------------- scene → features


def _lod(geometry: Geometry) -> float:
    """The numeric level of detail of a geometry (unknown = 0)."""
    try:
        return float(geometry.lod)
    except ValueError:
        return 0.0


def object_geometries(obj: SceneObject) -> list[Geometry]:
    """The geometries to draw for an object: its finest LoD, else its extruded footprint."""
    if obj.geometry:
        best = max(_lod(g) for g in obj.geometry)
        return [g for g in obj.geometry if _lod(g) == best]
    if obj.footprint is not None and obj.footprint.height > 0:
        fp = obj.footprint
        return [prism(fp.rings, fp.base, fp.height, interior=obj.kind in INTERIOR_KINDS)]
    return []


class _Hierarchy:
    """Parent/child links of a scene, computed once."""

    def __init__(self, scene: Scene) -> None:
        """Index the children and drawable geometry of every object."""
        self.scene = scene
        self.children: dict[str, list[SceneObject]] = {}
        for obj in scene.objects.values():
            if obj.parent is not None and obj.parent in scene.objects:
                self.children.setdefault(obj.parent, []).append(obj)
        self.drawable = {
            oid: geoms for oid, obj in scene.objects.items() if (geoms := object_geometries(obj))
        }

    def descendants(self, obj: SceneObject) -> list[SceneObject]:
        """Every object below `obj`, depth first."""
        found: list[SceneObject] = []
        stack = list(reversed(self.children.get(obj.id, [])))
        while stack:
            item = stack.pop()
            found.append(item)
            stack += reversed(self.children.get(item.id, []))
        return found

    def has_under(self, obj: SceneObject, kind: ObjectKind) -> bool:
        """True when a drawable object of `kind` sits somewhere below `obj`."""
        return any(d.kind == kind and d.id in self.drawable for d in self.descendants(obj))

    def unit_of(self, obj: SceneObject) -> str:
        """Id of the unit an object belongs to ("" when it is in no unit)."""
        if obj.kind == ObjectKind.unit:
            return obj.id
        return next((a.id for a in self._ancestors(obj) if a.kind == ObjectKind.unit), "")

    def buildings(self) -> list[SceneObject]:
        """Buildings that are not inside another building."""
        result = []
        for obj in self.scene.of_kind(ObjectKind.building):
            if not any(a.kind == ObjectKind.building for a in self._ancestors(obj)):
                result.append(obj)
        return result

    def _ancestors(self, obj: SceneObject) -> Iterable[SceneObject]:
        """Parents up to the top (cycles are cut)."""
        seen = {obj.id}
        while obj.parent is not None and obj.parent in self.scene.objects:
            obj = self.scene.objects[obj.parent]
            if obj.id in seen:
                return
            seen.add(obj.id)
            yield obj


def _drawn(objects: Iterable[SceneObject], hierarchy: _Hierarchy) -> list[SceneObject]:
    """The objects that have something to draw."""
    return [o for o in objects if o.id in hierarchy.drawable]


def building_levels(
    building: SceneObject, hierarchy: _Hierarchy
) -> list[tuple[int, list[SceneObject]]]:
    """Features of a building's CIM2, CIM3 and CIM4 tiles; levels adding nothing are dropped."""
    below = hierarchy.descendants(building)
    of = {kind: _drawn((d for d in below if d.kind == kind), hierarchy) for kind in ObjectKind}
    level2 = _drawn([building], hierarchy) or of[ObjectKind.building_part]
    level3 = of[ObjectKind.storey] or of[ObjectKind.unit] or of[ObjectKind.building_part]
    level4 = list(of[ObjectKind.room])
    nested = any(
        r.parent in hierarchy.scene.objects
        and hierarchy.scene.objects[r.parent].kind == ObjectKind.storey
        for r in level4
    )
    if level4 and nested:
        level4 += [s for s in of[ObjectKind.storey] if not hierarchy.has_under(s, ObjectKind.room)]
    level3, level4 = _prefer_imported(level3, hierarchy), _prefer_imported(level4, hierarchy)
    levels: list[tuple[int, list[SceneObject]]] = []
    for level, objects in ((2, level2), (3, level3), (4, level4)):
        ids = [o.id for o in objects]
        if objects and (not levels or ids != [o.id for o in levels[-1][1]]):
            levels.append((level, objects))
    return levels


def _prefer_imported(objects: list[SceneObject], hierarchy: _Hierarchy) -> list[SceneObject]:
    """Within one unit (or building) and kind, imported objects replace procedural ones."""
    groups: dict[tuple[str, ObjectKind], list[SceneObject]] = {}
    for obj in objects:
        groups.setdefault((hierarchy.unit_of(obj), obj.kind), []).append(obj)
    dropped: set[str] = set()
    for members in groups.values():
        if any(o.source_type != SOURCE_TYPE for o in members):
            dropped.update(o.id for o in members if o.source_type == SOURCE_TYPE)
    return [o for o in objects if o.id not in dropped]


def _content(level: int, objects: list[SceneObject], hierarchy: _Hierarchy) -> _Content:
    """Triangulate the features of one tile."""
    mesh = tessellate([hierarchy.drawable[o.id] for o in objects])
    return _Content(level=level, objects=objects, mesh=mesh)


def _diagonal(points: npt.NDArray[np.float64]) -> float:
    """Length of the diagonal of the points' axis-aligned bounds."""
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def _building_tile(building: SceneObject, hierarchy: _Hierarchy) -> _Tile | None:
    """The chain of tiles of one building, coarsest first."""
    contents = [_content(lv, objs, hierarchy) for lv, objs in building_levels(building, hierarchy)]
    contents = [c for c in contents if not c.mesh.empty]
    if not contents:
        return None
    coarse = max(MIN_WHITE_MODEL_ERROR, _diagonal(contents[0].mesh.positions) / 2)
    errors = [coarse / 4**i for i in range(len(contents) - 1)] + [0.0]
    tiles = [_Tile(c, e, group=building.id) for c, e in zip(contents, errors, strict=True)]
    for parent, child in itertools.pairwise(tiles):
        parent.children.append(child)
    return tiles[0]


def _site_tile(scene: Scene, hierarchy: _Hierarchy) -> _Tile | None:
    """One leaf tile for drawable objects outside every building."""
    inside: set[str] = set()
    for building in hierarchy.buildings():
        inside.add(building.id)
        inside.update(d.id for d in hierarchy.descendants(building))
    loose = [o for o in scene.objects.values() if o.id not in inside and o.id in hierarchy.drawable]
    if not loose:
        return None
    content = _content(4, loose, hierarchy)
    return None if content.mesh.empty else _Tile(content, 0.0)


# ---------------------------------------------------------------- tileset assembly


def _slug(text: str) -> str:
    """A file-name-safe short form of an id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:40] or "x"


def _points(tile: _Tile) -> npt.NDArray[np.float64]:
    """Every vertex of a tile and its descendants."""
    own = [tile.content.mesh.positions] if tile.content is not None else []
    return np.concatenate(own + [_points(child) for child in tile.children])


def _rows(objects: Sequence[SceneObject]) -> list[dict[str, Any]]:
    """Property table rows of a tile's features."""
    return [
        {
            "id": o.id,
            "kind": o.kind.value,
            "name": o.name,
            "parent": o.parent,
            "attributes": o.attributes,
        }
        for o in objects
    ]


def _tile_json(tile: _Tile, files: dict[str, bytes]) -> dict[str, Any]:
    """The JSON of one tile (and its children), adding its GLB to `files`."""
    node: dict[str, Any] = {
        "boundingVolume": {"box": oriented_box(_points(tile))},
        "geometricError": tile.geometric_error,
        "refine": "REPLACE",
    }
    if tile.content is not None and tile.uri is not None:
        content = tile.content
        color = LEVEL_COLORS.get(content.level, LEVEL_COLORS[4])
        name = f"CIM{content.level}"
        files[tile.uri] = encode_glb(content.mesh, _rows(content.objects), color=color, name=name)
        node["content"] = {
            "uri": tile.uri,
            "boundingVolume": {"box": oriented_box(content.mesh.positions)},
        }
        node["extras"] = {"cimLevel": content.level, "features": len(content.objects)}
        if tile.group is not None:
            node["extras"]["building"] = tile.group
    if tile.children:
        node["children"] = [_tile_json(child, files) for child in tile.children]
    return node


def _name_files(tile: _Tile, stem: str) -> None:
    """Give every tile with content a GLB path under tiles/."""
    if tile.content is not None:
        tile.uri = f"{TILES_DIR}/{stem}_L{tile.content.level}.glb"
    for child in tile.children:
        _name_files(child, stem)


def _count(node: dict[str, Any]) -> int:
    """Number of tiles in a tile JSON tree."""
    return 1 + sum(_count(child) for child in node.get("children", []))


def _features(tile: _Tile) -> int:
    """Number of feature rows in a tile and its descendants."""
    own = len(tile.content.objects) if tile.content is not None else 0
    return own + sum(_features(child) for child in tile.children)


@dataclass
class Tileset:
    """A tileset in memory: the tileset.json document and GLB bytes by relative URI."""

    document: dict[str, Any]
    files: dict[str, bytes]
    features: int

    @property
    def tiles(self) -> int:
        """Number of tiles, root included."""
        return _count(self.document["root"])


def build_tileset(scene: Scene) -> Tileset:
    """The tileset.json document and its GLB files for a scene, in memory."""
    hierarchy = _Hierarchy(scene)
    children: list[_Tile] = []
    for index, building in enumerate(hierarchy.buildings()):
        tile = _building_tile(building, hierarchy)
        if tile is not None:
            _name_files(tile, f"{index:03d}_{_slug(building.id)}")
            children.append(tile)
    site = _site_tile(scene, hierarchy)
    if site is not None:
        _name_files(site, "site")
        children.append(site)
    files: dict[str, bytes] = {}
    root = _root_json(scene, children, files)
    document = {
        "asset": {"version": "1.1", "generator": "shequ"},
        "geometricError": root["geometricError"] * 2 if children else 1.0,
        "root": root,
        "extras": {"origin": list(scene.origin), "sourceCrs": scene.source_crs.label},
    }
    return Tileset(document, files, sum(_features(child) for child in children))


def _root_json(scene: Scene, children: list[_Tile], files: dict[str, bytes]) -> dict[str, Any]:
    """The root tile: ENU → ECEF transform, box around everything, one child per building."""
    transform = enu_to_ecef_matrix(scene.origin).T.reshape(-1).tolist()
    if not children:
        box = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        return {"boundingVolume": {"box": box}, "geometricError": 0.0, "transform": transform}
    nodes = [_tile_json(child, files) for child in children]
    points = np.concatenate([_points(child) for child in children])
    error = max(max(n["geometricError"] for n in nodes) * 2, _diagonal(points) / 2, 1.0)
    return {
        "boundingVolume": {"box": oriented_box(points)},
        "geometricError": error,
        "refine": "REPLACE",
        "transform": transform,
        "children": nodes,
    }


def write_tileset(scene: Scene, out_dir: Path | str) -> TilesetReport:
    """Write tileset.json and its GLB tiles under `out_dir` (created if needed)."""
    out = Path(out_dir)
    tileset = build_tileset(scene)
    (out / TILES_DIR).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for uri, data in tileset.files.items():
        path = out / uri
        path.write_bytes(data)
        written.append(path)
    text = json.dumps(tileset.document, ensure_ascii=False, indent=1).encode("utf-8")
    index = out / "tileset.json"
    index.write_bytes(text)
    return TilesetReport(
        files=[index, *written],
        bytes=len(text) + sum(len(d) for d in tileset.files.values()),
        tiles=tileset.tiles,
        features=tileset.features,
    )
