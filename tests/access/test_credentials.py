"""Credentials: issue, refuse clashes, revoke; the versioned allow-list delta that offline
door controllers synchronise (5.3.7.e)."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.people.helpers import audit_actions, building_of, headers, person, room


def _door(world: World, h: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = world.client.post("/api/v1/doors", headers=h, json={
        "community_id": world.community_id, "name": "东门", "kind": "pedestrian_gate",
        **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _issue(world: World, h: dict[str, str], **body: Any) -> Any:
    return world.client.post("/api/v1/credentials", headers=h, json=body)


def test_issue_cards_pins_and_qr_passes(world: World) -> None:
    h = headers(world, "property_manager")
    who = person(world, h)
    card = _issue(world, h, person_id=who["id"], kind="card", identifier="0012345678")
    assert card.status_code == 201, card.text
    assert card.json()["token"] is None
    assert card.json()["credential"]["identifier"] == "0012345678"
    qr = _issue(world, h, person_id=who["id"], kind="qr").json()
    assert qr["token"].startswith("SQP1.") and qr["credential"]["valid_until"]
    clash = _issue(world, h, person_id=person(world, h)["id"], kind="card",
                   identifier="0012345678")
    assert clash.status_code == 409 and clash.json()["code"] == "access.identifier_taken"
    for bad in ({"kind": "pin", "identifier": "12"}, {"kind": "qr", "identifier": "x"},
                {"kind": "card"}):
        assert _issue(world, h, person_id=who["id"], **bad).status_code == 422
    guard = headers(world, "security_operator")
    masked = world.client.get(f"/api/v1/credentials/{card.json()['credential']['id']}",
                              headers=guard).json()
    assert masked["identifier"] == "0********"
    assert _issue(world, guard, person_id=who["id"], kind="qr").status_code == 403
    qr_id = qr["credential"]["id"]
    assert world.client.get(f"/api/v1/credentials/{qr_id}/qr", headers=guard).status_code == 403
    image = world.client.get(f"/api/v1/credentials/{qr_id}/qr", headers=h)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert audit_actions(world, "credentials.read_personal")[0]["after"]["via"] == "qr"


def test_allow_list_full_then_delta(world: World) -> None:
    h = headers(world, "property_manager")
    gate = _door(world, h, device_id=77001)
    who = person(world, h)
    card = _issue(world, h, person_id=who["id"], kind="card", identifier="A-1").json()
    pin = _issue(world, h, person_id=who["id"], kind="pin", identifier="246810").json()
    full = world.client.get(f"/api/v1/doors/{gate['id']}/allow-list", headers=h).json()
    assert full["full"] and not full["more"] and full["revocations"] == []
    assert {g["identifier"] for g in full["grants"]} == {"A-1", "246810"}
    assert full["pass_key"]["alg"] == "Ed25519"
    version = full["version"]
    assert world.client.get(f"/api/v1/doors/{gate['id']}/allow-list?since={version}",
                            headers=h).json()["grants"] == []
    revoked = world.client.post(f"/api/v1/credentials/{card['credential']['id']}/revoke",
                                headers=h, json={"reason": "卡片遗失"})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = world.client.post(f"/api/v1/credentials/{card['credential']['id']}/revoke",
                              headers=h, json={"reason": "再次"})
    assert again.status_code == 409
    delta = world.client.get(f"/api/v1/doors/{gate['id']}/allow-list?since={version}",
                             headers=h).json()
    assert delta["revocations"] == [card["credential"]["serial"]] and delta["grants"] == []
    assert delta["version"] > version
    paged = world.client.get(f"/api/v1/doors/{gate['id']}/allow-list?limit=1", headers=h).json()
    assert paged["more"] and len(paged["grants"]) + len(paged["revocations"]) <= 1
    assert pin["credential"]["serial"] in {g["serial"] for g in full["grants"]}
    reads = audit_actions(world, "credentials.read_personal")
    assert reads[0]["after"]["via"] == "allow_list"


def test_building_scoped_credentials_reach_only_their_building(world: World) -> None:
    h = headers(world, "property_manager")
    building, other = building_of(world, room(world)), building_of(world, room(world))
    lobby = _door(world, h, name="3幢大堂", kind="building_door", building_id=building,
                  perimeter=False)
    elsewhere = _door(world, h, name="5幢大堂", kind="building_door", building_id=other,
                      perimeter=False)
    gate = _door(world, h, name="南门")
    who = person(world, h)
    card = _issue(world, h, person_id=who["id"], kind="card", identifier="B-7",
                  building_id=building).json()["credential"]
    serials = {name: {g["serial"] for g in world.client.get(
        f"/api/v1/doors/{door['id']}/allow-list", headers=h).json()["grants"]}
        for name, door in (("lobby", lobby), ("elsewhere", elsewhere), ("gate", gate))}
    assert card["serial"] in serials["lobby"] and card["serial"] in serials["gate"]
    assert card["serial"] not in serials["elsewhere"]


def test_the_allow_list_needs_the_sync_permission(world: World) -> None:
    h = headers(world, "property_manager")
    gate = _door(world, h)
    guard = headers(world, "security_operator")
    response = world.client.get(f"/api/v1/doors/{gate['id']}/allow-list", headers=guard)
    assert response.status_code == 403
