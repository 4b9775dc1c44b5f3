"""Households and residency: move in and out with history, the current household kept on
the person, rooms that do not exist, rentals, and the house archive (6.6.10.b/c/g/h)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tests.conftest import World
from tests.people.helpers import headers, move_in, person, room

LATER = (dt.date.today() + dt.timedelta(days=30)).isoformat()
LATEST = (dt.date.today() + dt.timedelta(days=60)).isoformat()


def test_moving_in_sets_the_household_and_moving_keeps_history(world: World) -> None:
    h = headers(world, "property_manager")
    first, second = room(world), room(world)
    who = person(world, h)
    move_in(world, h, who["id"], first)
    assert world.client.get(f"/api/v1/persons/{who['id']}",
                            headers=h).json()["household_id"] == first
    moved = world.client.post(f"/api/v1/persons/{who['id']}/move", headers=h, json={
        "room_id": second, "relation": "tenant", "on": LATER})
    assert moved.status_code == 200, moved.text
    ended, started = moved.json()
    assert ended["room_id"] == first and ended["move_out_date"] == LATER
    assert started["room_id"] == second and started["move_out_date"] is None
    assert world.client.get(f"/api/v1/persons/{who['id']}",
                            headers=h).json()["household_id"] == second
    old_house = world.client.get(f"/api/v1/archives/house/{first}", headers=h).json()
    assert old_house["sections"]["occupants"] == []
    assert [r["person_id"] for r in old_house["sections"]["history"]] == [who["id"]]
    assert old_house["sections"]["history"][0]["person"]["name"] == who["name"]
    new_house = world.client.get(f"/api/v1/archives/house/{second}", headers=h).json()
    assert [r["person_id"] for r in new_house["sections"]["occupants"]] == [who["id"]]
    out = world.client.post(f"/api/v1/persons/{who['id']}/move", headers=h,
                            json={"on": LATEST})
    assert out.status_code == 200
    assert world.client.get(f"/api/v1/persons/{who['id']}",
                            headers=h).json()["household_id"] is None
    again = world.client.post(f"/api/v1/persons/{who['id']}/move", headers=h,
                              json={"on": LATEST})
    assert again.status_code == 409 and again.json()["code"] == "people.not_resident"


def test_moving_into_a_room_that_does_not_exist_is_refused(
        world_factory: Callable[[], World]) -> None:
    world, other = world_factory(), world_factory()
    h = headers(world, "platform_admin", scope="platform")
    who = person(world, h)
    for room_id in (999_999_999, room(other)):
        response = world.client.post("/api/v1/residencies", headers=h, json={
            "community_id": world.community_id, "person_id": who["id"], "room_id": room_id,
            "relation": "owner"})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "cim.parent_missing"
        assert response.json()["errors"][0]["field"] == "room_id"
    moved = world.client.post(f"/api/v1/persons/{who['id']}/move", headers=h,
                              json={"room_id": 999_999_999})
    assert moved.status_code == 422


def test_one_open_residency_per_person_and_room(world: World) -> None:
    h = headers(world, "property_manager")
    home, who = room(world), person(world, h)
    move_in(world, h, who["id"], home)
    twice = world.client.post("/api/v1/residencies", headers=h, json={
        "community_id": world.community_id, "person_id": who["id"], "room_id": home,
        "relation": "owner"})
    assert twice.status_code == 409 and twice.json()["code"] == "people.already_resident"


def test_move_out_cannot_precede_move_in(world: World) -> None:
    h = headers(world, "property_manager")
    stay = move_in(world, h, person(world, h)["id"], room(world))
    response = world.client.patch(f"/api/v1/residencies/{stay['id']}", headers=h,
                                  json={"move_out_date": "2000-01-01"})
    assert response.status_code == 422
    assert response.json()["code"] == "people.move_out_before_in"


def test_rentals_of_a_house(world: World) -> None:
    h = headers(world, "property_manager")
    flat, landlord, tenant = room(world), person(world, h), person(world, h)
    bad = world.client.post("/api/v1/rentals", headers=h, json={
        "community_id": world.community_id, "room_id": flat, "lease_start": "2026-01-01",
        "lease_end": "2025-12-31"})
    assert bad.status_code == 422 and bad.json()["code"] == "people.dates_reversed"
    lease = world.client.post("/api/v1/rentals", headers=h, json={
        "community_id": world.community_id, "room_id": flat, "lease_start": "2026-01-01",
        "lease_end": "2026-12-31", "landlord_person_id": landlord["id"],
        "tenant_person_id": tenant["id"], "monthly_rent": 3200, "filed": True})
    assert lease.status_code == 201, lease.text
    house = world.client.get(f"/api/v1/archives/house/{flat}", headers=h).json()
    assert [r["id"] for r in house["sections"]["rentals"]] == [lease.json()["id"]]
    archive = world.client.get(f"/api/v1/archives/person/{tenant['id']}", headers=h).json()
    assert [r["id"] for r in archive["sections"]["tenancies"]] == [lease.json()["id"]]
