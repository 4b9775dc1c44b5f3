"""CityJSON importer: synthetic files for each feature, plus the shared samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer

from shequ.cim.io.crs import LocalFrame, parse_crs
from shequ.cim.io.read import CimFormatError, read_scene
from shequ.cim.io.scene import ObjectKind, Scene

LON, LAT = 114.3, 30.6


def _gk(lon: float, lat: float) -> tuple[float, float]:
    e, n = Transformer.from_crs("EPSG:4490", "EPSG:4547", always_xy=True).transform(lon, lat)
    return float(e), float(n)


def _read(doc: dict[str, Any], **kwargs: Any) -> Scene:
    return read_scene("cityjson", json.dumps(doc).encode(), **kwargs)


def _geodetic(scene: Scene, points: np.ndarray) -> np.ndarray:
    return LocalFrame(scene.origin).to_geodetic(points)


def _box(base: int) -> list[list[int]]:
    """Integer vertices (mm) of a 10 x 8 x 9 m box, offset by `base` in x."""
    return [
        [base, 0, 0], [base + 10000, 0, 0], [base + 10000, 8000, 0], [base, 8000, 0],
        [base, 0, 9000], [base + 10000, 0, 9000], [base + 10000, 8000, 9000], [base, 8000, 9000],
    ]  # fmt: skip


def _shell(o: int) -> list[list[list[int]]]:
    return [
        [[o + 0, o + 3, o + 2, o + 1]], [[o + 4, o + 5, o + 6, o + 7]],
        [[o + 0, o + 1, o + 5, o + 4]], [[o + 1, o + 2, o + 6, o + 5]],
        [[o + 2, o + 3, o + 7, o + 6]], [[o + 3, o + 0, o + 4, o + 7]],
    ]  # fmt: skip


SEMANTIC_SURFACES = [{"type": "GroundSurface"}, {"type": "RoofSurface"}, {"type": "WallSurface"}]
SHELL_VALUES = [0, 1, 2, 2, 2, None]


def _v2_doc() -> dict[str, Any]:
    e, n = _gk(LON, LAT)
    vertices = _box(0) + _box(20000) + _box(40000)
    # room: a floor with a hole (vertices 24..31)
    vertices += [[0, 0, 0], [4000, 0, 0], [4000, 4000, 0], [0, 4000, 0]]
    vertices += [[1000, 1000, 0], [2000, 1000, 0], [2000, 2000, 0], [1000, 2000, 0]]
    vertices += [[50000, 50000, 0]]  # 32: the furniture's reference point
    return {
        "type": "CityJSON",
        "version": "2.0",
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/4547",
                     "title": "synthetic GK"},
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": [e, n, 20.0]},
        "CityObjects": {
            "b1": {
                "type": "Building",
                "attributes": {"measuredHeight": 9.5, "name": "1号楼", "function": "residential"},
                "children": ["b1-s1", "b1-u1"],
                "geometry": [{
                    "type": "Solid", "lod": "1.2", "boundaries": [_shell(0)],
                    "semantics": {"surfaces": SEMANTIC_SURFACES, "values": [SHELL_VALUES]},
                }],
            },
            "b1-s1": {"type": "BuildingStorey", "parents": ["b1"], "children": ["b1-r1"],
                      "attributes": {"storeyNumber": 1, "elevation": 20.0}},
            "b1-u1": {"type": "BuildingUnit", "parents": ["b1"]},
            "b1-r1": {
                "type": "BuildingRoom", "parents": ["b1-s1"],
                "geometry": [{
                    "type": "MultiSurface", "lod": "2",
                    "boundaries": [[[24, 25, 26, 27], [28, 31, 30, 29]]],
                    "semantics": {"surfaces": [{"type": "FloorSurface"}], "values": [0]},
                }],
            },
            "works": {
                "type": "OtherConstruction",
                "geometry": [{
                    "type": "MultiSolid", "lod": "1",
                    "boundaries": [[_shell(8)], [_shell(16)]],
                    "semantics": {"surfaces": SEMANTIC_SURFACES,
                                  "values": [[SHELL_VALUES], None]},
                }],
            },
            "lamp": {
                "type": "CityFurniture",
                "geometry": [{"type": "GeometryInstance", "template": 0, "boundaries": [32],
                              "transformationMatrix": [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0,
                                                       0, 0, 0, 1]}],
            },
            "wall-1": {"type": "+NoiseBarrier", "attributes": {"material": "concrete"}},
        },
        "geometry-templates": {
            "templates": [{"type": "MultiSurface", "lod": "2",
                           "boundaries": [[[0, 1, 2]]]}],
            "vertices-templates": [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]],
        },
        "vertices": vertices,
        "extensions": {"Noise": {"url": "https://example.org/noise.ext.json", "version": "1.0"}},
    }


def test_cityjson_2_with_gauss_kruger_crs_and_transform() -> None:
    scene = _read(_v2_doc())
    assert scene.errors == []
    assert scene.source_crs.epsg == 4547
    assert scene.counts() == {"building": 1, "storey": 1, "unit": 1, "room": 1,
                              "structure": 1, "facility": 1, "other": 1}
    building = scene.objects["b1"]
    assert building.name == "1号楼" and building.height == 9.5
    assert building.attributes["function"] == "residential"
    geometry = building.geometry[0]
    assert geometry.lod == "1.2" and geometry.solid
    assert len(geometry.surfaces) == 6 and geometry.vertices.shape == (8, 3)
    assert geometry.semantics == ["GroundSurface", "RoofSurface", "WallSurface", "WallSurface",
                                  "WallSurface", None]
    corner = _geodetic(scene, geometry.vertices[geometry.surfaces[0][0][:1]])[0]
    assert corner[:2] == pytest.approx([LON, LAT], abs=1e-7)
    assert corner[2] == pytest.approx(20.0, abs=1e-3)
    size = geometry.vertices.max(axis=0) - geometry.vertices.min(axis=0)
    assert size == pytest.approx([10.0, 8.0, 9.0], abs=0.05)  # GK grid vs true east-north


def test_cityjson_hierarchy_storeys_and_rooms() -> None:
    scene = _read(_v2_doc())
    storey = scene.objects["b1-s1"]
    assert storey.parent == "b1" and storey.storey_index == 1
    assert storey.elevation == pytest.approx(0.0, abs=1e-3)  # 20 m source = the origin height
    room = scene.objects["b1-r1"]
    assert room.parent == "b1-s1" and room.kind == ObjectKind.room
    floor = room.geometry[0]
    assert not floor.solid and len(floor.surfaces[0]) == 2  # outer ring + hole
    assert floor.semantics == ["FloorSurface"]
    assert scene.objects["b1-u1"].parent == "b1"
    assert [c.id for c in scene.children("b1")] == ["b1-s1", "b1-u1"]


def test_cityjson_multisolid_semantics_and_templates() -> None:
    scene = _read(_v2_doc())
    works = scene.objects["works"].geometry[0]
    assert works.solid and len(works.surfaces) == 12
    assert works.semantics[:6] == ["GroundSurface", "RoofSurface", "WallSurface", "WallSurface",
                                   "WallSurface", None]
    assert works.semantics[6:] == [None] * 6
    lamp = scene.objects["lamp"].geometry[0]
    building = scene.objects["b1"].geometry[0].vertices
    offset = lamp.vertices[0] - building.min(axis=0)
    assert offset[:2] == pytest.approx([50.0, 50.0], abs=0.5)  # at its reference point
    assert lamp.vertices[2, 2] - lamp.vertices[0, 2] == pytest.approx(6.0, abs=1e-6)  # scaled x2
    extension = scene.objects["wall-1"]
    assert extension.kind == ObjectKind.other and extension.source_type == "+NoiseBarrier"


def test_cityjson_1_1_without_transform() -> None:
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    x, y = to_rd.transform(4.3, 52.07)
    doc = {
        "type": "CityJSON",
        "version": "1.1",
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/28992"},
        "CityObjects": {
            "house": {
                "type": "Building",
                "geometry": [{"type": "MultiSurface", "lod": 1,
                              "boundaries": [[[0, 1, 2, 3]], [[4, 5, 6, 7]]]}],
            }
        },
        "vertices": [[x, y, 0.0], [x + 8, y, 0.0], [x + 8, y + 6, 0.0], [x, y + 6, 0.0],
                     [x, y, 6.5], [x + 8, y, 6.5], [x + 8, y + 6, 6.5], [x, y + 6, 6.5]],
    }
    scene = _read(doc)
    assert scene.errors == [] and scene.issues == []
    house = scene.objects["house"]
    assert house.geometry[0].lod == "1" and not house.geometry[0].solid
    assert house.height == pytest.approx(6.5, abs=1e-3)
    first = _geodetic(scene, house.geometry[0].vertices[:1])[0]
    assert first[:2] == pytest.approx([4.3, 52.07], abs=1e-7)


def test_cityjson_sequence() -> None:
    doc = _v2_doc()
    header = {k: v for k, v in doc.items() if k not in ("CityObjects", "vertices")}
    header["CityObjects"], header["vertices"] = {}, []
    e, n = _gk(LON, LAT)
    feature = {
        "type": "CityJSONFeature", "id": "f1",
        "CityObjects": {"f1": {"type": "Building", "geometry": [
            {"type": "Solid", "lod": "1", "boundaries": [_shell(0)]}]}},
        "vertices": _box(0),
    }
    second = {"type": "CityJSONFeature", "id": "f2",
              "CityObjects": {"f2": {"type": "Building"}}, "vertices": []}
    text = "\n".join(json.dumps(x) for x in (header, feature, second)) + "\n"
    scene = read_scene("auto", text.encode(), name="area.city.jsonl")
    assert scene.errors == []
    assert sorted(scene.objects) == ["f1", "f2"]
    corner = _geodetic(scene, scene.objects["f1"].geometry[0].vertices[:1])[0]
    assert corner[:2] == pytest.approx([LON, LAT], abs=1e-7)
    assert e > 0 and n > 0


def test_unknown_type_is_an_error_naming_the_object() -> None:
    doc = _v2_doc()
    doc["CityObjects"]["odd"] = {"type": "Skyscraper"}
    scene = _read(doc)
    assert [i.location for i in scene.errors] == ["object 'odd'"]
    assert "Skyscraper" in scene.errors[0].message
    assert scene.objects["odd"].kind == ObjectKind.other


def test_missing_crs_is_a_local_frame_with_a_warning() -> None:
    doc = _v2_doc()
    del doc["metadata"]["referenceSystem"]
    scene = _read(doc)
    assert scene.errors == []
    assert [i.severity for i in scene.issues] == ["warning"]
    assert scene.issues[0].location == "metadata.referenceSystem"
    assert scene.origin == (0.0, 0.0, 0.0)
    e, n = _gk(LON, LAT)
    first = scene.objects["b1"].geometry[0].vertices.min(axis=0)
    assert first == pytest.approx([e, n, 20.0], abs=1e-6)  # coordinates kept as metres


def test_unknown_epsg_is_an_error() -> None:
    doc = _v2_doc()
    doc["metadata"]["referenceSystem"] = "https://www.opengis.net/def/crs/EPSG/0/99999"
    scene = _read(doc)
    assert [i.location for i in scene.errors] == ["metadata.referenceSystem"]
    assert "99999" in scene.errors[0].message


def test_bad_vertex_index_is_an_error_naming_the_object() -> None:
    doc = _v2_doc()
    doc["CityObjects"]["b1-u1"]["geometry"] = [
        {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 9999]]]}]
    scene = _read(doc)
    assert [i.location for i in scene.errors] == ["object 'b1-u1' geometry 0"]
    assert "9999" in scene.errors[0].message


def test_missing_parent_is_an_error() -> None:
    doc = _v2_doc()
    doc["CityObjects"]["b1-u1"]["parents"] = ["nowhere"]
    scene = _read(doc)
    assert [i.location for i in scene.errors] == ["object 'b1-u1'"]


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ('{"type": "CityJSON", "version": "2.0",\n "CityObjects": {"a": {"type": "Bui', "line 2"),
        ('{"type": "FeatureCollection", "features": []}', "line 1"),
        ("", "line 1"),
    ],
)
def test_malformed_cityjson_raises(text: str, location: str) -> None:
    with pytest.raises(CimFormatError) as caught:
        read_scene("cityjson", text.encode())
    assert caught.value.code == "cim.io.bad_file"
    assert caught.value.params["location"].startswith(location)
    assert caught.value.errors[0]["location"] == caught.value.params["location"]


# --- shared samples ------------------------------------------------------------------------


def test_den_haag_sample_lands_in_den_haag(shared_data: Path) -> None:
    path = shared_data / "cityjson" / "DH_01_subs.city.json"
    scene = read_scene("auto", path, default_crs=parse_crs("EPSG:7415"))
    assert scene.errors == []
    assert scene.counts() == {"building": 4, "building_part": 8}
    assert scene.origin[0] == pytest.approx(4.3, abs=0.05)
    assert scene.origin[1] == pytest.approx(52.07, abs=0.05)
    for part in scene.of_kind(ObjectKind.building_part):
        assert scene.objects[part.parent or ""].kind == ObjectKind.building
    with_geometry = [o for o in scene.objects.values() if o.geometry]
    assert len(with_geometry) >= 8
    for obj in with_geometry:
        lon, lat, _ = _geodetic(scene, obj.geometry[0].vertices).mean(axis=0)
        assert lon == pytest.approx(4.3, abs=0.05) and lat == pytest.approx(52.07, abs=0.05)
        assert 2.0 < (obj.height or 0) < 15.0
        assert "RoofSurface" in obj.geometry[0].semantics


def test_den_haag_without_crs_keeps_metres_with_a_warning(shared_data: Path) -> None:
    path = shared_data / "cityjson" / "DH_01_subs.city.json"
    scene = read_scene("cityjson", path)
    assert scene.errors == [] and len(scene.issues) == 1
    raw = json.loads(path.read_text())
    x0 = raw["vertices"][0][0] * raw["transform"]["scale"][0] + raw["transform"]["translate"][0]
    xs = np.concatenate([g.vertices[:, 0] for o in scene.objects.values() for g in o.geometry])
    assert np.isclose(xs, x0, atol=1e-6).any()


def test_all_types_sample(shared_data: Path) -> None:
    scene = read_scene("cityjson", shared_data / "cityjson" / "cityobject_all_types.city.json")
    assert scene.errors == []
    counts = scene.counts()
    assert counts["building"] == 1 and counts["building_part"] == 1
    assert counts["storey"] == 1 and counts["room"] == 1 and counts["unit"] == 1
    assert counts["facility"] == 1 and counts["structure"] == 1 and counts["road"] == 2
    assert counts["other"] == 24
    assert scene.objects["BuildingRoom"].parent == "Building"
    assert scene.objects["Building"].parent is None  # a group is not a parent
    assert scene.objects["Building"].attributes["groups"] == ["CityObjectGroup"]
