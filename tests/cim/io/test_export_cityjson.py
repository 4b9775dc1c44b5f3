"""CityJSON 2.0 export: schema, cjio, hierarchy, CRS choice, placement and round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft7Validator
from pyproj import Transformer
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from shequ.cim.io.cityjson_out import to_cityjson, write_cityjson, zone_crs
from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.procedural import BuildingSpec, community_scene, prism
from shequ.cim.io.scene import Crs, Geometry, ObjectKind, Scene, SceneObject
from tests.cim.io.test_procedural import ORIGIN, register

SCHEMA_BASE = "https://www.cityjson.org/schemas/2.0.2/"
U_SHAPE = [(0, 0), (40, 0), (40, 8), (10, 8), (10, 16), (40, 16), (40, 24), (0, 24)]


def cityjson_validator(shared_data: Path) -> Draft7Validator:
    """The CityJSON 2.0.2 schema with its $refs resolved from the local copies."""
    folder = shared_data / "schemas" / "cityjson-2.0.2"

    def retrieve(uri: str) -> Resource:
        assert uri.startswith(SCHEMA_BASE), uri
        name = uri.removeprefix(SCHEMA_BASE)
        return Resource.from_contents(json.loads((folder / name).read_text()), DRAFT7)

    schema = json.loads((folder / "cityjson.schema.json").read_text())
    return Draft7Validator(schema, registry=Registry(retrieve=retrieve))


def compact_scene() -> Scene:
    """A small but varied scene: register building, U-shaped block, kiosk, road, facility."""
    specs = [
        BuildingSpec(
            id="B01",
            name="1号楼",
            footprint=[(0.0, 0.0), (32.0, 0.0), (32.0, 12.0), (0.0, 12.0)],
            floors=2,
            units=2,
            households_per_floor=2,
            below_ground=1,
            attributes={"address": "幸福路1号", "year_built": 2008},
            households=register(2, 2, 2),
        ),
        BuildingSpec(
            id="B02",
            name="2号楼",
            footprint=[(60.0 + x, y) for x, y in U_SHAPE],
            floors=1,
            units=2,
            households_per_floor=1,
        ),
    ]
    scene = community_scene(specs, ORIGIN, metadata={"title": "幸福小区"})
    kiosk = prism([(100.0, 80.0), (104.0, 80.0), (104.0, 83.0), (100.0, 83.0)], 0.0, 3.0)
    scene.add(SceneObject(id="K1", kind=ObjectKind.structure, name="岗亭", geometry=[kiosk]))
    road = Geometry(
        lod="1",
        vertices=np.array([[0.0, -10, 0], [90, -10, 0], [90, -4, 0], [0, -4, 0]]),
        surfaces=[[[0, 1, 2, 3]]],
        semantics=["TrafficArea"],
        solid=False,
    )
    scene.add(SceneObject(id="R1", kind=ObjectKind.road, name="幸福路", geometry=[road]))
    scene.add(SceneObject(id="F1", kind=ObjectKind.facility, name="消火栓", attributes={"no": 7}))
    return scene


def real_vertices(document: dict[str, Any]) -> np.ndarray:
    """Vertices in the export CRS."""
    transform = document["transform"]
    return np.asarray(document["vertices"]) * transform["scale"] + transform["translate"]


def indices(boundaries: Any) -> list[int]:
    """Flattened vertex indices of nested boundaries."""
    if isinstance(boundaries, int):
        return [boundaries]
    return [i for item in boundaries for i in indices(item)]


@pytest.fixture(scope="module")
def compact() -> tuple[Scene, dict[str, Any]]:
    """The compact scene and its export."""
    scene = compact_scene()
    return scene, to_cityjson(scene)


def test_export_validates_against_cityjson_2_0_schema(
    compact: tuple[Scene, dict[str, Any]], shared_data: Path
) -> None:
    _, document = compact
    validator = cityjson_validator(shared_data)
    assert [e.message for e in validator.iter_errors(document)] == []
    broken = json.loads(json.dumps(document))
    del broken["CityObjects"]["B01-U1"]["parents"]  # a BuildingUnit must name its building
    assert not validator.is_valid(broken)


def test_document_shape_transform_and_crs(compact: tuple[Scene, dict[str, Any]]) -> None:
    _, document = compact
    assert (document["type"], document["version"]) == ("CityJSON", "2.0")
    assert document["transform"]["scale"] == [0.001, 0.001, 0.001]
    # lon 116.397 is in the CGCS2000 3-degree zone with central meridian 117E
    assert document["metadata"]["referenceSystem"].endswith("/EPSG/0/4548")
    assert document["metadata"]["title"] == "幸福小区"
    vertices = np.asarray(document["vertices"])
    assert vertices.dtype.kind == "i"
    assert len(np.unique(vertices, axis=0)) == len(vertices)  # no duplicates
    used = {
        i
        for co in document["CityObjects"].values()
        for g in co.get("geometry", [])
        for i in indices(g["boundaries"])
    }
    assert used == set(range(len(vertices)))  # no orphans


def test_hierarchy_building_children_both_ways(compact: tuple[Scene, dict[str, Any]]) -> None:
    scene, document = compact
    objects = document["CityObjects"]
    assert set(objects) == set(scene.objects)
    building = objects["B01"]
    assert building["type"] == "Building"
    for child in building["children"]:
        assert objects[child]["parents"] == ["B01"]
    for oid, co in objects.items():
        for parent in co.get("parents", []):
            assert oid in objects[parent]["children"]
    assert objects["B01-U2"]["type"] == "BuildingUnit"
    storey, room = objects["B01-U2-F2"], objects["B01-U2-F2-01"]
    assert (storey["type"], room["type"]) == ("BuildingStorey", "BuildingRoom")
    assert storey["parents"] == room["parents"] == ["B01"]
    assert storey["attributes"]["shequ:parent"] == "B01-U2"
    assert room["attributes"]["shequ:parent"] == "B01-U2-F2"
    assert objects["B01-U1-B1"]["attributes"]["storeyIndex"] == -1
    assert objects["K1"]["type"] == "OtherConstruction"
    assert objects["F1"] == {
        "type": "CityFurniture",
        "attributes": {"name": "消火栓", "no": 7},
    }


def test_register_attributes_are_carried(compact: tuple[Scene, dict[str, Any]]) -> None:
    _, document = compact
    room = document["CityObjects"]["B01-U2-F2-01"]["attributes"]
    assert room["owner"] == "业主2-2-1"
    assert room["area"] == 85.5
    assert room["room_no"] == "201"
    assert room["name"] == "1号楼2单元201室"
    building = document["CityObjects"]["B01"]["attributes"]
    assert building["address"] == "幸福路1号"
    assert building["measuredHeight"] == pytest.approx(9.0)


def test_geometry_solids_semantics_and_composites(compact: tuple[Scene, dict[str, Any]]) -> None:
    _, document = compact
    objects = document["CityObjects"]
    (white,) = objects["B01"]["geometry"]
    assert (white["type"], white["lod"]) == ("Solid", "1")
    (shell,) = white["boundaries"]
    types = [white["semantics"]["surfaces"][v]["type"] for v in white["semantics"]["values"][0]]
    assert len(types) == len(shell) == 6
    assert sorted(set(types)) == ["GroundSurface", "RoofSurface", "WallSurface"]
    room = objects["B01-U1-F1-01"]["geometry"][0]
    room_types = {s["type"] for s in room["semantics"]["surfaces"]}
    assert room_types == {"FloorSurface", "CeilingSurface", "InteriorWallSurface"}
    # the U-shaped block's second unit falls into two arms: one CompositeSolid
    (split,) = objects["B02-U2"]["geometry"]
    assert split["type"] == "CompositeSolid" and len(split["boundaries"]) == 2
    assert len(split["semantics"]["values"]) == 2
    (road,) = objects["R1"]["geometry"]
    assert road["type"] == "MultiSurface"
    assert road["semantics"]["surfaces"] == [{"type": "TrafficArea"}]


def test_vertices_are_placed_in_the_export_crs(compact: tuple[Scene, dict[str, Any]]) -> None:
    scene, document = compact
    vertices = real_vertices(document)
    to_lonlat = Transformer.from_crs(4548, 4979, always_xy=True)
    corner = scene.objects["B01"].geometry[0].vertices
    expected = LocalFrame(ORIGIN).to_geodetic(corner)
    lon, lat, height = to_lonlat.transform(*vertices.T)
    placed = np.column_stack([lon, lat, height])
    for point in expected:
        horizontal = np.abs(placed[:, :2] - point[:2]).max(axis=1)
        nearest = int(np.argmin(horizontal + np.abs(placed[:, 2] - point[2])))
        assert horizontal[nearest] < 2e-8  # degrees, about 2 mm
        assert placed[nearest, 2] == pytest.approx(point[2], abs=0.001)  # millimetre grid


def test_crs_choice() -> None:
    beijing = community_scene([], (116.397, 39.909, 45.0))
    assert to_cityjson(beijing)["metadata"]["referenceSystem"].endswith("/4548")
    delft = community_scene([], (4.37, 52.0, 0.0))
    assert to_cityjson(delft)["metadata"]["referenceSystem"].endswith("/32631")
    southern = zone_crs(151.2, -33.9)
    assert southern.to_epsg() == 32756
    projected = community_scene([], (114.06, 22.54, 5.0), source_crs=Crs(epsg=4547))
    assert to_cityjson(projected)["metadata"]["referenceSystem"].endswith("/4547")
    geographic = community_scene([], (114.06, 22.54, 5.0), source_crs=Crs(epsg=4490))
    assert to_cityjson(geographic)["metadata"]["referenceSystem"].endswith("/4547")
    forced = to_cityjson(beijing, crs=32650)
    assert forced["metadata"]["referenceSystem"].endswith("/32650")
    with pytest.raises(ValueError, match="not projected"):
        to_cityjson(beijing, crs=4326)


CJIO_PROBE = """
import json, sys
from cjio import cityjson
with open(sys.argv[1], encoding="utf-8") as handle:
    model = cityjson.reader(handle)
result = {
    "info": model.get_info(),
    "epsg": str(model.get_epsg()),
    "duplicates": model.remove_duplicate_vertices(),
    "orphans": model.remove_orphan_vertices(),
    "can_validate": cityjson.MODULE_CJVAL_AVAILABLE,
}
model.triangulate(sloppy=False)
result["triangulated"] = model.is_triangulated()
print(json.dumps(result))
"""


def test_cjio_reads_the_export(compact: tuple[Scene, dict[str, Any]], tmp_path: Path) -> None:
    """cjio in a child process: importing it patches the json module of the whole process."""
    scene, _ = compact
    path = write_cityjson(scene, tmp_path / "compact.city.json")
    probe = subprocess.run(
        [sys.executable, "-c", CJIO_PROBE, str(path)], capture_output=True, text=True, check=False
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.splitlines()[-1])
    info = "\n".join(result["info"])
    assert "CityJSON version = 2.0" in info
    assert "Building (2)" in info and "BuildingRoom (10)" in info
    assert result["epsg"] == "4548"
    assert (result["duplicates"], result["orphans"]) == (0, 0)
    assert result["triangulated"]
    cli = Path(sys.executable).with_name("cjio")
    done = subprocess.run(
        [str(cli), str(path), "info"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "BuildingStorey (8)" in done.stdout
    if result["can_validate"]:  # cjvalpy installed: the official validator too
        done = subprocess.run(
            [str(cli), str(path), "validate"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_round_trip_through_the_importer(
    compact: tuple[Scene, dict[str, Any]], tmp_path: Path
) -> None:
    read = pytest.importorskip("shequ.cim.io.read")
    scene, _ = compact
    path = write_cityjson(scene, tmp_path / "compact.city.json")
    back = read.read_scene("cityjson", path)
    assert back.errors == []
    assert back.counts() == scene.counts()
    assert back.source_crs.epsg == 4548
    for oid, obj in scene.objects.items():
        again = back.objects[oid]
        assert again.kind == obj.kind
        for key, value in obj.attributes.items():
            assert again.attributes[key] == value
        assert again.storey_index == obj.storey_index
        if not obj.geometry:
            continue
        here = LocalFrame(scene.origin).to_geodetic(
            np.concatenate([g.vertices for g in obj.geometry])
        )
        there = LocalFrame(back.origin).to_geodetic(
            np.concatenate([g.vertices for g in again.geometry])
        )
        for low, high in ((here.min(0), there.min(0)), (here.max(0), there.max(0))):
            assert np.abs(low[:2] - high[:2]).max() < 3e-8 and abs(low[2] - high[2]) < 0.002


def test_shared_sample_reexports_to_its_own_coordinates(shared_data: Path) -> None:
    """Den Haag (RD New + NAP): import, export, and land on the file's own vertices."""
    read = pytest.importorskip("shequ.cim.io.read")
    source = shared_data / "cityjson" / "DH_01_subs.city.json"
    scene = read.read_scene("cityjson", source, default_crs=Crs(epsg=7415))
    document = to_cityjson(scene)
    assert document["metadata"]["referenceSystem"].endswith("/EPSG/0/7415")
    original = json.loads(source.read_text("utf-8"))
    before, after = real_vertices(original), real_vertices(document)
    for oid, city_object in original["CityObjects"].items():
        old = before[indices([g["boundaries"] for g in city_object.get("geometry", [])])]
        new = after[
            indices([g["boundaries"] for g in document["CityObjects"][oid].get("geometry", [])])
        ]
        assert {tuple(p) for p in np.round(old, 3)} == {tuple(p) for p in np.round(new, 3)}
