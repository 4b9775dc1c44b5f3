"""Pass search by person, plate, door, device, building and time with keyset pages;
statistics by local hour, day, door and method; people inside longer than 72 hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shequ.access.ingest import PassEvent, record_passes
from shequ.access.models import Door, DoorKind
from shequ.people.models import Person
from tests.conftest import World
from tests.people.helpers import audit_actions, building_of, headers, room

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def town(world: World) -> dict[str, Any]:
    """Three persons, a perimeter gate, a building door and a week of passes."""
    building = building_of(world, room(world))
    with world.services.db.write() as session:
        people = [Person(community_id=world.community_id, name=n) for n in ("甲", "乙", "丙")]
        gate = Door(community_id=world.community_id, name="正门",
                    kind=DoorKind.pedestrian_gate, device_id=8101, perimeter=True)
        lobby = Door(community_id=world.community_id, name="1幢大堂",
                     kind=DoorKind.building_door, device_id=8102, building_id=building,
                     perimeter=False)
        session.add_all([*people, gate, lobby])
        session.flush()
        a, b, c = (p.id for p in people)

        def at(hours: float, who: int | None, direction: str, door: Door = gate,
               plate: str | None = None) -> PassEvent:
            return PassEvent(community_id=world.community_id, device_id=door.device_id,
                             occurred_at=NOW - dt.timedelta(hours=hours), person_id=who,
                             direction=direction, plate=plate,
                             method="plate" if plate else "face")

        record_passes(session, [
            at(100, a, "in"), at(99, a, "out", lobby),  # inside for 100 h (lobby ignored)
            at(100, b, "in"), at(75, b, "out"),  # left again
            at(1, c, "in"), at(2, c, "out"), at(30, c, "in"),  # inside for 1 h
            at(5, None, "in", plate="浙A12345"), at(6, None, "out", plate="浙A12345"),
            at(7, None, "in", plate="浙B54321"),
        ])
        ids = {"a": a, "b": b, "c": c, "gate": gate.id, "lobby": lobby.id,
               "building": building}
    return ids


def _search(world: World, h: dict[str, str], **params: Any) -> dict[str, Any]:
    response = world.client.get(f"/api/v1/communities/{world.code}/passes/search",
                                headers=h, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_search_by_person_plate_door_device_building_and_time(world: World,
                                                               town: dict[str, Any]) -> None:
    guard = headers(world, "security_operator")
    mine = _search(world, guard, person_id=town["c"])["items"]
    assert [p["person_id"] for p in mine] == [town["c"]] * 3
    times = [p["occurred_at"] for p in mine]
    assert times == sorted(times, reverse=True)
    car = _search(world, guard, plate="浙a 12345")["items"]
    assert [p["direction"] for p in car] == ["in", "out"]
    assert len(_search(world, guard, door_id=town["lobby"])["items"]) == 1
    assert len(_search(world, guard, device_id=8102)["items"]) == 1
    assert len(_search(world, guard, building_id=town["building"])["items"]) == 1
    recent = _search(world, guard, start=(NOW - dt.timedelta(hours=8)).isoformat(),
                     end=NOW.isoformat())["items"]
    assert len(recent) == 5
    assert _search(world, guard, device_id=999)["items"] == []


def test_keyset_pages_do_not_overlap(world: World, town: dict[str, Any]) -> None:
    h = headers(world, "property_manager")
    seen: list[int] = []
    cursor = None
    while True:
        page = _search(world, h, limit=3, **({"before": cursor} if cursor else {}))
        seen += [p["id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 10
    bad = world.client.get(f"/api/v1/communities/{world.code}/passes/search?before=garbage",
                           headers=h)
    assert bad.status_code == 400


def test_statistics_by_local_hour_day_door_and_method(world: World,
                                                      town: dict[str, Any]) -> None:
    h = headers(world, "security_operator")
    params = {"start": (NOW - dt.timedelta(days=7)).isoformat(),
              "end": (NOW + dt.timedelta(hours=1)).isoformat()}
    url = f"/api/v1/communities/{world.code}/passes/stats"
    by_door = world.client.get(url, headers=h, params={**params, "by": "door"}).json()
    assert {g["label"]: g["count"] for g in by_door["groups"]} == {"正门": 9, "1幢大堂": 1}
    assert by_door["total"] == 10
    by_hour = world.client.get(url, headers=h, params={**params, "by": "hour"}).json()
    local = (NOW - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert f"{local.hour:02d}" in {g["key"] for g in by_hour["groups"]}
    assert sum(g["count"] for g in by_hour["groups"]) == 10
    by_day = world.client.get(url, headers=h, params={**params, "by": "day"}).json()
    assert all(len(g["key"]) == 10 for g in by_day["groups"])
    by_method = world.client.get(url, headers={**h, "Accept-Language": "en"},
                                 params={**params, "by": "method"}).json()
    assert {g["label"]: g["count"] for g in by_method["groups"]} == {"Face": 7, "Plate": 3}
    assert world.client.get(url, headers=h, params={**params, "by": "mood"}).status_code == 422


def test_people_inside_longer_than_72_hours(world: World, town: dict[str, Any]) -> None:
    h = headers(world, "security_operator")
    overdue = world.client.get(f"/api/v1/communities/{world.code}/passes/overdue",
                               headers=h).json()
    assert [o["person_id"] for o in overdue] == [town["a"]]
    assert overdue[0]["hours"] == pytest.approx(100, abs=0.2)
    shorter = world.client.get(f"/api/v1/communities/{world.code}/passes/overdue?hours=0.5",
                               headers=h).json()
    assert {o["person_id"] for o in shorter} == {town["a"], town["c"]}
    resident = headers(world, "resident", scope="household", scope_id=room(world))
    assert world.client.get(f"/api/v1/communities/{world.code}/passes/overdue",
                            headers=resident).status_code == 404


def test_snapshots_are_confidential_and_their_reads_audited(world: World,
                                                            town: dict[str, Any]) -> None:
    with world.services.db.write() as session:
        record_passes(session, [PassEvent(
            community_id=world.community_id, device_id=8101, occurred_at=NOW,
            person_id=town["a"], method="face", snapshot_key="2026/05/" + "a" * 32 + ".jpg")])
    guard = headers(world, "security_operator")
    masked = _search(world, guard, person_id=town["a"])["items"][0]
    assert masked["snapshot_key"] is None
    assert audit_actions(world, "pass_records.read_personal") == []
    admin = headers(world, "platform_admin", scope="platform")
    shown = _search(world, admin, person_id=town["a"])["items"][0]
    assert shown["snapshot_key"].endswith(".jpg")
    entry = audit_actions(world, "pass_records.read_personal")[0]["after"]
    assert entry["via"] == "search" and shown["id"] in entry["ids"]
