"""Procedural CIM geometry from the housing register: prisms, unit/floor/household splits, ids."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from shequ.cim.io.glb import tessellate
from shequ.cim.io.procedural import (
    BuildingSpec,
    building_objects,
    community_scene,
    household_grid,
    long_axis,
    parse_id,
    prism,
    split_along,
    split_households,
    to_polygon,
)
from shequ.cim.io.scene import Geometry, ObjectKind, Scene

ORIGIN = (116.397, 39.909, 45.0)
L_SHAPE = [(0.0, 0.0), (40.0, 0.0), (40.0, 12.0), (14.0, 12.0), (14.0, 30.0), (0.0, 30.0)]
ROTATED = [(0.0, 0.0), (50.0, 20.0), (45.0, 32.0), (-5.0, 12.0)]


def register(units: int, floors: int, per_floor: int) -> dict[tuple[int, int, int], dict]:
    """Register rows (owner, area, occupied, persons) for every household of a grid."""
    return {
        (u, f, h): {"owner": f"业主{u}-{f}-{h}", "area": 80 + 5.5 * h, "occupied": h % 2 == 1}
        for u in range(1, units + 1)
        for f in range(1, floors + 1)
        for h in range(1, per_floor + 1)
    }


def community_specs(count: int = 20, seed: int = 7) -> list[BuildingSpec]:
    """A synthetic community: slabs, towers and an L-shaped block with full registers."""
    rng = random.Random(seed)
    specs = []
    for i in range(count):
        x, y = (i % 5) * 80.0, (i // 5) * 60.0
        units = rng.choice([2, 3])
        per_floor = rng.choice([2, 4])
        floors = rng.choice([11, 18, 26, 33]) if i % 4 else 6
        width = units * 16.0
        outline = [(x, y), (x + width, y), (x + width, y + 13.0), (x, y + 13.0)]
        if i % 7 == 3:
            outline = [(x + px, y + py) for px, py in L_SHAPE]
        specs.append(
            BuildingSpec(
                id=f"B{i + 1:02d}",
                name=f"{i + 1}号楼",
                footprint=outline,
                floors=floors,
                units=units,
                households_per_floor=per_floor,
                below_ground=1,
                households=register(units, floors, per_floor),
            )
        )
    return specs


def small_community() -> Scene:
    """Three small buildings (one L-shaped, one rotated) for fast export tests."""
    specs = [
        BuildingSpec(
            id="B01",
            name="1号楼",
            footprint=[(0.0, 0.0), (32.0, 0.0), (32.0, 12.0), (0.0, 12.0)],
            floors=3,
            units=2,
            households_per_floor=2,
            below_ground=1,
            attributes={"address": "幸福路1号", "year_built": 2008},
            households=register(2, 3, 2),
        ),
        BuildingSpec(
            id="B02",
            name="2号楼",
            footprint=[(60.0 + x, y) for x, y in L_SHAPE],
            floors=2,
            units=2,
            households_per_floor=4,
            households=register(2, 2, 4),
        ),
        BuildingSpec(
            id="B03",
            name="3号楼",
            footprint=[(x, 50.0 + y) for x, y in ROTATED],
            floors=2,
            units=2,
            households_per_floor=3,
        ),
    ]
    return community_scene(specs, ORIGIN, metadata={"title": "幸福小区"})


def volume(geometries: Sequence[Geometry]) -> float:
    """Signed volume enclosed by triangulated surfaces (positive when facing outwards)."""
    mesh = tessellate([geometries])
    triangles = mesh.positions[mesh.indices.reshape(-1, 3).astype(np.int64)]
    return float(
        np.einsum("ij,ij->i", triangles[:, 0], np.cross(triangles[:, 1], triangles[:, 2])).sum() / 6
    )


def directed_edges(geometry: Geometry) -> Counter[tuple[int, int]]:
    """How often each directed ring edge occurs in a geometry."""
    edges: Counter[tuple[int, int]] = Counter()
    for surface in geometry.surfaces:
        for ring in surface:
            edges.update(zip(ring, ring[1:] + ring[:1], strict=True))
    return edges


def spec(**changes: object) -> BuildingSpec:
    """A 3-unit, 6-floor, 4-household slab with one basement, varied by `changes`."""
    values: dict[str, object] = {
        "id": "B03",
        "name": "3号楼",
        "footprint": [(0.0, 0.0), (60.0, 0.0), (60.0, 12.0), (0.0, 12.0)],
        "floors": 6,
        "floor_height": 2.9,
        "units": 3,
        "households_per_floor": 4,
        "below_ground": 1,
        "households": {(2, 5, 3): {"owner": "张三", "area": 89.5, "persons": 3}},
    }
    values.update(changes)
    return BuildingSpec(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- prisms


def test_prism_is_a_closed_outward_solid_with_semantics() -> None:
    geometry = prism([(0, 0), (10, 0), (10, 8), (0, 8)], 2.0, 3.0)
    assert geometry.solid and geometry.lod == "1"
    assert geometry.semantics[:2] == ["GroundSurface", "RoofSurface"]
    assert set(geometry.semantics[2:]) == {"WallSurface"}
    edges = directed_edges(geometry)
    assert all(count == 1 and edges[(b, a)] == 1 for (a, b), count in edges.items())
    assert volume([geometry]) == pytest.approx(240.0)
    assert geometry.vertices[:, 2].min() == 2.0 and geometry.vertices[:, 2].max() == 5.0


def test_prism_accepts_clockwise_rings_holes_and_interior_semantics() -> None:
    outer = [(0.0, 0.0), (0.0, 20.0), (20.0, 20.0), (20.0, 0.0)]  # clockwise
    hole = [(5.0, 5.0), (15.0, 5.0), (15.0, 15.0), (5.0, 15.0)]
    geometry = prism(Polygon(outer, [hole]), 0.0, 3.0, interior=True)
    assert volume([geometry]) == pytest.approx((400.0 - 100.0) * 3.0)
    assert geometry.semantics[:2] == ["FloorSurface", "CeilingSurface"]
    assert len(geometry.surfaces[0]) == 2  # floor keeps the hole
    edges = directed_edges(geometry)
    assert all(edges[(b, a)] == 1 for a, b in edges)


def test_prism_rejects_invalid_footprints() -> None:
    with pytest.raises(ValueError, match="valid simple polygon"):
        prism([(0, 0), (10, 10), (10, 0), (0, 10)], 0.0, 3.0)  # bow tie
    with pytest.raises(ValueError, match="height"):
        prism([(0, 0), (10, 0), (10, 8)], 0.0, 0.0)


# ---------------------------------------------------------------- splits


@pytest.mark.parametrize("outline", [L_SHAPE, ROTATED], ids=["L-shape", "rotated"])
@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_split_along_long_axis_covers_footprint_with_equal_areas(
    outline: list[tuple[float, float]], parts: int
) -> None:
    footprint = to_polygon(outline)
    pieces = split_along(footprint, parts, long_axis(footprint))
    assert len(pieces) == parts
    assert shapely.union_all(pieces).symmetric_difference(footprint).area < 1e-3
    assert sum(p.area for p in pieces) == pytest.approx(footprint.area, rel=1e-6)
    for piece in pieces:
        assert piece.area == pytest.approx(footprint.area / parts, rel=1e-4)
    for a, b in itertools.pairwise(pieces):
        assert a.intersection(b).area < 1e-6
    angle = long_axis(footprint)
    along = [np.cos(angle) * p.centroid.x + np.sin(angle) * p.centroid.y for p in pieces]
    assert along == sorted(along)  # unit 1 at the start of the axis


def test_long_axis_of_rotated_footprint() -> None:
    assert np.degrees(long_axis(to_polygon(ROTATED))) == pytest.approx(21.8014, abs=1e-3)
    tall = to_polygon([(0, 0), (10, 0), (10, 50), (0, 50)])
    assert np.degrees(long_axis(tall)) == pytest.approx(90.0)


@pytest.mark.parametrize(("count", "grid"), [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2))])
def test_households_split_each_unit(count: int, grid: tuple[int, int]) -> None:
    unit = to_polygon([(0, 0), (20, 0), (20, 12), (0, 12)])
    rooms = split_households(unit, count, 0.0)
    assert household_grid(count) == grid
    assert len(rooms) == count
    assert shapely.union_all(rooms).symmetric_difference(unit).area < 1e-6
    assert all(r.area == pytest.approx(240.0 / count) for r in rooms)


# ---------------------------------------------------------------- buildings


def test_building_objects_ids_counts_and_hierarchy() -> None:
    objects = building_objects(spec())
    by_id = {o.id: o for o in objects}
    kinds = Counter(o.kind for o in objects)
    assert kinds == {
        ObjectKind.building: 1,
        ObjectKind.unit: 3,
        ObjectKind.storey: 3 * 7,
        ObjectKind.room: 3 * 6 * 4,
    }
    assert len(by_id) == len(objects)
    assert by_id["B03-U2"].parent == "B03"
    assert by_id["B03-U2-F5"].parent == "B03-U2"
    assert by_id["B03-U2-B1"].parent == "B03-U2"
    assert by_id["B03-U2-F5-03"].parent == "B03-U2-F5"
    assert not any(o.parent == "B03-U1-B1" for o in objects)  # no households below ground


def test_households_carry_register_attributes_and_address_names() -> None:
    by_id = {o.id: o for o in building_objects(spec())}
    household = by_id["B03-U2-F5-03"]
    assert household.kind == ObjectKind.room
    assert household.name == "3号楼2单元503室"
    assert household.attributes["owner"] == "张三"
    assert household.attributes["area"] == 89.5
    assert household.attributes["room_no"] == "503"
    assert (household.storey_index, household.elevation, household.height) == (
        5,
        pytest.approx(4 * 2.9),
        2.9,
    )
    assert by_id["B03-U1-F1-01"].attributes == {
        "building_id": "B03",
        "unit_no": 1,
        "floor_no": 1,
        "household_no": 1,
        "room_no": "101",
    }


def test_storey_elevations_and_building_white_model() -> None:
    by_id = {o.id: o for o in building_objects(spec())}
    basement = by_id["B03-U1-B1"]
    assert basement.storey_index == -1
    assert basement.elevation == pytest.approx(-2.9)
    assert basement.name == "3号楼1单元地下1层"
    building = by_id["B03"]
    (white,) = building.geometry
    assert white.vertices[:, 2].min() == pytest.approx(-2.9)
    assert white.vertices[:, 2].max() == pytest.approx(6 * 2.9)
    assert set(white.semantics) == {"GroundSurface", "RoofSurface", "WallSurface"}
    assert volume(building.geometry) == pytest.approx(60 * 12 * 7 * 2.9)
    rooms = [o for o in by_id.values() if o.kind == ObjectKind.room]
    assert sum(volume(r.geometry) for r in rooms) == pytest.approx(60 * 12 * 6 * 2.9)


def test_l_shaped_building_units_and_households_tile_the_footprint() -> None:
    objects = building_objects(spec(footprint=L_SHAPE, units=3, households_per_floor=3))
    footprint = to_polygon(L_SHAPE)
    for kind in (ObjectKind.unit, ObjectKind.room):
        shapes = [
            shapely.union_all(
                [Polygon(g.vertices[s[0], :2]) for g in o.geometry for s in g.surfaces[:1]]
            )
            for o in objects
            if o.kind == kind and (kind == ObjectKind.unit or o.storey_index == 1)
        ]
        assert shapely.union_all(shapes).symmetric_difference(footprint).area < 1e-3


def test_parse_id_maps_every_procedural_id_back() -> None:
    for obj in building_objects(spec(id="楼-U9a")):
        key = parse_id(obj.id)
        assert key.id == obj.id
        assert key.building == "楼-U9a"
        assert key.unit == obj.attributes.get("unit_no")
        assert key.floor == obj.attributes.get("floor_no")
        assert key.household == obj.attributes.get("household_no")
    assert parse_id("B03").unit is None


def test_generation_is_deterministic() -> None:
    first = building_objects(spec(footprint=ROTATED))
    second = building_objects(spec(footprint=ROTATED))
    assert [o.id for o in first] == [o.id for o in second]
    for a, b in zip(first, second, strict=True):
        assert all(
            np.array_equal(g.vertices, h.vertices)
            for g, h in zip(a.geometry, b.geometry, strict=True)
        )


def test_spec_errors_are_reported() -> None:
    with pytest.raises(ValueError, match="outside the grid"):
        building_objects(spec(households={(4, 1, 1): {}}))
    with pytest.raises(ValueError, match=">= 1"):
        building_objects(spec(units=0))
    with pytest.raises(ValueError, match="looks like"):
        building_objects(spec(id="A-U1-F2"))


def test_community_scene_holds_every_building() -> None:
    scene = community_scene(community_specs(4), ORIGIN)
    assert scene.origin == ORIGIN
    assert scene.counts()["building"] == 4
    assert scene.source_crs.label == "local ENU"
