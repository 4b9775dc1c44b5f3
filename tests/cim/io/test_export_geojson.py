"""GeoJSON export: RFC 7946 collections per kind, right-hand rings, placement, properties."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LinearRing, Polygon, shape

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.geojson_out import feature, to_geojson
from shequ.cim.io.procedural import BuildingSpec, community_scene, prism
from shequ.cim.io.scene import ObjectKind, Scene, SceneObject
from tests.cim.io.test_procedural import ORIGIN, small_community

U_SHAPE = [(0, 0), (40, 0), (40, 8), (10, 8), (10, 16), (40, 16), (40, 24), (0, 24)]


def rings(geometry: dict[str, Any]) -> list[tuple[list[list[float]], bool]]:
    """Every ring of a (multi)polygon with whether it is an exterior ring."""
    polygons = [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    return [(ring, i == 0) for polygon in polygons for i, ring in enumerate(polygon)]


@pytest.fixture(scope="module")
def collections() -> tuple[Scene, dict[str, dict[str, Any]]]:
    """The small community plus two facilities, exported."""
    scene = small_community()
    hydrant = prism([(5.0, -5.0), (5.4, -5.0), (5.4, -4.6), (5.0, -4.6)], 0.0, 0.8)
    scene.add(SceneObject(id="F1", kind=ObjectKind.facility, name="消火栓", geometry=[hydrant]))
    scene.add(SceneObject(id="F2", kind=ObjectKind.facility, name="ledger only"))
    scene.objects["B01"].attributes["completed"] = dt.date(2008, 6, 1)
    return scene, json.loads(json.dumps(to_geojson(scene)))


def test_one_collection_per_kind(collections: tuple[Scene, dict[str, dict[str, Any]]]) -> None:
    scene, result = collections
    assert set(result) == {"building", "unit", "room", "facility"}
    for kind, collection in result.items():
        assert collection["type"] == "FeatureCollection"
        assert "crs" not in collection  # RFC 7946: WGS 84 only
        expected = [o.id for o in scene.of_kind(ObjectKind(kind)) if o.id != "F2"]
        assert [f["id"] for f in collection["features"]] == expected


def test_rings_follow_rfc_7946(collections: tuple[Scene, dict[str, dict[str, Any]]]) -> None:
    _, result = collections
    for kind in ("building", "unit", "room"):
        for item in result[kind]["features"]:
            assert item["geometry"]["type"] in {"Polygon", "MultiPolygon"}
            for ring, exterior in rings(item["geometry"]):
                assert ring[0] == ring[-1] and len(ring) >= 4
                lon, lat = np.asarray(ring).T
                assert np.all((lon > 116.39) & (lon < 116.41))  # lon first
                assert np.all((lat > 39.90) & (lat < 39.92))
                assert LinearRing(ring).is_ccw == exterior  # right-hand rule


def test_footprints_land_where_the_scene_puts_them(
    collections: tuple[Scene, dict[str, dict[str, Any]]],
) -> None:
    scene, result = collections
    building = next(f for f in result["building"]["features"] if f["id"] == "B03")
    outline = scene.objects["B03"].footprint
    assert outline is not None
    local = np.array([(x, y, outline.base) for x, y in outline.rings[0]])
    expected = LocalFrame(ORIGIN).to_geodetic(local)[:, :2]
    placed = np.asarray(building["geometry"]["coordinates"][0][:-1])
    for corner in expected:
        assert np.abs(placed - corner).max(axis=1).min() < 2e-7


def test_properties_carry_register_data(
    collections: tuple[Scene, dict[str, dict[str, Any]]],
) -> None:
    _, result = collections
    room = next(f for f in result["room"]["features"] if f["id"] == "B01-U2-F3-01")
    properties = room["properties"]
    assert properties["kind"] == "room" and properties["parent"] == "B01-U2-F3"
    assert properties["name"] == "1号楼2单元301室"
    assert properties["owner"] == "业主2-3-1"
    assert (properties["base"], properties["height"]) == (6.0, 3.0)
    building = next(f for f in result["building"]["features"] if f["id"] == "B01")
    assert building["properties"]["completed"] == "2008-06-01"
    assert building["properties"]["year_built"] == 2008


def test_facilities_are_points(collections: tuple[Scene, dict[str, dict[str, Any]]]) -> None:
    _, result = collections
    (hydrant,) = result["facility"]["features"]
    assert hydrant["geometry"]["type"] == "Point"
    expected = LocalFrame(ORIGIN).to_geodetic(np.array([[5.2, -4.8, 0.0]]))[0]
    assert hydrant["geometry"]["coordinates"] == pytest.approx(expected[:2], abs=2e-7)


def test_plan_from_geometry_with_hole_and_multipart() -> None:
    scene = community_scene(
        [BuildingSpec(id="U", name="U", footprint=U_SHAPE, floors=1, units=2)], ORIGIN
    )
    courtyard = Polygon(
        [(0, 0), (30, 0), (30, 30), (0, 30)], [[(10, 10), (20, 10), (20, 20), (10, 20)]]
    )
    scene.add(SceneObject(id="C", kind=ObjectKind.building, geometry=[prism(courtyard, 0.0, 6.0)]))
    split = feature(scene, scene.objects["U-U2"])
    assert split is not None and split["geometry"]["type"] == "MultiPolygon"
    assert len(split["geometry"]["coordinates"]) == 2
    ring = feature(scene, scene.objects["C"])
    assert ring is not None and ring["geometry"]["type"] == "Polygon"
    outer, hole = ring["geometry"]["coordinates"]
    assert LinearRing(outer).is_ccw and not LinearRing(hole).is_ccw
    degrees_per_metre = 1 / 111_320
    assert shape(ring["geometry"]).area == pytest.approx(
        800 * degrees_per_metre**2 / np.cos(np.radians(ORIGIN[1])), rel=0.01
    )


def test_objects_without_position_are_left_out() -> None:
    scene = community_scene([], ORIGIN)
    scene.add(SceneObject(id="X", kind=ObjectKind.building, name="register only"))
    assert to_geojson(scene) == {
        "building": {"type": "FeatureCollection", "features": []},
    }
