"""Vehicles by plate (6.5.8.a), organisation staff and key units (6.6.8), and the
community summary; the vehicle archive."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.people.helpers import headers, move_in, person, room


def _vehicle(world: World, h: dict[str, str], plate: str, **fields: object) -> Any:
    return world.client.post("/api/v1/vehicles", headers={**h, "Accept-Language": "en"},
                             json={"community_id": world.community_id, "plate": plate,
                                   **fields})


def test_plates_are_validated_and_new_energy_plates_recognised(world: World) -> None:
    h = headers(world, "property_manager")
    small = _vehicle(world, h, "浙a d12345")
    assert small.status_code == 201, small.text
    assert small.json()["plate"] == "浙AD12345"
    assert small.json()["plate_kind"] == "new_energy_small"
    large = _vehicle(world, h, "浙A12345F").json()
    assert large["plate_kind"] == "new_energy_large"
    for bad, code in (("浙AI2345", "people.plate.serial"), ("浙AX12345", "people.plate.new_energy"),
                      ("ZA12345", "people.plate.province")):
        refused = _vehicle(world, h, bad)
        assert refused.status_code == 422, bad
        error = refused.json()["errors"][0]
        assert (error["field"], error["code"]) == ("plate", code)
        assert "plate" in error["message"].lower()
    duplicate = _vehicle(world, h, "浙AD12345")
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "people.duplicate_vehicle"


def test_vehicle_owner_must_exist_and_residents_see_their_own(world: World) -> None:
    h = headers(world, "property_manager")
    missing = _vehicle(world, h, "浙B12345", owner_person_id=987_654_321)
    assert missing.status_code == 422
    home, owner = room(world), person(world, h)
    move_in(world, h, owner["id"], home)
    mine = _vehicle(world, h, "浙B22345", owner_person_id=owner["id"], room_id=home)
    _vehicle(world, h, "浙B32345", room_id=room(world))
    resident = headers(world, "resident", scope="household", scope_id=home)
    listed = world.client.get("/api/v1/vehicles", headers=resident).json()
    assert [v["id"] for v in listed["items"]] == [mine.json()["id"]]
    archive = world.client.get(f"/api/v1/archives/vehicle/{mine.json()['id']}",
                               headers=h).json()
    assert archive["sections"]["owner"][0]["id"] == owner["id"]
    assert archive["subject"]["plate"] == "浙B22345"


def test_staff_key_units_and_the_summary(world: World) -> None:
    h = headers(world, "community_committee")
    org = world.client.post("/api/v1/organisations", headers=h, json={
        "community_id": world.community_id, "name": "翠苑加油站", "kind": "commercial_company"})
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    worker = person(world, h, care_tags=["elderly"], birth_date=None)
    staff = world.client.post("/api/v1/organisation_staff", headers=h, json={
        "community_id": world.community_id, "organisation_id": org_id,
        "person_id": worker["id"], "position": "站长", "since_date": "2020-01-01"})
    assert staff.status_code == 201, staff.text
    unit = world.client.post("/api/v1/key_units", headers=h, json={
        "community_id": world.community_id, "organisation_id": org_id,
        "category": "fuel_station", "risk_level": "high", "safety_person_id": worker["id"]})
    assert unit.status_code == 201, unit.text
    assert world.client.get(f"/api/v1/organisations/{org_id}",
                            headers=h).json()["is_key_unit"] is True
    summary = world.client.get(f"/api/v1/communities/{world.code}/people/summary",
                               headers={**h, "Accept-Language": "en"}).json()
    assert summary["persons"] == 1 and summary["staff"] == 1
    assert {"key": "high", "label": "High", "count": 1} in summary["key_units_by_risk"]
    assert {g["key"]: g["count"] for g in summary["by_care_tag"]}["elderly"] == 1
    assert sum(g["count"] for g in summary["by_age"]) == 1
    care = world.client.get(f"/api/v1/communities/{world.code}/people/care?tag=elderly",
                            headers=h).json()
    assert [p["id"] for p in care] == [worker["id"]]
    none = world.client.get(f"/api/v1/communities/{world.code}/people/care?tag=disabled",
                            headers=h).json()
    assert none == []
    archive = world.client.get(f"/api/v1/archives/person/{worker['id']}", headers=h).json()
    assert [s["organisation_id"] for s in archive["sections"]["employment"]] == [org_id]
    assert world.client.delete(f"/api/v1/key_units/{unit.json()['id']}",
                               headers=h).status_code == 204
    assert world.client.get(f"/api/v1/organisations/{org_id}",
                            headers=h).json()["is_key_unit"] is False
