"""GeoJSON geometry checks and conversions (WGS 84 / CGCS2000 longitude-latitude)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator
from shapely.geometry import shape
from shapely.validation import explain_validity

KINDS = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                   "MultiPolygon"})
EARTH_RADIUS = 6_378_137.0


def check_geometry(value: dict[str, Any], allowed: frozenset[str] = KINDS) -> dict[str, Any]:
    """A GeoJSON geometry of an allowed type, in longitude/latitude, topologically valid."""
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in allowed:
        raise ValueError(f"geometry type must be one of {', '.join(sorted(allowed))}")
    try:
        geom = shape(value)
        empty = geom.is_empty
        minx, miny, maxx, maxy = geom.bounds
    except Exception as exc:  # shapely and GEOS raise many kinds on bad input
        raise ValueError(f"malformed coordinates: {type(exc).__name__}") from exc
    if empty:
        raise ValueError("the geometry is empty")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("coordinates must be longitude/latitude in degrees (WGS 84 or "
                         "CGCS2000); projected coordinates go through a file import")
    if not geom.is_valid:
        raise ValueError(f"invalid geometry: {explain_validity(geom)}")
    return {"type": kind, "coordinates": value["coordinates"]}


def _only(*kinds: str) -> AfterValidator:
    allowed = frozenset(kinds)
    return AfterValidator(lambda value: check_geometry(value, allowed))


AnyGeometry = Annotated[dict[str, Any], AfterValidator(check_geometry)]
"""Any GeoJSON geometry in longitude/latitude."""
Area = Annotated[dict[str, Any], _only("Polygon", "MultiPolygon")]
"""A polygon footprint in longitude/latitude."""
PointOrLine = Annotated[dict[str, Any], _only("Point", "LineString", "MultiLineString",
                                              "Polygon")]
"""A facility symbol: point, line or area."""


def bbox(geometry: dict[str, Any] | None) -> tuple[float, float, float, float] | None:
    """min lon, min lat, max lon, max lat of a geometry."""
    if not geometry:
        return None
    bounds: tuple[float, float, float, float] = shape(geometry).bounds
    return bounds


def to_local(lon: float, lat: float, origin: tuple[float, float]) -> tuple[float, float]:
    """Metres east and north of an origin (equirectangular; exact enough within a community)."""
    lon0, lat0 = origin
    x = math.radians(lon - lon0) * EARTH_RADIUS * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_RADIUS
    return x, y


def to_lonlat(x: float, y: float, origin: tuple[float, float]) -> tuple[float, float]:
    """The inverse of `to_local`."""
    lon0, lat0 = origin
    lon = lon0 + math.degrees(x / (EARTH_RADIUS * math.cos(math.radians(lat0))))
    lat = lat0 + math.degrees(y / EARTH_RADIUS)
    return lon, lat


def footprint_rings(geometry: dict[str, Any], origin: tuple[float, float],
                    ) -> list[list[tuple[float, float]]]:
    """The outer ring and holes of a polygon footprint in local metres (first polygon)."""
    coords = geometry["coordinates"]
    polygon = coords[0] if geometry["type"] == "MultiPolygon" else coords
    return [[to_local(lon, lat, origin) for lon, lat, *_ in ring[:-1]] for ring in polygon]


def centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """The centroid of a geometry, longitude and latitude."""
    point = shape(geometry).centroid
    return float(point.x), float(point.y)
