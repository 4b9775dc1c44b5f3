"""Holographic archives: everything linked in one call, scoped and masked by role, unmasked
reads audited, and cases joining when the case engine is installed."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import update

from shequ.kit.ledger import Ledger
from tests.conftest import World
from tests.people.helpers import audit_actions, headers, move_in, person, room


def _issue_card(world: World, h: dict[str, str], person_id: int) -> None:
    response = world.client.post("/api/v1/credentials", headers=h, json={
        "person_id": person_id, "kind": "card", "identifier": f"CARD-{person_id}"})
    assert response.status_code == 201, response.text


def test_a_person_archive_gathers_everything_linked(world: World) -> None:
    h = headers(world, "property_manager")
    home, who = room(world), person(world, h)
    move_in(world, h, who["id"], home)
    partner = person(world, h, name="李娜")
    move_in(world, h, partner["id"], home, "family_member")
    world.client.post("/api/v1/vehicles", headers=h, json={
        "community_id": world.community_id, "plate": "浙A88888",
        "owner_person_id": who["id"]})
    _issue_card(world, h, who["id"])
    archive = world.client.get(f"/api/v1/archives/person/{who['id']}", headers=h)
    assert archive.status_code == 200, archive.text
    body = archive.json()
    sections = body["sections"]
    assert body["subject"]["id"] == who["id"] and body["omitted"] == []
    assert [r["room_id"] for r in sections["residency"]] == [home]
    assert {p["id"] for p in sections["household"]} == {who["id"], partner["id"]}
    assert [v["plate"] for v in sections["vehicles"]] == ["浙A88888"]
    assert [c["kind"] for c in sections["credentials"]] == ["card"]
    assert sections["passes"] == {"recent": [], "last_30_days": 0}
    reads = audit_actions(world, "persons.read_personal")
    assert reads and reads[0]["after"]["via"] == "archive"
    assert set(reads[0]["after"]["ids"]) == {who["id"], partner["id"]}


def test_the_archive_is_scoped_and_masked_by_role(world: World) -> None:
    manager = headers(world, "property_manager")
    home, other_home = room(world), room(world)
    who, stranger = person(world, manager), person(world, manager)
    move_in(world, manager, who["id"], home)
    move_in(world, manager, stranger["id"], other_home)
    guard = headers(world, "security_operator")
    seen = world.client.get(f"/api/v1/archives/person/{who['id']}", headers=guard).json()
    assert "residency" in seen["omitted"] and "household" not in seen["omitted"]
    assert seen["subject"]["id_number"].count("*") == 8
    resident = headers(world, "resident", scope="household", scope_id=home)
    own = world.client.get(f"/api/v1/archives/person/{who['id']}", headers=resident)
    assert own.status_code == 200
    assert {"credentials", "passes", "watchlists"} <= set(own.json()["omitted"])
    assert world.client.get(f"/api/v1/archives/person/{stranger['id']}",
                            headers=resident).status_code == 404
    assert world.client.get(f"/api/v1/archives/house/{other_home}",
                            headers=resident).status_code == 404
    unknown = world.client.get(f"/api/v1/archives/person/{who['id']}?sections=gossip",
                               headers=manager)
    assert unknown.status_code == 400
    only = world.client.get(f"/api/v1/archives/person/{who['id']}?sections=residency",
                            headers=manager).json()
    assert list(only["sections"]) == ["residency"]


@pytest.mark.skipif(importlib.util.find_spec("shequ.cases.models") is None,
                    reason="the case engine is not installed")
def test_cases_join_the_archive_when_the_case_engine_exists(world: World) -> None:
    h = headers(world, "property_manager")
    who = person(world, h)
    cases = Ledger.registry.get("cases")
    if cases is None or cases.example is None:
        pytest.skip("the cases ledger is not registered")
    with world.services.db.write() as session:
        case_id = cases.example(session, world.community_id, 0)["id"]
        model = cases.model
        session.execute(update(model).where(model.id == case_id)
                        .values(person_id=who["id"]))
    assert "cases" in world.client.get("/api/v1/archives/person", headers=h).json()
    archive = world.client.get(f"/api/v1/archives/person/{who['id']}", headers=h).json()
    assert [c["id"] for c in archive["sections"]["cases"]] == [case_id]
