"""CityJSON 2.0 export of a scene.

Vertices are written as integers with `transform.scale` 0.001 (millimetres) in a projected
CRS in metres: the scene's source CRS when it is one, otherwise the CGCS2000 3-degree
Gauss–Krüger zone (EPSG:4534–4554) whose area of use contains the origin, otherwise the UTM
zone of the origin. Heights are the source CRS's heights when it has a vertical part, else
ellipsoidal heights.

CityJSON 2.0 wants BuildingUnit, BuildingStorey and BuildingRoom directly under their
Building (or BuildingPart); the scene's finer nesting (unit → storey → household) is kept
in the attribute ``shequ:parent``. Other attributes added by the exporter (names the importer
reads back): ``name``, ``storeyIndex``, ``measuredHeight`` (buildings) and ``shequ:kind`` (when
the CityJSON type does not say it); register attributes are copied as they are.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.procedural import prism
from shequ.cim.io.scene import Crs, Geometry, ObjectKind, Scene, SceneObject

SCALE = 0.001
OGC_EPSG = "https://www.opengis.net/def/crs/EPSG/0/"
GK_FIRST_EPSG, GK_FIRST_MERIDIAN, GK_LAST_MERIDIAN = 4534, 75, 135
TYPES = {
    ObjectKind.building: "Building",
    ObjectKind.building_part: "BuildingPart",
    ObjectKind.unit: "BuildingUnit",
    ObjectKind.storey: "BuildingStorey",
    ObjectKind.room: "BuildingRoom",
    ObjectKind.structure: "OtherConstruction",
    ObjectKind.facility: "CityFurniture",
    ObjectKind.road: "Road",
    ObjectKind.parking: "TransportSquare",
    ObjectKind.other: "GenericCityObject",
}
BUILDING_PARENTS = {ObjectKind.building, ObjectKind.building_part}
NEEDS_BUILDING = {ObjectKind.building_part, ObjectKind.unit, ObjectKind.storey, ObjectKind.room}
SURFACES_ONLY = {"Road", "TransportSquare"}
LOSSY_TYPES = {"GenericCityObject", "OtherConstruction", "TransportSquare"}
SEMANTIC_TYPES = {
    "RoofSurface", "GroundSurface", "WallSurface", "ClosureSurface", "OuterCeilingSurface",
    "OuterFloorSurface", "Window", "Door", "InteriorWallSurface", "CeilingSurface",
    "FloorSurface", "WaterSurface", "WaterGroundSurface", "WaterClosureSurface", "TrafficArea",
    "AuxiliaryTrafficArea", "TransportationHole", "TransportationMarking",
}  # fmt: skip
LODS = {"0", "1", "2", "3"} | {f"{a}.{b}" for a in range(4) for b in range(4)}


# ---------------------------------------------------------------- CRS and frames


def source_crs(crs: Crs) -> CRS | None:
    """The pyproj CRS a scene's source declared, or None when it cannot be built."""
    try:
        if crs.epsg and crs.vertical_epsg:
            return CRS.from_user_input(f"EPSG:{crs.epsg}+{crs.vertical_epsg}")
        if crs.epsg:
            return CRS.from_epsg(crs.epsg)
        if crs.wkt:
            return CRS.from_wkt(crs.wkt)
    except CRSError:
        return None
    return None


def is_projected_metres(crs: CRS) -> bool:
    """True for a projected CRS (possibly with heights) whose easting/northing are metres."""
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    axes = horizontal.axis_info[:2]
    return horizontal.is_projected and all(a.unit_name in {"metre", "meter"} for a in axes)


def zone_crs(lon: float, lat: float) -> CRS:
    """CGCS2000 3° Gauss–Krüger zone (EPSG:4534–4554) containing a point, else its UTM zone."""
    meridian = 3 * round(lon / 3)
    if GK_FIRST_MERIDIAN <= meridian <= GK_LAST_MERIDIAN:
        candidate = CRS.from_epsg(GK_FIRST_EPSG + (meridian - GK_FIRST_MERIDIAN) // 3)
        area = candidate.area_of_use
        if area is not None and area.west <= lon <= area.east and area.south <= lat <= area.north:
            return candidate
    zone = min(max(int((lon + 180) // 6) + 1, 1), 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def ogc_url(crs: CRS) -> str | None:
    """The OGC URL of an EPSG CRS (a compound without its own code: its horizontal part)."""
    code = crs.to_epsg()
    if code is None and crs.is_compound:
        code = crs.sub_crs_list[0].to_epsg()
    return f"{OGC_EPSG}{code}" if code is not None else None


def is_georeferenced(scene: Scene) -> bool:
    """False for a scene in a bare local frame (no CRS, origin 0/0/0, as importers leave it)."""
    declared = scene.source_crs.epsg is not None or bool(scene.source_crs.wkt)
    return declared or any(v != 0.0 for v in scene.origin)


def export_crs(scene: Scene, crs: int | str | None = None) -> CRS:
    """The CRS to export in: `crs` if given, the source CRS if projected, else a zone."""
    if crs is not None:
        chosen = CRS.from_user_input(crs)
        if not is_projected_metres(chosen):
            raise ValueError(f"export CRS {chosen.name} is not projected in metres")
        return chosen
    declared = source_crs(scene.source_crs)
    if declared is not None and is_projected_metres(declared) and ogc_url(declared):
        return declared
    return zone_crs(scene.origin[0], scene.origin[1])


@lru_cache(maxsize=32)
def _from_geodetic(target: str) -> Transformer:
    """A cached transformer from WGS 84 3D (EPSG:4979) to a CRS given as WKT."""
    return Transformer.from_crs(CRS.from_epsg(4979), CRS.from_user_input(target), always_xy=True)


def local_to_crs(
    origin: tuple[float, float, float], points: npt.ArrayLike, crs: CRS
) -> npt.NDArray[np.float64]:
    """Local ENU points (N, 3) in another CRS (x/easting or lon first, then height).

    The inverse of the importers' path (source → WGS 84 3D → ENU), so exports read back
    to the same place.
    """
    xyz = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(xyz) == 0:
        return xyz
    llh = LocalFrame(origin).to_geodetic(xyz)
    x, y, z = _from_geodetic(crs.to_wkt()).transform(llh[:, 0], llh[:, 1], llh[:, 2])
    result = np.column_stack([x, y, z]).astype(np.float64)
    if not np.all(np.isfinite(result)):
        raise ValueError(f"cannot transform scene coordinates to {crs.name}")
    return result


# ---------------------------------------------------------------- attribute values


def json_value(value: Any) -> Any:
    """A JSON-ready copy of an attribute value (dates as ISO text, NaN as null)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, decimal.Decimal):
        return json_value(float(value))
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


# ---------------------------------------------------------------- geometry encoding


@dataclass
class _Vertices:
    """All vertices of the export, transformed and quantised together."""

    chunks: list[npt.NDArray[np.float64]] = field(default_factory=list)
    size: int = 0

    def add(self, vertices: npt.NDArray[np.float64]) -> int:
        """Queue a geometry's vertices; returns the offset of its first vertex."""
        offset = self.size
        self.chunks.append(np.asarray(vertices, dtype=np.float64).reshape(-1, 3))
        self.size += len(self.chunks[-1])
        return offset


def _lod(text: str) -> str:
    """A CityJSON LoD string ("0".."3.3") for a scene LoD."""
    if text in LODS:
        return text
    try:
        value = float(text)
    except ValueError:
        return "1"
    value = min(max(value, 0.0), 3.3)
    candidate = f"{value:.1f}"
    return candidate if candidate in LODS else str(int(value))


def _ring(ring: Iterable[int], remap: npt.NDArray[np.int64], offset: int) -> list[int]:
    """A ring in global vertex indices without repeated (or closing) vertices."""
    out: list[int] = []
    for index in ring:
        mapped = int(remap[offset + index])
        if not out or out[-1] != mapped:
            out.append(mapped)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def _surfaces(
    geometry: Geometry, remap: npt.NDArray[np.int64], offset: int
) -> tuple[list[list[list[int]]], list[str | None]]:
    """Cleaned surfaces and their semantic names; degenerate ones are dropped."""
    surfaces: list[list[list[int]]] = []
    names: list[str | None] = []
    for i, surface in enumerate(geometry.surfaces):
        rings = [_ring(r, remap, offset) for r in surface]
        if not rings or len(set(rings[0])) < 3:
            continue
        surfaces.append([r for r in rings if len(set(r)) >= 3])
        name = geometry.semantics[i] if i < len(geometry.semantics) else None
        names.append(name if name in SEMANTIC_TYPES or (name or "").startswith("+") else None)
    return surfaces, names


def _semantics(names: list[list[str | None]], nested: bool) -> dict[str, Any] | None:
    """CityJSON semantics for shells (Solid/CompositeSolid) or one list (MultiSurface)."""
    kinds = sorted({n for shell in names for n in shell if n is not None})
    if not kinds:
        return None
    position = {k: i for i, k in enumerate(kinds)}
    values = [[position[n] if n is not None else None for n in shell] for shell in names]
    return {
        "surfaces": [{"type": k} for k in kinds],
        "values": values if nested else values[0],
    }


def _encode(
    parts: list[tuple[Geometry, int]], remap: npt.NDArray[np.int64], cj_type: str
) -> dict[str, Any] | None:
    """One CityJSON geometry from the scene geometries of one object at one LoD."""
    encoded = [_surfaces(g, remap, offset) for g, offset in parts]
    encoded = [(s, n) for s, n in encoded if s]
    if not encoded:
        return None
    lod = _lod(parts[0][0].lod)
    solid = all(g.solid for g, _ in parts) and cj_type not in SURFACES_ONLY
    geometry: dict[str, Any]
    if solid and len(encoded) == 1:
        geometry = {"type": "Solid", "lod": lod, "boundaries": [encoded[0][0]]}
        semantics = _semantics([encoded[0][1]], nested=True)
    elif solid:
        geometry = {"type": "CompositeSolid", "lod": lod, "boundaries": [[s] for s, _ in encoded]}
        semantics = _semantics([n for _, n in encoded], nested=True)
        if semantics is not None:
            semantics["values"] = [[v] for v in semantics["values"]]
    else:
        surfaces = [s for group, _ in encoded for s in group]
        names = [n for _, group in encoded for n in group]
        geometry = {"type": "MultiSurface", "lod": lod, "boundaries": surfaces}
        semantics = _semantics([names], nested=False)
    if semantics is not None:
        geometry["semantics"] = semantics
    return geometry


# ---------------------------------------------------------------- objects


def _geometries(obj: SceneObject) -> list[Geometry]:
    """The object's geometries, or a prism from its footprint when it has none."""
    if obj.geometry:
        return list(obj.geometry)
    fp = obj.footprint
    if fp is not None and fp.height > 0:
        interior = obj.kind in {ObjectKind.storey, ObjectKind.room}
        return [prism(fp.rings, fp.base, fp.height, interior=interior)]
    return []


def _building_parent(scene: Scene, obj: SceneObject) -> str | None:
    """The nearest Building/BuildingPart ancestor (the parent CityJSON 2.0 wants)."""
    seen = {obj.id}
    current = obj
    while current.parent is not None and current.parent in scene.objects:
        current = scene.objects[current.parent]
        if current.id in seen:
            return None
        seen.add(current.id)
        if current.kind in BUILDING_PARENTS:
            return current.id
    return None


def _attributes(obj: SceneObject, cj_type: str, cj_parent: str | None) -> dict[str, Any]:
    """Register attributes plus what the CityJSON type and links do not say."""
    attributes = {str(k): json_value(v) for k, v in obj.attributes.items()}
    extra: dict[str, Any] = {}
    if obj.name and "name" not in attributes:
        extra["name"] = obj.name
    if TYPES[obj.kind] != cj_type or cj_type in LOSSY_TYPES:
        extra["shequ:kind"] = obj.kind.value
    if obj.parent is not None and obj.parent != cj_parent:
        extra["shequ:parent"] = obj.parent
    if obj.storey_index is not None:
        extra["storeyIndex"] = obj.storey_index
    if cj_type == "Building" and obj.height is not None:
        extra["measuredHeight"] = json_value(obj.height)
    return {**extra, **attributes}


def _city_object(scene: Scene, obj: SceneObject) -> tuple[dict[str, Any], str | None]:
    """The CityObject of one scene object (without geometry) and its CityJSON parent."""
    cj_type = TYPES[obj.kind]
    parent = _building_parent(scene, obj) if obj.kind in NEEDS_BUILDING else None
    if obj.kind in NEEDS_BUILDING and parent is None:
        cj_type = "Building" if obj.kind == ObjectKind.building_part else "GenericCityObject"
    city_object: dict[str, Any] = {"type": cj_type}
    attributes = _attributes(obj, cj_type, parent)
    if attributes:
        city_object["attributes"] = attributes
    if parent is not None:
        city_object["parents"] = [parent]
    return city_object, parent


def to_cityjson(scene: Scene, *, crs: int | str | None = None) -> dict[str, Any]:
    """The scene as a CityJSON 2.0 document (a dict ready for json.dump).

    A scene that is not georeferenced keeps its local metres and gets no referenceSystem.
    """
    target = export_crs(scene, crs) if is_georeferenced(scene) or crs is not None else None
    vertices = _Vertices()
    city_objects: dict[str, dict[str, Any]] = {}
    pending: dict[str, list[tuple[Geometry, int]]] = {}
    links: list[tuple[str, str]] = []
    for obj in scene.objects.values():
        city_object, parent = _city_object(scene, obj)
        city_objects[obj.id] = city_object
        if parent is not None:
            links.append((parent, obj.id))
        pending[obj.id] = [(g, vertices.add(g.vertices)) for g in _geometries(obj)]
    for parent, child in links:
        city_objects[parent].setdefault("children", []).append(child)
    quantised, translate, extent = _quantise(scene, vertices, target)
    unique, remap = _deduplicate(quantised)
    for oid, parts in pending.items():
        encoded = _object_geometry(parts, remap, city_objects[oid]["type"])
        if encoded:
            city_objects[oid]["geometry"] = encoded
    unique = _drop_orphans(unique, city_objects)
    metadata: dict[str, Any] = {}
    if target is not None:
        metadata["referenceSystem"] = ogc_url(target)
    if extent is not None:
        metadata["geographicalExtent"] = extent
    if isinstance(scene.metadata.get("title"), str):
        metadata["title"] = scene.metadata["title"]
    return {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [SCALE, SCALE, SCALE], "translate": translate},
        "metadata": metadata,
        "CityObjects": city_objects,
        "vertices": unique.tolist(),
    }


def _object_geometry(
    parts: list[tuple[Geometry, int]], remap: npt.NDArray[np.int64], cj_type: str
) -> list[dict[str, Any]]:
    """CityJSON geometries of one object: one per LoD, finest last."""
    by_lod: dict[str, list[tuple[Geometry, int]]] = {}
    for geometry, offset in parts:
        by_lod.setdefault(_lod(geometry.lod), []).append((geometry, offset))
    result = []
    for lod in sorted(by_lod, key=float):
        encoded = _encode(by_lod[lod], remap, cj_type)
        if encoded is not None:
            result.append(encoded)
    return result


def _quantise(
    scene: Scene, vertices: _Vertices, target: CRS | None
) -> tuple[npt.NDArray[np.int64], list[float], list[float] | None]:
    """Integer vertices in the export CRS (None: local metres), translate and real extent."""
    if vertices.size == 0:
        return np.zeros((0, 3), dtype=np.int64), [0.0, 0.0, 0.0], None
    local = np.concatenate(vertices.chunks)
    real = local if target is None else local_to_crs(scene.origin, local, target)
    low, high = real.min(axis=0), real.max(axis=0)
    translate = np.floor(low)
    quantised = np.rint((real - translate) / SCALE).astype(np.int64)
    extent = [float(v) for v in (*low, *high)]
    return quantised, [float(v) for v in translate], extent


def _deduplicate(
    quantised: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Unique vertices and the index of each original vertex among them."""
    if len(quantised) == 0:
        return quantised, np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(quantised, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1).astype(np.int64)


def _indices(boundaries: Any) -> Iterable[int]:
    """Every vertex index in nested boundary lists."""
    for item in boundaries:
        if isinstance(item, int):
            yield item
        else:
            yield from _indices(item)


def _renumber(boundaries: Any, mapping: npt.NDArray[np.int64]) -> Any:
    """Nested boundary lists with every index replaced through `mapping`."""
    return [int(mapping[b]) if isinstance(b, int) else _renumber(b, mapping) for b in boundaries]


def _drop_orphans(
    unique: npt.NDArray[np.int64], city_objects: dict[str, dict[str, Any]]
) -> npt.NDArray[np.int64]:
    """Remove vertices no surface uses (left by degenerate surfaces), renumbering the rest."""
    geometries = [g for co in city_objects.values() for g in co.get("geometry", [])]
    used = np.zeros(len(unique), dtype=bool)
    for geometry in geometries:
        used[np.fromiter(_indices(geometry["boundaries"]), dtype=np.int64)] = True
    if used.all():
        return unique
    mapping = np.cumsum(used) - 1
    for geometry in geometries:
        geometry["boundaries"] = _renumber(geometry["boundaries"], mapping)
    return unique[used]


def write_cityjson(scene: Scene, path: Path | str, *, crs: int | str | None = None) -> Path:
    """Write the scene as a .city.json file and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = to_cityjson(scene, crs=crs)
    out.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), "utf-8")
    return out
