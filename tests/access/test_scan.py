"""Scanning QR passes at a door: granted, or refused with the reason (forged, expired, not
yet valid, revoked, another community, another building), and recorded either way."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from tests.conftest import World
from tests.people.helpers import building_of, headers, person, room

NOW = dt.datetime.now(dt.UTC)


def _door(world: World, h: dict[str, str], **fields: Any) -> int:
    response = world.client.post("/api/v1/doors", headers=h, json={
        "community_id": world.community_id, "name": "北门", "kind": "pedestrian_gate",
        **fields})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _pass(world: World, h: dict[str, str], **fields: Any) -> dict[str, Any]:
    who = person(world, h)
    response = world.client.post("/api/v1/credentials", headers=h, json={
        "person_id": who["id"], "kind": "qr", **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _scan(world: World, h: dict[str, str], door: int, token: str) -> dict[str, Any]:
    response = world.client.post(f"/api/v1/doors/{door}/scan",
                                 headers={**h, "Accept-Language": "en"},
                                 json={"token": token, "direction": "in"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _recorded(world: World, h: dict[str, str], record_id: int) -> dict[str, Any]:
    response = world.client.get(f"/api/v1/pass_records/{record_id}", headers=h)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_valid_pass_opens_the_door_and_is_recorded(world: World) -> None:
    h = headers(world, "property_manager")
    door = _door(world, h)
    issued = _pass(world, h)
    decision = _scan(world, h, door, issued["token"])
    assert decision["result"] == "granted" and decision["reason"] is None
    record = _recorded(world, h, decision["pass_record_id"])
    assert record["method"] == "qr" and record["door_id"] == door
    assert record["person_id"] == issued["credential"]["person_id"]
    assert record["credential_id"] == issued["credential"]["id"]


def _tampered(token: str) -> str:
    """The same pass naming another holder, with the original signature."""
    prefix, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["i"] += 1
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return f"{prefix}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{signature}"


def _refused(world: World, h: dict[str, str], door: int, token: str, reason: str) -> None:
    decision = _scan(world, h, door, token)
    assert (decision["result"], decision["reason"]) == ("denied", reason)
    assert decision["message"] and decision["message"] != reason
    record = _recorded(world, h, decision["pass_record_id"])
    assert (record["result"], record["reason"]) == ("denied", reason)


def test_forged_expired_early_and_revoked_passes_are_refused(world: World) -> None:
    h = headers(world, "property_manager")
    door = _door(world, h)
    _refused(world, h, door, _tampered(_pass(world, h)["token"]), "access.pass.forged")
    _refused(world, h, door, "not a pass", "access.pass.malformed")
    expired = _pass(world, h, valid_from=(NOW - dt.timedelta(days=10)).isoformat(),
                    valid_until=(NOW - dt.timedelta(days=1)).isoformat())
    _refused(world, h, door, expired["token"], "access.pass.expired")
    early = _pass(world, h, valid_from=(NOW + dt.timedelta(days=1)).isoformat())
    _refused(world, h, door, early["token"], "access.pass.not_yet_valid")
    revoked = _pass(world, h)
    world.client.post(f"/api/v1/credentials/{revoked['credential']['id']}/revoke", headers=h,
                      json={"reason": "搬离"})
    _refused(world, h, door, revoked["token"], "access.pass.revoked")


def test_passes_of_another_community_or_building_are_refused(
        world_factory: Callable[[], World]) -> None:
    here, there = world_factory(), world_factory()
    h = headers(here, "property_manager")
    foreign = _pass(there, headers(there, "property_manager"))
    door = _door(here, h)
    _refused(here, h, door, foreign["token"], "access.pass.wrong_community")
    building, other = building_of(here, room(here)), building_of(here, room(here))
    lobby = _door(here, h, name="大堂", kind="building_door", building_id=other,
                  perimeter=False)
    scoped = _pass(here, h, building_id=building)
    _refused(here, h, lobby, scoped["token"], "access.pass.wrong_building")


def test_scanning_needs_the_permission_to_record_passes(world: World) -> None:
    h = headers(world, "property_manager")
    door, token = _door(world, h), _pass(world, h)["token"]
    committee = headers(world, "community_committee")
    response = world.client.post(f"/api/v1/doors/{door}/scan", headers=committee,
                                 json={"token": token})
    assert response.status_code == 403
    guard = headers(world, "security_operator")
    assert _scan(world, guard, door, token)["result"] == "granted"
