"""The community model exported: 3D Tiles at a stable URL, versioned tiles, CityJSON, GeoJSON
(issue 4 export, 6.2.5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cim.test_cim_api import flats, register_xlsx, upload
from tests.conftest import World

FOOTPRINT = {"type": "Polygon", "coordinates": [[[120.1240, 30.2920], [120.1244, 30.2920],
                                                  [120.1244, 30.29215], [120.1240, 30.29215],
                                                  [120.1240, 30.2920]]]}


@pytest.fixture
def modelled(world: World, shared_data: Path) -> dict[str, Any]:
    """A community with one procedural CIM4 building, one CIM3 and the IFC duplex."""
    admin = world.headers(world.user("platform_admin", scope="platform"))
    upload(world, admin, "register", "r.xlsx", register_xlsx(flats(2, 2, 3, 2)))
    buildings = world.client.get(f"/api/v1/buildings?community_id={world.community_id}"
                                 "&sort=code", headers=admin).json()["items"]
    for building, level in zip(buildings, (4, 3), strict=True):
        shifted = json.loads(json.dumps(FOOTPRINT).replace("120.124", f"120.12{4 + level}"))
        response = world.client.patch(f"/api/v1/buildings/{building['id']}", headers=admin,
                                      json={"footprint": shifted, "modelling_level": level})
        assert response.status_code == 200, response.text
        assert response.json()["cim_level"] == level
    ifc = upload(world, admin, "ifc", "duplex.ifc", (shared_data / "ifc/duplex.ifc").read_bytes(),
                 lon="120.1230", lat="30.2915")
    assert ifc.status_code == 200
    return {"admin": admin, "buildings": buildings}


def _tiles(tileset: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], [tileset["root"]]
    while stack:
        tile = stack.pop()
        found.append(tile)
        stack.extend(tile.get("children", []))
    return found


def test_tileset_at_a_stable_url_with_versioned_tiles(world: World,
                                                      modelled: dict[str, Any]) -> None:
    url = f"/api/v1/communities/{world.code}/tiles/tileset.json"
    first = world.client.get(url, headers=modelled["admin"])
    assert first.status_code == 200, first.text
    tileset = first.json()
    assert tileset["asset"]["version"] == "1.1"
    uris = [t["content"]["uri"] for t in _tiles(tileset) if "content" in t]
    levels = {t["extras"]["cimLevel"] for t in _tiles(tileset) if "extras" in t}
    assert {2, 3, 4} <= levels
    version = uris[0].split("/")[0]
    assert all(u.startswith(version + "/") for u in uris)
    glb = world.client.get(f"/api/v1/communities/{world.code}/tiles/{uris[0]}",
                           headers=modelled["admin"])
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    assert "immutable" in glb.headers["cache-control"]
    world.client.patch(f"/api/v1/buildings/{modelled['buildings'][1]['id']}",
                       headers=modelled["admin"], json={"name": "改名后的楼"})
    second = world.client.get(url, headers=modelled["admin"]).json()
    new_uri = next(t["content"]["uri"] for t in _tiles(second) if "content" in t)
    assert new_uri.split("/")[0] != version
    traversal = world.client.get(f"/api/v1/communities/{world.code}/tiles/{version}/"
                                 "..%2F..%2Fshequ.db", headers=modelled["admin"])
    assert traversal.status_code == 404


def test_tiles_need_read_access_to_the_community(world_factory: Any,
                                                 modelled: dict[str, Any], world: World) -> None:
    other = world_factory()
    outsider = other.headers(other.user("property_manager"))
    response = world.client.get(f"/api/v1/communities/{world.code}/tiles/tileset.json",
                                headers=outsider)
    assert response.status_code == 404


def test_command_line_exports(world: World, modelled: dict[str, Any], tmp_path: Path) -> None:
    env = {**os.environ, "SHEQU_DATABASE_URL": world.services.settings.database_url}

    def export(kind: str, out: Path) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "shequ.cli", "export", kind, "--community",
                               world.code, "--out", str(out), "--json"], env=env, text=True,
                              capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    city = export("cityjson", tmp_path / "c.city.json")
    document = json.loads((tmp_path / "c.city.json").read_text(encoding="utf-8"))
    types = {o["type"] for o in document["CityObjects"].values()}
    assert {"Building", "BuildingUnit", "BuildingStorey", "BuildingRoom"} <= types
    assert city["objects"] == len(document["CityObjects"])
    geo = export("geojson", tmp_path / "geo")
    assert geo["features"]["building"] == 3
    tiles = export("3dtiles", tmp_path / "tiles")
    assert (tmp_path / "tiles" / "tileset.json").is_file() and tiles["features"] > 12
