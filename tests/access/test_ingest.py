"""The ingest hook: passes resolved to doors, persons (through the credential's blind index)
and vehicles; re-deliveries skipped; watch-list hits stored and emitted after commit only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from shequ.access import events
from shequ.access.ingest import PassEvent, record_passes
from shequ.access.models import PassRecord, WatchlistHit
from tests.conftest import World
from tests.people.helpers import headers, person

AT = dt.datetime(2026, 4, 1, 7, 30, tzinfo=dt.UTC)


@pytest.fixture
def hits() -> Iterator[list[events.WatchlistHitEvent]]:
    received: list[events.WatchlistHitEvent] = []
    unsubscribe = events.subscribe(received.append)
    yield received
    unsubscribe()


def _setup(world: World) -> tuple[dict[str, str], dict[str, object], int]:
    h = headers(world, "property_manager")
    who = person(world, h)
    card = world.client.post("/api/v1/credentials", headers=h, json={
        "person_id": who["id"], "kind": "card", "identifier": "77-0001"})
    assert card.status_code == 201
    door = world.client.post("/api/v1/doors", headers=h, json={
        "community_id": world.community_id, "name": "西门", "kind": "pedestrian_gate",
        "device_id": 4242, "direction": "out"}).json()
    return h, who, int(door["id"])


def _record(world: World, *passes: PassEvent) -> list[PassRecord]:
    with world.services.db.write() as session:
        ids = record_passes(session, list(passes))
    with world.services.db.read() as session:
        rows = list(session.scalars(select(PassRecord).where(PassRecord.id.in_(ids))
                                    .order_by(PassRecord.id)))
        session.expunge_all()
        return rows


def _event(world: World, **fields: object) -> PassEvent:
    return PassEvent(community_id=world.community_id, device_id=4242, occurred_at=AT,
                     **fields)


def test_cards_doors_and_plates_are_resolved(world: World) -> None:
    h, who, door = _setup(world)
    world.client.post("/api/v1/vehicles", headers=h, json={
        "community_id": world.community_id, "plate": "浙A12345"})
    card, unknown, car, pin = _record(
        world, _event(world, method="card", credential="77-0001"),
        _event(world, method="card", credential="99-9999"),
        _event(world, method="plate", plate="浙a·12345", direction="in"),
        _event(world, method="password", credential="000000"))
    assert (card.person_id, card.door_id, card.direction, card.subject) == (
        who["id"], door, "out", "person")
    assert card.credential_id is not None and card.reason is None
    assert (unknown.person_id, unknown.subject, unknown.reason) == (
        None, "unknown", "access.credential_unknown")
    assert (car.plate, car.subject, car.direction) == ("浙A12345", "vehicle", "in")
    assert car.vehicle_id is not None
    assert pin.method == "pin"


def test_redelivered_events_are_stored_once(world: World) -> None:
    _setup(world)
    first = _record(world, _event(world, credential="77-0001", source_key="r-1"),
                    _event(world, credential="77-0001", source_key="r-1"))
    assert len(first) == 1
    assert _record(world, _event(world, credential="77-0001", source_key="r-1")) == []
    assert len(_record(world, _event(world, credential="77-0001", source_key="r-2"))) == 1


def test_watched_people_and_plates_raise_hits_after_commit(
        world: World, hits: list[events.WatchlistHitEvent]) -> None:
    _, who, door = _setup(world)
    committee = headers(world, "community_committee")
    for body in ({"kind": "person", "person_id": who["id"], "level": "critical"},
                 {"kind": "vehicle", "plate": "粤BD12345"}):
        created = world.client.post("/api/v1/watchlists", headers=committee, json={
            "community_id": world.community_id, "reason": "布控原因", **body})
        assert created.status_code == 201, created.text
    with pytest.raises(RuntimeError), world.services.db.write() as session:
        record_passes(session, [_event(world, credential="77-0001")])
        raise RuntimeError("roll back")
    assert hits == []
    person_pass, car_pass, other = _record(
        world, _event(world, credential="77-0001"),
        _event(world, method="plate", plate="粤BD12345"),
        _event(world, method="plate", plate="粤BD54321"))
    assert [(e.kind, e.pass_record_id) for e in hits] == [
        ("person", person_pass.id), ("vehicle", car_pass.id)]
    assert hits[0].level == "critical" and hits[0].door_id == door
    assert hits[0].as_message()["topic"] == "access.watchlist_hit"
    with world.services.db.read() as session:
        stored = session.scalars(select(WatchlistHit.pass_record_id).where(
            WatchlistHit.community_id == world.community_id)).all()
    assert sorted(stored) == sorted([person_pass.id, car_pass.id])
    guard = headers(world, "security_operator")
    listed = world.client.get("/api/v1/watchlists", headers=guard).json()
    assert {w["reason"] for w in listed["items"]} == {None}
    assert other.id not in stored


def test_invalid_watch_entries_and_cancelled_ones(world: World,
                                                  hits: list[events.WatchlistHitEvent]) -> None:
    _, who, _ = _setup(world)
    committee = headers(world, "community_committee")
    base = {"community_id": world.community_id, "reason": "原因"}
    for bad in ({"kind": "person"}, {"kind": "vehicle", "person_id": who["id"]},
                {"kind": "person", "person_id": who["id"], "plate": "浙A12345"}):
        response = world.client.post("/api/v1/watchlists", headers=committee,
                                     json={**base, **bad})
        assert response.status_code == 422, bad
    bad_plate = world.client.post("/api/v1/watchlists", headers=committee,
                                  json={**base, "kind": "vehicle", "plate": "浙AI2345"})
    assert bad_plate.status_code == 422
    entry = world.client.post("/api/v1/watchlists", headers=committee, json={
        **base, "kind": "person", "person_id": who["id"]}).json()
    world.client.patch(f"/api/v1/watchlists/{entry['id']}", headers=committee,
                       json={"state": "cancelled"})
    _record(world, _event(world, credential="77-0001"))
    assert hits == []


def test_a_failing_subscriber_does_not_stop_the_others(
        world: World, hits: list[events.WatchlistHitEvent]) -> None:
    _, who, _ = _setup(world)

    def broken(_: events.WatchlistHitEvent) -> None:
        raise ValueError("subscriber bug")

    stop = events.subscribe(broken)
    try:
        committee = headers(world, "community_committee")
        world.client.post("/api/v1/watchlists", headers=committee, json={
            "community_id": world.community_id, "kind": "person", "person_id": who["id"],
            "reason": "原因"})
        _record(world, _event(world, credential="77-0001"))
    finally:
        stop()
    assert len(hits) == 1
