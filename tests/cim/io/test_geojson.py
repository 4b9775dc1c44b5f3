"""GeoJSON footprint importer."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pyproj import Geod, Transformer
from shapely.geometry import Polygon

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.read import CimFormatError, read_scene
from shequ.cim.io.scene import ObjectKind, Scene

LON, LAT = 114.3, 30.6
D = 0.0005  # degrees


def _square(lon: float, lat: float, d: float = D, closed: bool = True) -> list[list[float]]:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d]]
    return [*ring, ring[0]] if closed else ring


def _feature(coordinates: Any, properties: dict[str, Any] | None = None,
             kind: str = "Polygon", fid: Any = None) -> dict[str, Any]:
    feature: dict[str, Any] = {"type": "Feature", "properties": properties or {},
                               "geometry": {"type": kind, "coordinates": coordinates}}
    if fid is not None:
        feature["id"] = fid
    return feature


def _read(doc: dict[str, Any]) -> Scene:
    return read_scene("geojson", json.dumps(doc, ensure_ascii=False).encode())


def _collection(*features: dict[str, Any], crs: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return doc


def test_cgcs2000_legacy_crs_with_chinese_properties() -> None:
    hole = [[LON + 0.0001, LAT + 0.0001], [LON + 0.0001, LAT + 0.0002],
            [LON + 0.0002, LAT + 0.0002], [LON + 0.0002, LAT + 0.0001],
            [LON + 0.0001, LAT + 0.0001]]
    doc = _collection(
        _feature([_square(LON, LAT), hole],
                 {"名称": "3号楼", "层数": 6, "地址": "幸福路 3 号"}, fid="b3"),
        _feature([_square(LON + 0.001, LAT)], {"name": "Clinic", "高度": "25.5"}),
        crs="urn:ogc:def:crs:EPSG::4490",
    )
    scene = _read(doc)
    assert scene.errors == [] and scene.issues == []
    assert scene.source_crs.epsg == 4490
    assert scene.counts() == {"building": 2}
    b3 = scene.objects["b3"]
    assert b3.name == "3号楼" and b3.attributes["floors"] == 6
    assert b3.attributes["address"] == "幸福路 3 号"
    assert b3.footprint is not None and b3.footprint.height == 18.0 and b3.height == 18.0
    clinic = scene.objects["feature-1"]
    assert clinic.height == 25.5 and clinic.name == "Clinic"
    assert clinic.footprint is not None and clinic.footprint.height == 25.5


def test_footprints_are_metres_in_the_local_frame() -> None:
    scene = _read(_collection(_feature([_square(LON, LAT)], {"floors": 2}, fid="a"),
                              crs="EPSG:4490"))
    footprint = scene.objects["a"].footprint
    assert footprint is not None
    ring = footprint.rings[0]
    assert len(ring) == 4  # no repeated closing point
    geod_area = abs(Geod(ellps="WGS84").geometry_area_perimeter(Polygon(_square(LON, LAT)))[0])
    assert Polygon(ring).area == pytest.approx(geod_area, rel=1e-3)
    assert Polygon(ring).exterior.is_ccw
    assert footprint.base == pytest.approx(0.0, abs=0.01)
    back = LocalFrame(scene.origin).to_geodetic(np.array([[*ring[0], footprint.base]]))
    assert back[0, :2] == pytest.approx([LON, LAT], abs=1e-8)


def test_default_crs_is_wgs84_and_floor_height_default() -> None:
    doc = _collection(_feature([_square(LON, LAT)], {"building:levels": "4"}, fid=7))
    scene = _read(doc)
    assert scene.source_crs.epsg == 4326
    assert scene.objects["7"].height == 12.0


def test_projected_gauss_kruger_geojson() -> None:
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True)
    e, n = to_gk.transform(LON, LAT)
    ring = [[e, n], [e + 20, n], [e + 20, n + 10], [e, n + 10], [e, n]]
    doc = _collection(_feature([ring], {"height": 9}, fid="gk"),
                      crs="urn:ogc:def:crs:EPSG::4547")
    scene = _read(doc)
    assert scene.errors == [] and scene.issues == []
    footprint = scene.objects["gk"].footprint
    assert footprint is not None
    assert Polygon(footprint.rings[0]).area == pytest.approx(200.0, rel=2e-3)


def test_bow_tie_is_an_error_naming_the_feature() -> None:
    bow_tie = [[LON, LAT], [LON + D, LAT + D], [LON + D, LAT], [LON, LAT + D], [LON, LAT]]
    doc = _collection(_feature([_square(LON, LAT)], fid="ok"),
                      _feature([bow_tie], {"name": "bad"}, fid="bow"))
    scene = _read(doc)
    assert [i.location for i in scene.errors] == ["feature 1 'bow'"]
    assert "Self-intersection" in scene.errors[0].message
    assert "bow" not in scene.objects and "ok" in scene.objects


def test_unclosed_ring_is_closed_with_a_warning() -> None:
    scene = _read(_collection(_feature([_square(LON, LAT, closed=False)], fid="open")))
    assert scene.errors == []
    assert [(i.severity, i.location) for i in scene.issues] == [
        ("warning", "feature 0 'open' ring 0")
    ]
    footprint = scene.objects["open"].footprint
    assert footprint is not None and len(footprint.rings[0]) == 4


def test_too_few_points_is_an_error() -> None:
    line = [[LON, LAT], [LON + D, LAT], [LON, LAT]]
    scene = _read(_collection(_feature([line], fid="thin")))
    assert [i.location for i in scene.errors] == ["feature 0 'thin' ring 0"]


def test_multipolygon_becomes_building_and_parts() -> None:
    big = [_square(LON, LAT, 2 * D)]
    small = [_square(LON + 0.01, LAT, D)]
    scene = _read({"type": "Feature", "id": "m", "properties": {"floors": 3},
                   "geometry": {"type": "MultiPolygon", "coordinates": [small, big]}})
    assert scene.counts() == {"building": 1, "building_part": 1}
    building, part = scene.objects["m"], scene.objects["m#2"]
    assert building.footprint is not None and part.footprint is not None
    assert Polygon(building.footprint.rings[0]).area > Polygon(part.footprint.rings[0]).area
    assert part.parent == "m" and part.kind == ObjectKind.building_part


def test_points_are_skipped_and_null_geometry_is_a_register_only_building() -> None:
    doc = _collection(
        {"type": "Feature", "properties": {"name": "gate"},
         "geometry": {"type": "Point", "coordinates": [LON, LAT]}},
        {"type": "Feature", "id": "ledger", "properties": {"层数": 5}, "geometry": None},
    )
    scene = _read(doc)
    assert scene.errors == []
    assert sorted(i.location for i in scene.issues) == ["feature 0 'feature-0'",
                                                       "feature 1 'ledger'"]
    assert list(scene.objects) == ["ledger"]
    assert scene.objects["ledger"].footprint is None and scene.objects["ledger"].height == 15.0


def test_unknown_crs_member_is_an_error() -> None:
    scene = _read(_collection(_feature([_square(LON, LAT)]), crs="urn:ogc:def:crs:EPSG::99999"))
    assert [i.location for i in scene.errors] == ["crs"]


def test_truncated_geojson_raises() -> None:
    text = json.dumps(_collection(_feature([_square(LON, LAT)])))[:-20]
    with pytest.raises(CimFormatError) as caught:
        read_scene("geojson", text.encode())
    assert caught.value.params["location"].startswith("line 1, column")


def test_not_a_feature_collection_raises() -> None:
    with pytest.raises(CimFormatError):
        read_scene("geojson", b'{"type": "Polygon", "coordinates": []}')


def test_latitude_first_coordinates_are_swapped_with_a_warning() -> None:
    swapped = [[lat, lon] for lon, lat in _square(LON, LAT)]
    scene = _read(_collection(_feature([swapped], fid="s"), crs="EPSG:4490"))
    assert scene.errors == []
    assert [(i.severity, i.location) for i in scene.issues] == [("warning", "crs")]
    assert scene.origin[:2] == pytest.approx((LON + D / 2, LAT + D / 2))
    footprint = scene.objects["s"].footprint
    assert footprint is not None and Polygon(footprint.rings[0]).exterior.is_ccw


def test_coordinates_outside_the_crs_area_are_flagged() -> None:
    scene = _read(_collection(_feature([_square(LON, LAT)], fid="w"),
                              crs="urn:ogc:def:crs:EPSG::28992"))
    assert any(i.location == "crs" for i in scene.issues)
