"""GeoJSON building footprints (楼栋轮廓) importer: a FeatureCollection or a single Feature.

Each Polygon or MultiPolygon feature becomes a building with a `Footprint` prism; floors and
height come from common property names (English, OSM and Chinese). Coordinates are WGS 84
longitude/latitude (RFC 7946) unless a legacy `crs` member names another CRS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import Polygon
from shapely.validation import explain_validity

from shequ.cim.io.crs import CrsError, crs_from_codes, georeference, parse_crs
from shequ.cim.io.read import (
    CimFormatError,
    as_bytes,
    decode_text,
    finish_scene,
    first_value,
    issue,
    to_float,
    to_int,
)
from shequ.cim.io.scene import Crs, Footprint, ObjectKind, Scene, SceneObject

FORMAT = "GeoJSON"
FLOOR_HEIGHT = 3.0
"""Metres per floor when only the number of floors is known."""

WGS84 = 4326
HEIGHT_KEYS = ("height", "measuredHeight", "高度", "建筑高度")
FLOOR_KEYS = ("floors", "building:levels", "levels", "层数", "楼层数", "storeys", "地上层数")
BASE_KEYS = ("min_height", "base", "base_height", "底标高")
NAME_KEYS = ("name", "名称", "楼栋名称")
ADDRESS_KEYS = ("address", "地址", "addr:full")
ID_KEYS = ("id", "编号", "楼栋编号")

Ring = list[tuple[float, float]]


@dataclass
class _Part:
    """One polygon of a feature: rings without the closing point, and its area."""

    rings: list[Ring]
    area: float
    base: float | None


def read_geojson(data: bytes | Path, name: str = "", default_crs: Crs | None = None) -> Scene:
    """Read GeoJSON building footprints into a Scene in its local ENU frame."""
    text = decode_text(as_bytes(data), FORMAT)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CimFormatError(f"line {exc.lineno}, column {exc.colno}", exc.msg,
                             fmt=FORMAT) from exc
    features = _features(doc)
    scene = Scene(source_crs=Crs(), origin=(0.0, 0.0, 0.0))
    scene.metadata["format"] = "geojson"
    if isinstance(doc, dict) and doc.get("name"):
        scene.metadata["title"] = doc["name"]
    crs = _declared_crs(doc, scene, default_crs)
    for index, feature in enumerate(features):
        _read_feature(scene, index, feature)
    georeference(scene, crs, location="crs", warn_missing=False)
    for obj in scene.objects.values():
        if obj.footprint is not None:
            obj.footprint.rings = _oriented(obj.footprint.rings)
    finish_scene(scene)
    return scene


def _features(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise CimFormatError("features", "features must be an array", fmt=FORMAT)
        return features
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    raise CimFormatError("type", "expected a FeatureCollection or a Feature", fmt=FORMAT)


def _declared_crs(doc: dict[str, Any], scene: Scene, default_crs: Crs | None) -> Crs | None:
    member = doc.get("crs")
    if member is None:
        return default_crs if default_crs is not None else crs_from_codes([WGS84])
    properties = member.get("properties", {}) if isinstance(member, dict) else {}
    try:
        if isinstance(member, dict) and member.get("type") == "EPSG" and "code" in properties:
            return crs_from_codes([int(properties["code"])])
        return parse_crs(str(properties.get("name", "")))
    except (CrsError, ValueError) as exc:
        params = exc.params if isinstance(exc, CrsError) else {"crs": str(member)}
        scene.issues.append(issue("crs", "cim.io.unknown_crs", "error", **params))
        return None


# --- features --------------------------------------------------------------------------------


def _feature_id(index: int, feature: dict[str, Any], properties: dict[str, Any]) -> str:
    value = feature.get("id")
    if value in (None, ""):
        value = first_value(properties, ID_KEYS)
    return str(value) if value not in (None, "") else f"feature-{index}"


def _read_feature(scene: Scene, index: int, feature: Any) -> None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        scene.issues.append(issue(f"feature {index}", "cim.io.not_a_feature", "error"))
        return
    properties = dict(feature.get("properties") or {})
    oid = _feature_id(index, feature, properties)
    location = f"feature {index} '{oid}'"
    if oid in scene.objects:
        scene.issues.append(issue(location, "cim.io.duplicate_id", "error", id=oid))
        return
    parts = _parts(scene, location, feature.get("geometry"))
    if parts is None:
        return
    building = _building(oid, properties)
    scene.add(building)
    parts.sort(key=lambda p: -p.area)
    for number, part in enumerate(parts):
        footprint = _footprint(part, properties)
        if number == 0:
            building.footprint = footprint
            continue
        scene.add(
            SceneObject(
                id=f"{oid}#{number + 1}",
                kind=ObjectKind.building_part,
                parent=oid,
                footprint=footprint,
                height=footprint.height,
                source_type="Polygon",
            )
        )


def _building(oid: str, properties: dict[str, Any]) -> SceneObject:
    floors = to_int(first_value(properties, FLOOR_KEYS))
    attributes = dict(properties)
    if floors is not None:
        attributes["floors"] = floors
    address = first_value(properties, ADDRESS_KEYS)
    if address is not None:
        attributes["address"] = address
    name = first_value(properties, NAME_KEYS)
    return SceneObject(
        id=oid,
        kind=ObjectKind.building,
        name=None if name is None else str(name),
        attributes=attributes,
        height=_height(properties),
        source_type="Feature",
    )


def _height(properties: dict[str, Any]) -> float:
    height = to_float(first_value(properties, HEIGHT_KEYS))
    if height is not None and height > 0:
        return height
    floors = to_int(first_value(properties, FLOOR_KEYS))
    if floors is not None and floors > 0:
        return floors * FLOOR_HEIGHT
    return FLOOR_HEIGHT


def _footprint(part: _Part, properties: dict[str, Any]) -> Footprint:
    base = to_float(first_value(properties, BASE_KEYS))
    if base is None:
        base = part.base if part.base is not None else 0.0
    return Footprint(rings=part.rings, base=base, height=_height(properties))


# --- geometry --------------------------------------------------------------------------------


def _parts(scene: Scene, location: str, geometry: Any) -> list[_Part] | None:
    """The polygons of a feature, or None when it cannot be a building footprint."""
    if geometry is None:
        scene.issues.append(issue(location, "cim.io.no_geometry", "warning"))
        return []
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        polygons = [coordinates]
    elif kind == "MultiPolygon" and isinstance(coordinates, list):
        polygons = coordinates
    else:
        scene.issues.append(
            issue(location, "cim.io.unsupported_geometry", "warning", type=str(kind))
        )
        return None
    parts: list[_Part] = []
    for number, polygon in enumerate(polygons):
        where = location if len(polygons) == 1 else f"{location} polygon {number}"
        part = _part(scene, where, polygon)
        if part is not None:
            parts.append(part)
    return parts if len(parts) == len(polygons) else None


def _part(scene: Scene, location: str, polygon: Any) -> _Part | None:
    if not isinstance(polygon, list) or not polygon:
        scene.issues.append(issue(location, "cim.io.too_few_points", "error", count=0))
        return None
    rings: list[Ring] = []
    heights: list[float] = []
    for number, raw in enumerate(polygon):
        ring = _ring(scene, f"{location} ring {number}", raw, heights)
        if ring is None:
            return None
        rings.append(ring)
    shape = Polygon(rings[0], rings[1:])
    if not shape.is_valid:
        scene.issues.append(
            issue(location, "cim.io.invalid_footprint", "error", reason=explain_validity(shape))
        )
        return None
    return _Part(rings=rings, area=float(shape.area), base=min(heights) if heights else None)


def _ring(scene: Scene, location: str, raw: Any, heights: list[float]) -> Ring | None:
    """Ring positions without the closing point; an unclosed ring is closed with a warning."""
    try:
        points = [(float(p[0]), float(p[1])) for p in raw]
        heights.extend(float(p[2]) for p in raw if len(p) > 2)
    except (TypeError, ValueError, IndexError):
        scene.issues.append(issue(location, "cim.io.bad_coordinates", "error",
                                  reason="positions must be [x, y] numbers"))
        return None
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    elif points:
        scene.issues.append(issue(location, "cim.io.ring_closed", "warning"))
    if len(set(points)) < 3:
        scene.issues.append(issue(location, "cim.io.too_few_points", "error", count=len(points)))
        return None
    return points


def _signed_area(ring: Ring) -> float:
    return 0.5 * sum(
        x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True)
    )


def _oriented(rings: list[Ring]) -> list[Ring]:
    """Outer ring counter-clockwise, holes clockwise (in the local east-north frame)."""
    out: list[Ring] = []
    for number, ring in enumerate(rings):
        ccw = _signed_area(ring) > 0
        out.append(ring if ccw == (number == 0) else ring[::-1])
    return out
