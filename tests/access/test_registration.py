"""Self-registration (6.6.9.b/c): the community QR code, the public form, staff review, and
the personal electronic pass issued on approval (and only then)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from shequ.people.models import Person, Residency
from tests.conftest import World
from tests.people.helpers import headers, person, resident_id, room


def _link(world: World) -> str:
    committee = headers(world, "community_committee")
    return str(world.client.get(f"/api/v1/communities/{world.code}/link",
                                headers=committee).json()["link"])


def _submit(world: World, **fields: Any) -> Any:
    body = {"link": _link(world), "name": "郭婷", "id_number": resident_id(),
            "phone": "13500002222", "relation": "tenant", **fields}
    return world.client.post(f"/api/v1/public/communities/{world.code}/registrations",
                             json=body, headers={"Accept-Language": "en"})


def _persons(world: World) -> int:
    with world.services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Person).where(
            Person.community_id == world.community_id)) or 0)


def test_the_community_qr_code(world: World) -> None:
    committee = headers(world, "community_committee")
    image = world.client.get(f"/api/v1/communities/{world.code}/registration-qr",
                             headers=committee)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    guard = headers(world, "security_operator")
    assert world.client.get(f"/api/v1/communities/{world.code}/link",
                            headers=guard).status_code == 404


def test_bad_forms_are_refused_with_reasons(world: World) -> None:
    home = room(world)
    good = resident_id()
    wrong = _submit(world, room_id=home, id_number=good[:17] + ("1" if good[17] == "0" else "0"))
    assert wrong.status_code == 422 and wrong.json()["code"] == "people.id.check_digit"
    assert _submit(world, room_id=999_999_999).status_code == 422
    assert _submit(world, room_id=home, link="AAAA").status_code == 403
    first = _submit(world, room_id=home, id_number=good)
    assert first.status_code == 201
    again = _submit(world, room_id=home, id_number=good)
    assert again.status_code == 409 and again.json()["code"] == "access.registration_pending"


def test_approval_registers_the_person_and_issues_a_working_pass(world: World) -> None:
    home = room(world)
    submitted = _submit(world, room_id=home)
    assert submitted.status_code == 201, submitted.text
    receipt = submitted.json()
    assert receipt["status"] == "pending"
    ticket = receipt["ticket"]
    assert world.client.get(f"/api/v1/public/registrations/{ticket}").json()["token"] is None
    guard = headers(world, "security_operator")
    url = f"/api/v1/registrations/{receipt['id']}/decision"
    assert world.client.post(url, headers=guard, json={"approve": True}).status_code == 403
    committee = headers(world, "community_committee")
    decided = world.client.post(url, headers=committee, json={"approve": True})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    registration, token = body["registration"], body["token"]
    assert registration["status"] == "approved" and token.startswith("SQP1.")
    manager = headers(world, "property_manager")
    created = world.client.get(f"/api/v1/persons/{registration['person_id']}",
                               headers=manager).json()
    assert created["source"] == "self_registration" and created["household_id"] == home
    assert created["identity"] == "tenant"
    door = world.client.post("/api/v1/doors", headers=manager, json={
        "community_id": world.community_id, "name": "南门", "kind": "pedestrian_gate"}).json()
    scan = world.client.post(f"/api/v1/doors/{door['id']}/scan", headers=manager,
                             json={"token": token}).json()
    assert scan["result"] == "granted" and scan["person_id"] == created["id"]
    status = world.client.get(f"/api/v1/public/registrations/{ticket}").json()
    assert status == {"status": "approved", "reason": None, "token": token}
    again = world.client.post(url, headers=committee, json={"approve": False})
    assert again.status_code == 409 and again.json()["code"] == "access.registration_decided"


def test_rejection_issues_nothing(world: World) -> None:
    before = _persons(world)
    receipt = _submit(world, room_id=room(world)).json()
    committee = headers(world, "community_committee")
    decided = world.client.post(f"/api/v1/registrations/{receipt['id']}/decision",
                                headers=committee,
                                json={"approve": False, "reason": "信息不实"}).json()
    assert decided["registration"]["status"] == "rejected" and decided["token"] is None
    assert _persons(world) == before
    status = world.client.get(f"/api/v1/public/registrations/{receipt['ticket']}").json()
    assert status == {"status": "rejected", "reason": "信息不实", "token": None}


def test_a_known_person_is_linked_not_duplicated(world: World) -> None:
    manager = headers(world, "property_manager")
    known = person(world, manager)
    home = room(world)
    before = _persons(world)
    receipt = _submit(world, room_id=home, id_number=known["id_number"]).json()
    committee = headers(world, "community_committee")
    decided = world.client.post(f"/api/v1/registrations/{receipt['id']}/decision",
                                headers=committee, json={"approve": True}).json()
    assert decided["registration"]["person_id"] == known["id"]
    assert _persons(world) == before
    with world.services.db.read() as session:
        rooms = session.scalars(select(Residency.room_id).where(
            Residency.person_id == known["id"])).all()
    assert list(rooms) == [home]
