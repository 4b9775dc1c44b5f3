"""GeoJSON (RFC 7946) export: one FeatureCollection per object kind, in WGS 84 lon/lat.

Buildings, units and households (rooms) become footprint polygons, taken from the object's
footprint or, failing that, from the plan view of its geometry; facilities become points.
Exterior rings are counter-clockwise and holes clockwise (the right-hand rule), coordinates
are rounded to 1e-7 degrees (about 1 cm).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.polygon import orient

from shequ.cim.io.cityjson_out import json_value, local_to_crs
from shequ.cim.io.scene import Geometry, ObjectKind, Scene, SceneObject

WGS84 = CRS.from_epsg(4326)
DIGITS = 7
FOOTPRINT_KINDS = (ObjectKind.building, ObjectKind.unit, ObjectKind.room)
POINT_KINDS = (ObjectKind.facility,)
_FLAT = 1e-6


def _plan(geometry: Geometry) -> list[Polygon]:
    """Plan-view polygons of the non-vertical surfaces of a geometry."""
    polygons = []
    vertices = np.asarray(geometry.vertices, dtype=np.float64)
    for surface in geometry.surfaces:
        if not surface or len(surface[0]) < 3:
            continue
        outer = vertices[surface[0]]
        centred = outer - outer.mean(axis=0)
        normal = np.cross(centred, np.roll(centred, -1, axis=0)).sum(axis=0)
        if abs(normal[2]) <= _FLAT * max(float(np.linalg.norm(normal)), 1.0):
            continue
        holes = [vertices[r][:, :2] for r in surface[1:] if len(r) >= 3]
        polygon = shapely.make_valid(Polygon(outer[:, :2], holes))
        polygons += [p for p in _parts(polygon) if p.area > _FLAT]
    return polygons


def _parts(shape: shapely.Geometry) -> list[Polygon]:
    """The polygons inside any shapely geometry."""
    if isinstance(shape, Polygon):
        return [shape]
    return [p for g in getattr(shape, "geoms", []) for p in _parts(g)]


def plan_shape(obj: SceneObject) -> Polygon | MultiPolygon | None:
    """The object's footprint in local metres: its footprint, else its geometry's plan."""
    if obj.footprint is not None and obj.footprint.rings:
        rings = obj.footprint.rings
        return shapely.make_valid(Polygon(rings[0], rings[1:]))
    polygons = [p for g in obj.geometry for p in _plan(g)]
    if not polygons:
        return None
    merged = shapely.union_all(polygons)
    parts = _parts(merged)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _anchor(obj: SceneObject) -> tuple[float, float, float] | None:
    """A point for an object: centre of its geometry, footprint or plan."""
    points = [np.asarray(g.vertices, dtype=np.float64) for g in obj.geometry if len(g.vertices)]
    if points:
        stacked = np.concatenate(points)
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        centre = (low + high) / 2
        return float(centre[0]), float(centre[1]), float(low[2])
    shape = plan_shape(obj)
    if shape is None:
        return None
    base = obj.footprint.base if obj.footprint is not None else (obj.elevation or 0.0)
    return float(shape.centroid.x), float(shape.centroid.y), float(base)


def _to_lonlat(scene: Scene, shape: shapely.Geometry, height: float) -> shapely.Geometry:
    """A local-metre shape in WGS 84 lon/lat, rounded, with right-hand-rule rings."""

    def convert(xy: np.ndarray) -> np.ndarray:
        """Local x/y at `height` → rounded lon/lat."""
        points = np.column_stack([xy, np.full(len(xy), height)])
        return np.round(local_to_crs(scene.origin, points, WGS84)[:, :2], DIGITS)

    moved = shapely.transform(shape, convert)
    if isinstance(moved, Polygon):
        return orient(moved, 1.0)
    if isinstance(moved, MultiPolygon):
        return MultiPolygon([orient(p, 1.0) for p in moved.geoms])
    return moved


def _properties(obj: SceneObject) -> dict[str, Any]:
    """Feature properties: id, kind, name, parent, base and height, then attributes."""
    properties: dict[str, Any] = {
        "id": obj.id,
        "kind": obj.kind.value,
        "name": obj.name,
        "parent": obj.parent,
    }
    if obj.footprint is not None:
        properties["base"] = obj.footprint.base
        properties["height"] = obj.footprint.height
    elif obj.elevation is not None or obj.height is not None:
        properties["base"] = obj.elevation
        properties["height"] = obj.height
    for key, value in obj.attributes.items():
        properties.setdefault(str(key), json_value(value))
    return properties


def feature(scene: Scene, obj: SceneObject) -> dict[str, Any] | None:
    """One GeoJSON Feature: a footprint polygon, or a point for point kinds."""
    if obj.kind in POINT_KINDS:
        anchor = _anchor(obj)
        if anchor is None:
            return None
        geometry = _to_lonlat(scene, Point(anchor[0], anchor[1]), anchor[2])
    else:
        shape = plan_shape(obj)
        if shape is None:
            return None
        base = obj.footprint.base if obj.footprint is not None else (obj.elevation or 0.0)
        geometry = _to_lonlat(scene, shape, base)
    return {
        "type": "Feature",
        "id": obj.id,
        "geometry": mapping(geometry),
        "properties": _properties(obj),
    }


def feature_collection(scene: Scene, objects: Iterable[SceneObject]) -> dict[str, Any]:
    """A FeatureCollection of the objects that have a footprint or position."""
    features = [f for obj in objects if (f := feature(scene, obj)) is not None]
    return {"type": "FeatureCollection", "features": features}


def to_geojson(
    scene: Scene,
    kinds: Iterable[ObjectKind] = FOOTPRINT_KINDS + POINT_KINDS,
) -> dict[str, dict[str, Any]]:
    """One FeatureCollection per object kind present, keyed by kind ("building", "room" ...)."""
    result = {}
    for kind in kinds:
        objects = scene.of_kind(kind)
        if objects:
            result[kind.value] = feature_collection(scene, objects)
    return result
