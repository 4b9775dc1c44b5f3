"""3D Tiles 1.1 export: schema, Khronos glTF validation, metadata, boxes and georeferencing."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from pyproj import Transformer
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shequ.cim.io.crs import LocalFrame
from shequ.cim.io.glb import read_glb
from shequ.cim.io.procedural import prism
from shequ.cim.io.scene import Crs, Footprint, Geometry, ObjectKind, Scene, SceneObject
from shequ.cim.io.tiles3d import enu_to_ecef_matrix, write_tileset
from tests.cim.io.test_procedural import ORIGIN, community_specs, small_community
from tests.conftest import REPO, require_service

VALIDATOR_DIR = REPO / "tools" / "validators"
COMPONENTS = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


# ---------------------------------------------------------------- helpers


def tileset_validator(shared_data: Path) -> Draft202012Validator:
    """The 3D Tiles 1.1 tileset schema with its relative $refs resolved from local files."""
    base = shared_data / "schemas" / "3d-tiles-1.1"

    def retrieve(uri: str) -> Resource:
        path = Path(uri.removeprefix("file://"))
        return Resource.from_contents(json.loads(path.read_text()), DRAFT202012)

    schema = json.loads((base / "tileset.schema.json").read_text())
    schema["$id"] = (base / "tileset.schema.json").as_uri()
    return Draft202012Validator(schema, registry=Registry(retrieve=retrieve))


def khronos_reports(paths: list[Path]) -> list[dict[str, Any]]:
    """Reports of the Khronos glTF validator (tools/validators), one per file."""
    node = shutil.which("node")
    if node is None or not (VALIDATOR_DIR / "node_modules" / "gltf-validator").is_dir():
        require_service("gltf-validator", "run `npm ci --prefix tools/validators`")
    script = VALIDATOR_DIR / "validate-gltf.mjs"
    done = subprocess.run(
        [str(node), str(script), *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert done.returncode in {0, 1}, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def tiles(node: dict[str, Any], depth: int = 0) -> list[tuple[dict[str, Any], int]]:
    """Every tile of a tree with its depth."""
    found = [(node, depth)]
    for child in node.get("children", []):
        found += tiles(child, depth + 1)
    return found


def accessor(document: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    """The values of one (tightly packed) accessor."""
    spec = document["accessors"][index]
    view = document["bufferViews"][spec["bufferView"]]
    dtype = np.dtype(COMPONENTS[spec["componentType"]])
    width = WIDTH[spec["type"]]
    start = view.get("byteOffset", 0) + spec.get("byteOffset", 0)
    values = np.frombuffer(binary, dtype=dtype, count=spec["count"] * width, offset=start)
    return values.reshape(spec["count"], width) if width > 1 else values


def view_bytes(document: dict[str, Any], binary: bytes, index: int) -> bytes:
    """The bytes of one buffer view."""
    view = document["bufferViews"][index]
    start = view.get("byteOffset", 0)
    return binary[start : start + view["byteLength"]]


def property_values(document: dict[str, Any], binary: bytes, name: str) -> list[Any]:
    """Decode one property of the first property table (strings, scalars, booleans)."""
    metadata = document["extensions"]["EXT_structural_metadata"]
    table = metadata["propertyTables"][0]
    definition = metadata["schema"]["classes"][table["class"]]["properties"][name]
    column = table["properties"][name]
    raw = view_bytes(document, binary, column["values"])
    count = table["count"]
    if definition["type"] == "STRING":
        offsets = np.frombuffer(view_bytes(document, binary, column["stringOffsets"]), "<u4")
        assert len(offsets) == count + 1 and offsets[-1] == len(raw)
        return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
    if definition["type"] == "BOOLEAN":
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")
        return [bool(b) for b in bits[:count]]
    dtype = {"INT32": "<i4", "FLOAT64": "<f8"}[definition["componentType"]]
    return np.frombuffer(raw, dtype).tolist()


def z_up(positions: np.ndarray) -> np.ndarray:
    """glTF y-up positions back in the tile's z-up frame (3D Tiles' y-up → z-up rotation)."""
    return np.column_stack([positions[:, 0], -positions[:, 2], positions[:, 1]]).astype(float)


def content_points(document: dict[str, Any], binary: bytes) -> np.ndarray:
    """A tile's vertices in the tile frame: POSITION + node translation, then y-up → z-up."""
    (node,) = document["nodes"]
    primitive = document["meshes"][node["mesh"]]["primitives"][0]
    local = accessor(document, binary, primitive["attributes"]["POSITION"]).astype(float)
    return z_up(local + np.asarray(node.get("translation", [0.0, 0.0, 0.0])))


def inside(box: list[float], points: np.ndarray, tolerance: float = 1e-3) -> bool:
    """Whether every point lies in an oriented 3D Tiles box."""
    centre = np.asarray(box[:3])
    axes = np.asarray(box[3:]).reshape(3, 3)
    offsets = points - centre
    for axis in axes:
        length = np.linalg.norm(axis)
        if np.any(np.abs(offsets @ axis) / length > length + tolerance):
            return False
    return True


def with_site(scene: Scene) -> Scene:
    """Add a kiosk structure outside every building (the site tile)."""
    kiosk = prism([(100.0, 80.0), (104.0, 80.0), (104.0, 83.0), (100.0, 83.0)], 0.0, 3.0)
    scene.add(SceneObject(id="K1", kind=ObjectKind.structure, name="岗亭", geometry=[kiosk]))
    scene.add(SceneObject(id="F1", kind=ObjectKind.facility, name="消火栓"))  # nothing to draw
    return scene


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scene, Path, Any]:
    """The small community (plus a kiosk) written as a tileset."""
    scene = with_site(small_community())
    out = tmp_path_factory.mktemp("tiles")
    report = write_tileset(scene, out)
    return scene, out, report


# ---------------------------------------------------------------- tests


def test_tileset_validates_against_3d_tiles_1_1_schema(
    exported: tuple[Scene, Path, Any], shared_data: Path
) -> None:
    _, out, report = exported
    document = json.loads((out / "tileset.json").read_text("utf-8"))
    validator = tileset_validator(shared_data)
    errors = [e.message for e in validator.iter_errors(document)]
    assert errors == []
    assert not validator.is_valid({**document, "asset": {}})  # the validator does bite
    assert document["asset"]["version"] == "1.1"
    assert report.files[0] == out / "tileset.json"
    assert report.bytes == sum(p.stat().st_size for p in report.files)
    assert report.tiles == len(tiles(document["root"]))


def test_tile_tree_refines_white_model_to_units_to_households(
    exported: tuple[Scene, Path, Any],
) -> None:
    _, out, report = exported
    root = json.loads((out / "tileset.json").read_text("utf-8"))["root"]
    assert root["refine"] == "REPLACE" and len(root["transform"]) == 16
    buildings, site = root["children"][:-1], root["children"][-1]
    assert len(buildings) == 3
    for building in buildings:
        chain = [building, building["children"][0], building["children"][0]["children"][0]]
        uris = [t["content"]["uri"] for t in chain]
        assert [u[-6:] for u in uris] == ["L2.glb", "L3.glb", "L4.glb"]
        errors = [t["geometricError"] for t in chain]
        assert errors[0] > errors[1] > errors[2] == 0
        assert root["geometricError"] > errors[0]
        assert all(t["refine"] == "REPLACE" for t in chain)
        assert all((out / u).is_file() for u in uris)
        assert [t["extras"]["cimLevel"] for t in chain] == [2, 3, 4]
        assert {t["extras"]["building"] for t in chain} == {building["extras"]["building"]}
        assert "children" not in chain[2]
    assert site["content"]["uri"] == "tiles/site_L4.glb" and site["geometricError"] == 0
    assert report.features == 3 + (8 + 4 + 4) + (14 + 16 + 12) + 1


def test_every_glb_passes_the_khronos_validator(exported: tuple[Scene, Path, Any]) -> None:
    report = exported[2]
    glbs = [p for p in report.files if p.suffix == ".glb"]
    reports = khronos_reports(glbs)
    assert len(reports) == len(glbs)
    for result in reports:
        assert "fatal" not in result, result
        issues = result["issues"]
        errors = [m for m in issues["messages"] if m["severity"] == 0]
        assert issues["numErrors"] == 0, (result["uri"], errors)
        warnings = [m for m in issues["messages"] if m["severity"] == 1]
        assert issues["numWarnings"] == 0, (result["uri"], warnings)
        assert result["info"]["drawCallCount"] == 1


def test_feature_ids_and_property_tables_agree(exported: tuple[Scene, Path, Any]) -> None:
    scene, _, report = exported
    seen: list[str] = []
    for path in (p for p in report.files if p.suffix == ".glb"):
        document, binary = read_glb(path.read_bytes())
        (primitive,) = document["meshes"][0]["primitives"]
        (feature_ids,) = primitive["extensions"]["EXT_mesh_features"]["featureIds"]
        table = document["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
        ids = accessor(document, binary, primitive["attributes"]["_FEATURE_ID_0"])
        assert feature_ids["featureCount"] == table["count"]
        assert set(np.unique(ids).astype(int)) == set(range(table["count"]))
        assert all(v["byteOffset"] % 8 == 0 for v in document["bufferViews"])
        names = property_values(document, binary, "id")
        assert len(names) == table["count"] == len(set(names))
        kinds = property_values(document, binary, "kind")
        assert kinds == [scene.objects[n].kind.value for n in names]
        seen += names
        indices = accessor(document, binary, primitive["indices"])
        assert indices.max() < len(ids)
    households = {o.id for o in scene.of_kind(ObjectKind.room)}
    assert households <= set(seen)
    assert set(seen) <= set(scene.objects)


def test_household_register_attributes_in_property_table(
    exported: tuple[Scene, Path, Any],
) -> None:
    out = exported[1]
    document, binary = read_glb((out / "tiles" / "000_B01_L4.glb").read_bytes())
    names = property_values(document, binary, "id")
    row = names.index("B01-U2-F3-01")
    assert property_values(document, binary, "name")[row] == "1号楼2单元301室"
    assert property_values(document, binary, "parent")[row] == "B01-U2-F3"
    assert property_values(document, binary, "owner")[row] == "业主2-3-1"
    assert property_values(document, binary, "area")[row] == pytest.approx(85.5)
    assert property_values(document, binary, "floor_no")[row] == 3
    # basement storeys have no households: drawn as storeys, with no register data
    basement = names.index("B01-U1-B1")
    properties = document["extensions"]["EXT_structural_metadata"]["schema"]["classes"]
    owner = properties["cim_object"]["properties"]["owner"]
    assert owner["type"] == "STRING" and owner["noData"] == ""
    assert property_values(document, binary, "owner")[basement] == ""
    occupied = property_values(document, binary, "occupied")
    assert occupied[row] == "True"  # missing on basements, so booleans fall back to text


def test_bounding_volumes_contain_all_vertices(exported: tuple[Scene, Path, Any]) -> None:
    _, out, _ = exported
    root = json.loads((out / "tileset.json").read_text("utf-8"))["root"]

    def check(node: dict[str, Any], ancestors: list[list[float]]) -> np.ndarray:
        boxes = [*ancestors, node["boundingVolume"]["box"]]
        points = [np.zeros((0, 3))]
        if "content" in node:
            document, binary = read_glb((out / node["content"]["uri"]).read_bytes())
            positions = content_points(document, binary)
            assert inside(node["content"]["boundingVolume"]["box"], positions)
            points.append(positions)
        for child in node.get("children", []):
            points.append(check(child, boxes))
        stacked = np.concatenate(points)
        assert all(inside(box, stacked) for box in boxes)
        return stacked

    everything = check(root, [])
    assert len(everything) > 1000
    # tight: the root box is no more than a few centimetres larger than the content
    half = np.linalg.norm(np.asarray(root["boundingVolume"]["box"][3:]).reshape(3, 3), axis=1)
    assert 2 * half[2] == pytest.approx(np.ptp(everything[:, 2]), abs=0.01)


def test_root_transform_puts_the_scene_origin_at_its_ecef_point(
    exported: tuple[Scene, Path, Any],
) -> None:
    _, out, _ = exported
    root = json.loads((out / "tileset.json").read_text("utf-8"))["root"]
    matrix = np.asarray(root["transform"]).reshape(4, 4).T  # stored column-major
    expected = Transformer.from_crs(4979, 4978, always_xy=True).transform(*ORIGIN)
    assert matrix[:3, 3] == pytest.approx(expected, abs=1e-6)
    assert np.allclose(matrix[:3, :3].T @ matrix[:3, :3], np.eye(3), atol=1e-12)
    assert matrix[:3, :3] == pytest.approx(enu_to_ecef_matrix(ORIGIN)[:3, :3])


def test_glb_vertices_land_on_the_right_spot(exported: tuple[Scene, Path, Any]) -> None:
    """Apply y-up → z-up and the root transform as a client does; compare with the scene."""
    scene, out, _ = exported
    root = json.loads((out / "tileset.json").read_text("utf-8"))["root"]
    matrix = np.asarray(root["transform"]).reshape(4, 4).T
    document, binary = read_glb((out / "tiles" / "000_B01_L2.glb").read_bytes())
    positions = content_points(document, binary)
    ecef = positions @ matrix[:3, :3].T + matrix[:3, 3]
    lon, lat, height = Transformer.from_crs(4978, 4979, always_xy=True).transform(*ecef.T)
    placed = np.column_stack([lon, lat, height])
    white = scene.objects["B01"].geometry[0].vertices
    expected = LocalFrame(ORIGIN).to_geodetic(white)  # the importers' own ENU frame
    for corner in expected:
        distance = np.abs(placed - corner).max(axis=1)
        assert distance.min() < 1e-7  # degrees (~1 cm) and metres
    top = placed[:, 2].max()
    assert top == pytest.approx(ORIGIN[2] + 9.0, abs=0.01)  # three 3 m storeys above ground
    north = placed[np.argmax(positions[:, 1]), 1]  # glTF -z became +y (north)
    assert north == pytest.approx(expected[:, 1].max(), abs=1e-7)


def test_imported_geometry_is_exported_instead_of_procedural(tmp_path: Path) -> None:
    """A building known by footprint only, with imported (non-box) rooms directly under it."""
    scene = Scene(source_crs=Crs(epsg=4547), origin=(114.06, 22.54, 5.0))
    scene.add(
        SceneObject(
            id="H1",
            kind=ObjectKind.building,
            footprint=Footprint([[(0, 0), (20, 0), (20, 10), (0, 10)]], base=0.0, height=6.0),
        )
    )
    pentagon = prism([(0, 0), (6, 0), (8, 5), (3, 9), (-1, 5)], 0.0, 3.0, interior=True, lod="2")
    triangle = Geometry(
        lod="3",
        vertices=np.array([[10.0, 0, 3], [14, 0, 3], [12, 4, 3], [12, 2, 6]]),
        surfaces=[[[0, 2, 1]], [[0, 1, 3]], [[1, 2, 3]], [[2, 0, 3]]],
        semantics=["FloorSurface", None, None, None],
    )
    scene.add(SceneObject(id="R1", kind=ObjectKind.room, parent="H1", geometry=[pentagon]))
    scene.add(SceneObject(id="R2", kind=ObjectKind.room, parent="H1", geometry=[triangle]))
    report = write_tileset(scene, tmp_path)
    root = json.loads((tmp_path / "tileset.json").read_text("utf-8"))["root"]
    (building,) = root["children"]
    (rooms,) = building["children"]  # no unit/storey split in the file: CIM3 is skipped
    assert rooms["content"]["uri"].endswith("L4.glb") and rooms["geometricError"] == 0
    document, binary = read_glb((tmp_path / rooms["content"]["uri"]).read_bytes())
    positions = content_points(document, binary)
    expected = np.concatenate([pentagon.vertices, triangle.vertices])
    assert {tuple(p) for p in np.round(positions, 3)} == {tuple(p) for p in expected}
    assert property_values(document, binary, "id") == ["R1", "R2"]
    assert report.features == 3
    reports = khronos_reports(
        [tmp_path / building["content"]["uri"], tmp_path / rooms["content"]["uri"]]
    )
    assert all(r["issues"]["numErrors"] == 0 for r in reports)


def test_empty_scene_gives_a_valid_tileset(tmp_path: Path, shared_data: Path) -> None:
    scene = Scene(source_crs=Crs(), origin=ORIGIN)
    scene.add(SceneObject(id="X", kind=ObjectKind.building, name="register only"))
    report = write_tileset(scene, tmp_path)
    document = json.loads((tmp_path / "tileset.json").read_text("utf-8"))
    assert tileset_validator(shared_data).is_valid(document)
    assert (report.tiles, report.features, len(report.files)) == (1, 0, 1)


def test_imported_ifc_building_exports(tmp_path: Path, shared_data: Path) -> None:
    read = pytest.importorskip("shequ.cim.io.read")
    scene = read.read_scene("ifc", shared_data / "ifc" / "duplex.ifc")
    report = write_tileset(scene, tmp_path)
    document = json.loads((tmp_path / "tileset.json").read_text("utf-8"))
    assert tileset_validator(shared_data).is_valid(document)
    assert report.features >= len(scene.of_kind(ObjectKind.room))
    reports = khronos_reports([p for p in report.files if p.suffix == ".glb"])
    assert all(r["issues"]["numErrors"] == 0 for r in reports)


def test_demo_sized_community(tmp_path: Path) -> None:
    """About twenty buildings and three thousand households (timing lives in bench/)."""
    from shequ.cim.io.procedural import community_scene

    scene = community_scene(community_specs(20), ORIGIN)
    report = write_tileset(scene, tmp_path)
    counts = scene.counts()
    assert report.tiles == 1 + 3 * counts["building"]
    storeys_without_rooms = counts["unit"]  # one basement per unit
    expected = counts["building"] + counts["storey"] + counts["room"] + storeys_without_rooms
    assert report.features == expected
    assert len(report.files) == 1 + 3 * counts["building"]


def test_booleans_and_numbers_keep_their_types(exported: tuple[Scene, Path, Any]) -> None:
    scene, out, _ = exported
    document, binary = read_glb((out / "tiles" / "001_B02_L4.glb").read_bytes())
    classes = document["extensions"]["EXT_structural_metadata"]["schema"]["classes"]
    properties = classes["cim_object"]["properties"]
    assert properties["occupied"] == {"type": "BOOLEAN"}
    assert properties["area"] == {"type": "SCALAR", "componentType": "FLOAT64"}
    assert properties["unit_no"] == {"type": "SCALAR", "componentType": "INT32"}
    names = property_values(document, binary, "id")
    occupied = property_values(document, binary, "occupied")
    assert occupied == [scene.objects[n].attributes["occupied"] for n in names]


def test_large_tile_uses_32_bit_indices(tmp_path: Path) -> None:
    from shequ.cim.io.procedural import BuildingSpec, community_scene

    tower = BuildingSpec(
        id="T1",
        name="塔楼",
        footprint=[(0.0, 0.0), (64.0, 0.0), (64.0, 20.0), (0.0, 20.0)],
        floors=99,
        households_per_floor=32,
    )
    report = write_tileset(community_scene([tower], ORIGIN), tmp_path)
    path = tmp_path / "tiles" / "000_T1_L4.glb"
    document, _ = read_glb(path.read_bytes())
    primitive = document["meshes"][0]["primitives"][0]
    assert document["accessors"][primitive["attributes"]["POSITION"]]["count"] > 65535
    assert document["accessors"][primitive["indices"]]["componentType"] == 5125
    assert report.features == 1 + 99 + 99 * 32
    (result,) = khronos_reports([path])
    assert result["issues"]["numErrors"] == 0


def test_imported_rooms_replace_procedural_households_of_their_unit(tmp_path: Path) -> None:
    from shequ.cim.io.procedural import BuildingSpec, community_scene

    spec = BuildingSpec(
        id="B9",
        name="9号楼",
        footprint=[(0.0, 0.0), (32.0, 0.0), (32.0, 12.0), (0.0, 12.0)],
        floors=2,
        units=2,
        households_per_floor=2,
    )
    scene = community_scene([spec], ORIGIN)
    surveyed = prism([(1.0, 1.0), (9.0, 1.0), (9.0, 11.0), (1.0, 11.0)], 0.2, 2.6, interior=True)
    scene.add(
        SceneObject(
            id="IFC-SPACE-1",
            kind=ObjectKind.room,
            parent="B9-U1-F1",
            geometry=[surveyed],
            source_type="IfcSpace",
        )
    )
    write_tileset(scene, tmp_path)
    document, binary = read_glb((tmp_path / "tiles" / "000_B9_L4.glb").read_bytes())
    ids = property_values(document, binary, "id")
    assert "IFC-SPACE-1" in ids
    assert not any(i.startswith("B9-U1-") for i in ids)  # unit 1: the survey wins
    assert sum(i.startswith("B9-U2-") for i in ids) == 4  # unit 2 stays procedural
