"""The community CIM through the API and the command line: register and model imports (all or
nothing), CIM levels (Table 3), the register tree, address search, GeoJSON layers, and
household scoping for residents (4.1.2, 4.3.2-4, 6.6.10.a, T2.static.*, T3.building.house)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from tests.conftest import World

HEADER = ["楼栋编号", "单元", "楼层", "房号", "用途", "状态", "建筑面积", "套内面积"]


def register_xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def flats(buildings: int = 2, units: int = 2, floors: int = 3,
          per_floor: int = 2) -> list[list[Any]]:
    return [[f"{b}幢", u, f, f"{f}{h:02d}", "住宅", "自住", 88.5, 70.1]
            for b in range(1, buildings + 1) for u in range(1, units + 1)
            for f in range(1, floors + 1) for h in range(1, per_floor + 1)]


def upload(world: World, headers: dict[str, str], kind: str, name: str, content: bytes,
           **form: Any) -> Any:
    return world.client.post(f"/api/v1/communities/{world.code}/cim/imports", headers=headers,
                             data={"kind": kind, **form},
                             files={"file": (name, content, "application/octet-stream")})


@pytest.fixture
def admin(world: World) -> dict[str, str]:
    return world.headers(world.user("platform_admin", scope="platform"))


def count(world: World, h: dict[str, str], ledger: str) -> int:
    response = world.client.get(f"/api/v1/{ledger}?community_id={world.community_id}",
                                headers=h)
    return int(response.json()["total"])


def test_register_import_builds_the_tree_with_standard_addresses(world: World,
                                                                  admin: dict[str, str]) -> None:
    response = upload(world, admin, "register", "楼盘表.xlsx", register_xlsx(flats()))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == {"buildings": 2, "units": 4, "floors": 12, "rooms": 24}
    assert count(world, admin, "rooms") == 24
    tree = world.client.get(f"/api/v1/communities/{world.code}/cim/tree", headers=admin).json()
    assert [b["code"] for b in tree] == ["1幢", "2幢"]
    one = world.client.get(f"/api/v1/communities/{world.code}/cim/buildings/{tree[0]['id']}"
                           "/tree", headers=admin).json()
    assert [u["name"] for u in one["units"]] == ["1单元", "2单元"]
    first_floor = one["units"][0]["floors"][0]
    assert first_floor["label"] == "1F"
    assert [r["number"] for r in first_floor["rooms"]] == ["101", "102"]
    codes = [r["address_code"] for f in one["units"][0]["floors"] for r in f["rooms"]]
    assert codes[0] == f"{world.code}-1幢-01-101" and len(set(codes)) == len(codes)
    again = upload(world, admin, "register", "楼盘表.xlsx", register_xlsx(flats()))
    assert again.json()["updated"]["rooms"] == 24 and again.json()["created"] == {}


@pytest.mark.parametrize(("rows", "header", "code", "bad_rows"), [
    ([["9幢", 1, 1, "101", "住宅", "自住", 80, 60],
      ["9幢", 1, 1, "101", "住宅", "自住", 80, 60]], HEADER, "import.rows_failed", {3}),
    ([["9幢", 1, 0, "001", "住宅", "自住", 80, 60]], HEADER, "import.rows_failed", {2}),
    ([["9幢", "一", 1, "101", "住宅", "自住", -5, 60]], HEADER, "import.rows_failed", {2}),
    ([["9幢", 1, 1, "101", "宫殿", "自住", 80, 60]], HEADER, "import.rows_failed", {2}),
    ([["1幢", 1, 1, "101"]], ["楼栋", "单元", "楼层", "房号"], "import.bad_header", set()),
    ([["1幢", 1, "101"]], ["楼栋编号", "单元", "房号"], "import.bad_header", set()),
])
def test_bad_registers_import_nothing(world: World, admin: dict[str, str],
                                      rows: list[list[Any]], header: list[str], code: str,
                                      bad_rows: set[int]) -> None:
    good = flats(1, 1, 2, 2)
    response = upload(world, admin, "register", "r.xlsx", register_xlsx(good + rows, header))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    if bad_rows:
        assert {e["row"] - len(good) for e in body["errors"]} == bad_rows
        assert all(e["message"] for e in body["errors"])
    assert count(world, admin, "rooms") == 0


def test_ifc_building_reaches_cim4_and_geojson_reaches_cim2(world: World, admin: dict[str, str],
                                                             shared_data: Path) -> None:
    ifc = upload(world, admin, "ifc", "duplex.ifc", (shared_data / "ifc/duplex.ifc").read_bytes(),
                 lon="120.1230", lat="30.2915")
    assert ifc.status_code == 200, ifc.text
    assert ifc.json()["created"]["rooms"] == 21 and ifc.json()["cim_level"] == 4
    footprints = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "白模楼", "floors": 6},
        "geometry": {"type": "Polygon", "coordinates": [[[120.1240, 30.2920], [120.1243, 30.2920],
                                                          [120.1243, 30.2922], [120.1240, 30.2922],
                                                          [120.1240, 30.2920]]]}}]}
    white = upload(world, admin, "geojson", "b.geojson", json.dumps(footprints).encode())
    assert white.status_code == 200, white.text
    assert white.json()["cim_level"] == 2
    levels = world.client.get(f"/api/v1/communities/{world.code}/cim/levels",
                              headers={**admin, "Accept-Language": "en"}).json()
    assert levels["counts"]["buildings"] == {"2": 1, "4": 1}
    assert "T2.static.facility.fire" in levels["missing_mandatory"]
    step = next(s for s in levels["next_steps"] if s["level"] == 2)
    assert step["next"] == 3 and "units and floors" in step["needs"]
    layer = world.client.get(f"/api/v1/communities/{world.code}/geojson/buildings",
                             headers=admin)
    assert layer.headers["content-type"] == "application/geo+json"
    features = layer.json()["features"]
    assert len(features) == 2 and all(f["geometry"]["type"] == "Polygon" for f in features)
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    assert 120.11 < lon < 120.14 and 30.28 < lat < 30.30


def test_cityjson_needs_a_crs_when_the_file_declares_none(world: World, admin: dict[str, str],
                                                          shared_data: Path) -> None:
    content = (shared_data / "cityjson/DH_01_subs.city.json").read_bytes()
    response = upload(world, admin, "cityjson", "dh.city.json", content, crs="EPSG:7415")
    assert response.status_code == 200, response.text
    assert response.json()["created"]["buildings"] == 4
    layer = world.client.get(f"/api/v1/communities/{world.code}/geojson/buildings",
                             headers=admin).json()
    lon, lat = layer["features"][0]["geometry"]["coordinates"][0][0]
    assert 4.271 < lon < 4.275 and 52.102 < lat < 52.107  # pyproj: EPSG:28992 extent


@pytest.mark.parametrize(("kind", "content"), [
    ("cityjson", b'{"type": "CityJSON", "version": "2.0", "CityObjects": {'),
    ("citygml", b"<CityModel><cityObjectMember>"),
    ("ifc", b"ISO-10303-21;\nHEADER;\nnot really"),
    ("geojson", json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[120, 30],
        [120.001, 30.001], [120.001, 30], [120, 30.001], [120, 30]]]}}]}).encode()),
])
def test_broken_model_files_import_nothing(world: World, admin: dict[str, str], kind: str,
                                           content: bytes) -> None:
    response = upload(world, admin, kind, f"broken.{kind}", content)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] in ("cim.io.bad_file", "cim.import.file_errors")
    assert body["errors"] and all(e.get("location") for e in body["errors"])
    assert count(world, admin, "buildings") == 0


def test_search_by_address_and_room_number(world: World, admin: dict[str, str]) -> None:
    upload(world, admin, "register", "r.xlsx", register_xlsx(flats(1, 1, 3, 2)))
    found = world.client.get(f"/api/v1/communities/{world.code}/cim/search?q=302",
                             headers=admin).json()
    assert [r["number"] for r in found["rooms"]] == ["302"]
    by_code = world.client.get(f"/api/v1/communities/{world.code}/cim/search",
                               params={"q": f"{world.code}-1幢"}, headers=admin).json()
    assert len(by_code["rooms"]) == 6 and by_code["buildings"][0]["code"] == "1幢"


def test_residents_see_only_their_own_household(world: World, admin: dict[str, str]) -> None:
    upload(world, admin, "register", "r.xlsx", register_xlsx(flats(1, 1, 2, 2)))
    rooms = world.client.get(f"/api/v1/rooms?community_id={world.community_id}&sort=number",
                             headers=admin).json()["items"]
    mine, other = rooms[0], rooms[1]
    resident = world.headers(world.user("resident", scope="household", scope_id=mine["id"]))
    listed = world.client.get("/api/v1/rooms", headers=resident).json()
    assert [r["id"] for r in listed["items"]] == [mine["id"]]
    assert world.client.get(f"/api/v1/rooms/{mine['id']}", headers=resident).status_code == 200
    denied = world.client.get(f"/api/v1/rooms/{other['id']}", headers=resident)
    assert denied.status_code == 404 and denied.json()["code"] == "resource.not_found"
    assert world.client.get("/api/v1/buildings", headers=resident).status_code == 403
    search = world.client.get(f"/api/v1/communities/{world.code}/cim/search?q=10",
                              headers=resident).json()
    assert [r["id"] for r in search["rooms"]] == [mine["id"]]
    assert world.client.patch(f"/api/v1/rooms/{mine['id']}", headers=resident,
                              json={"state": "rented"}).status_code == 403


def test_command_line_import_and_levels(world: World, tmp_path: Path) -> None:
    path = tmp_path / "楼盘表.xlsx"
    path.write_bytes(register_xlsx(flats(1, 2, 4, 2)))
    env = {**os.environ, "SHEQU_DATABASE_URL": world.services.settings.database_url}

    def shequ(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shequ.cli", *args], env=env, text=True,
                              capture_output=True, timeout=120, check=False)

    done = shequ("import", "register", str(path), "--community", world.code, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"]["rooms"] == 16
    bad = tmp_path / "bad.csv"
    bad.write_text("楼栋编号,单元,楼层,房号\n1幢,1,1,101\n1幢,1,1,101\n", encoding="utf-8")
    refused = shequ("import", "register", str(bad), "--community", world.code, "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["errors"][0]["row"] == 3
    levels = shequ("cim", "levels", "--community", world.code, "--json")
    assert levels.returncode == 0, levels.stderr
    assert json.loads(levels.stdout)["counts"]["rooms"] == {"1": 16}
