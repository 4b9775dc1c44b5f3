"""Persons: documents checked and derived, encrypted at rest, found by exact value through
blind indexes, masked without `persons:personal`, unmasked reads audited, duplicates refused,
and a resident scoped to their own household."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from sqlalchemy import text

from shequ.people.identity import compose_resident_id
from tests.conftest import World
from tests.people.helpers import audit_actions, headers, move_in, person, resident_id, room


def test_gender_and_birth_date_follow_the_id_number(world: World) -> None:
    h = headers(world, "property_manager")
    number = compose_resident_id("330106", dt.date(1950, 3, 8), 124)
    row = person(world, h, id_number=number.lower())
    assert row["id_number"] == number
    assert row["gender"] == "female" and row["birth_date"] == "1950-03-08"
    other = resident_id()
    refused = world.client.post("/api/v1/persons", headers=h, json={
        "community_id": world.community_id, "name": "李强", "id_number": other,
        "gender": "female" if int(other[16]) % 2 else "male"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "people.id.gender_mismatch"


def test_invalid_id_numbers_are_refused_with_the_reason(world: World) -> None:
    h = headers(world, "property_manager")
    good = resident_id()
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    cases = {wrong_check: "people.id.check_digit",
             good[:10] + "1331" + good[14:]: "people.id.birth_date",
             "12345": "people.id.format"}
    for number, code in cases.items():
        response = world.client.post("/api/v1/persons", headers={**h, "Accept-Language": "en"},
                                     json={"community_id": world.community_id, "name": "王芳",
                                           "id_number": number})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == code
        assert body["errors"][0]["field"] == "id_number"
        assert "ID" in body["detail"]


def test_a_person_registered_twice_is_a_conflict(world: World) -> None:
    h = headers(world, "property_manager")
    number = resident_id()
    first = person(world, h, id_number=number)
    again = world.client.post("/api/v1/persons", headers=h, json={
        "community_id": world.community_id, "name": "另一个人", "id_number": f" {number} "})
    assert again.status_code == 409
    assert again.json()["code"] == "people.duplicate_person"
    assert again.json()["existing_id"] == first["id"]
    other = person(world, h)
    changed = world.client.patch(f"/api/v1/persons/{other['id']}", headers=h,
                                 json={"id_number": number})
    assert changed.status_code == 409


def test_the_same_person_may_live_in_another_community(world_factory: Any) -> None:
    a, b = world_factory(), world_factory()
    number = resident_id()
    person(a, headers(a, "property_manager"), id_number=number)
    person(b, headers(b, "property_manager"), id_number=number)


def test_id_numbers_and_phones_are_not_readable_in_the_database(world: World,
                                                                backend: str) -> None:
    number = resident_id()
    row = person(world, headers(world, "property_manager"), id_number=number,
                 phone="13712345678")
    with world.services.db.read() as session:
        raw = session.execute(text("SELECT id_number, phone, id_index FROM persons "
                                   "WHERE id = :id"), {"id": row["id"]}).one()
        audit = session.execute(text("SELECT after FROM audit_log WHERE resource = 'persons' "
                                     "AND resource_id = :id"), {"id": str(row["id"])}).all()
    assert raw.id_number.startswith("sm4gcm1:") and number not in raw.id_number
    assert raw.phone.startswith("sm4gcm1:") and "13712345678" not in raw.phone
    assert number not in raw.id_index
    assert audit and all(number not in str(a[0]) and "13712345678" not in str(a[0])
                         for a in audit)
    if backend == "sqlite":
        path = Path(world.services.settings.database_url.split("///", 1)[1])
        wal = path.with_name(path.name + "-wal")
        content = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert len(content) > 10_000
        assert number.encode() not in content
        assert b"13712345678" not in content


def test_masked_without_personal_and_unmasked_reads_are_audited(world: World) -> None:
    manager = headers(world, "property_manager")
    row = person(world, manager, is_key_person=True, key_category="社区矫正")
    guard = headers(world, "security_operator")
    seen = world.client.get(f"/api/v1/persons/{row['id']}", headers=guard).json()
    assert seen["id_number"] == row["id_number"][:6] + "********" + row["id_number"][-4:]
    assert seen["phone"] == "139****0001"
    assert seen["is_key_person"] is None and seen["key_category"] is None
    assert audit_actions(world, "persons.read_personal") == []
    full = world.client.get(f"/api/v1/persons/{row['id']}", headers=manager).json()
    assert full["id_number"] == row["id_number"] and full["key_category"] == "社区矫正"
    listed = world.client.get(f"/api/v1/persons?community_id={world.community_id}",
                              headers=manager).json()
    assert listed["total"] == 1
    entries = audit_actions(world, "persons.read_personal")
    assert [e["after"]["via"] for e in entries] == ["list", "get"]
    assert entries[1]["after"]["ids"] == [row["id"]]


def test_exact_lookup_through_the_blind_index(world: World) -> None:
    h = headers(world, "property_manager")
    number = resident_id()
    row = person(world, h, id_number=number, phone="13811112222")
    by_id = world.client.post("/api/v1/people/lookup", headers=h,
                              json={"id_number": number.lower()}).json()
    assert [p["id"] for p in by_id] == [row["id"]]
    by_phone = world.client.post("/api/v1/people/lookup", headers=h,
                                 json={"phone": "13811112222"}).json()
    assert [p["id"] for p in by_phone] == [row["id"]]
    partial = world.client.post("/api/v1/people/lookup", headers=h,
                                json={"id_number": number[:17]}).json()
    assert partial == []
    assert world.client.post("/api/v1/people/lookup", headers=h, json={}).status_code == 400
    assert audit_actions(world, "persons.read_personal")[0]["after"]["via"] == "lookup"


def test_a_resident_sees_only_their_household(world: World) -> None:
    manager = headers(world, "property_manager")
    home, elsewhere = room(world), room(world)
    mine, theirs = person(world, manager), person(world, manager)
    move_in(world, manager, mine["id"], home)
    move_in(world, manager, theirs["id"], elsewhere)
    resident = headers(world, "resident", scope="household", scope_id=home)
    listed = world.client.get("/api/v1/persons", headers=resident).json()
    assert [p["id"] for p in listed["items"]] == [mine["id"]]
    assert listed["items"][0]["id_number"].count("*") == 8
    assert world.client.get(f"/api/v1/persons/{theirs['id']}",
                            headers=resident).status_code == 404
    lookup = world.client.post("/api/v1/people/lookup", headers=resident,
                               json={"id_number": theirs["id_number"]}).json()
    assert lookup == []


def _export(world: World, h: dict[str, str]) -> list[dict[str, str]]:
    response = world.client.get(f"/api/v1/persons/export?community_id={world.community_id}",
                                headers={**h, "Accept-Language": "en"})
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_exports_are_desensitised_without_personal(world: World) -> None:
    manager = headers(world, "property_manager")
    born = dt.date(1961, 7, 19)
    rows = [person(world, manager, name="赵敏", id_number=compose_resident_id(
        "330106", born, 300 + n), phone=f"1390000{n:04d}", notes="私密备注",
        care_tags=["elderly", "living_alone"]) for n in range(2)]
    key = world.client.post("/api/v1/api-keys", headers=headers(world, "platform_admin",
                                                                   scope="platform"), json={
        "name": "export", "permissions": ["persons:read", "persons:export"],
        "community_ids": [world.community_id]}).json()["key"]
    plain = _export(world, manager)
    assert {r["Document number"] for r in plain} == {r["id_number"] for r in rows}
    shaded = _export(world, {"X-API-Key": key})
    first, second = shaded
    assert first["Name"] == second["Name"] != "赵敏"  # consistent pseudonym (substitution)
    assert _export(world, {"X-API-Key": key})[0]["Name"] == first["Name"]
    assert all(r["Document number"].count("*") == 8 for r in shaded)  # masking
    assert all(r["Born"] == "1961" for r in shaded)  # rounded to the year
    phones = {r["Phone"] for r in shaded}
    assert all(len(p) == 11 and p.startswith("139") and p.isdigit() for p in phones)
    assert phones.isdisjoint({r["phone"] for r in rows})  # randomised, same format
    assert all(r["Notes"] == "" and r["Care tags"] == "" for r in shaded)  # nullified
    assert all(r["Key person"] == "" for r in shaded)


def test_audit_copies_keep_no_secrets(world: World) -> None:
    number = resident_id()
    row = person(world, headers(world, "property_manager"), id_number=number,
                 is_key_person=True, key_category="重点关注")
    created = audit_actions(world, "persons.create")[0]["after"]
    assert created["id_number"]["masked"] == row["id_number"][:6] + "********" + number[-4:]
    assert len(created["id_number"]["fingerprint"]) == 10
    assert created["is_key_person"] is None and created["key_category"] is None
