"""Recording passes: the hook the sensing ingest pipeline calls for door and gate events.

`record_passes(session, events)` resolves each event's door (by device), person (by the
credential read at the door, through its blind index), vehicle (by plate) and direction,
writes every pass in one multi-row insert, and checks the batch against the active
watch-lists: each hit is stored and a `WatchlistHitEvent` is emitted after commit.
Re-delivered events (same device and `source_key`) are skipped, so delivery may repeat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select, text
from sqlalchemy.orm import Session

from shequ.access.events import WatchlistHitEvent, emit_hit
from shequ.access.models import (
    Credential,
    CredentialState,
    Direction,
    Door,
    DoorDirection,
    PassMethod,
    PassRecord,
    PassResult,
    SubjectKind,
    Watchlist,
    WatchlistHit,
    WatchState,
)
from shequ.kit.db import utcnow
from shequ.people.identity import parse_plate
from shequ.people.models import Vehicle
from shequ.platform.security.sm import blind_index

METHOD_ALIASES = {"password": PassMethod.pin, "qr_code": PassMethod.qr}
CREDENTIAL_METHODS = {PassMethod.card: "card", PassMethod.face: "face", PassMethod.pin: "pin",
                      PassMethod.nfc: "card"}


@dataclass(frozen=True)
class PassEvent:
    """One pass as a door or gate reports it (what the ingest pipeline hands over).

    `credential` is what the device read (card number, face template id, PIN) when it did
    not resolve the person itself; `source_key` is the device's own record id.
    """

    community_id: int
    device_id: int | None
    occurred_at: dt.datetime
    method: str = PassMethod.card
    result: PassResult = PassResult.granted
    direction: Direction | None = None
    person_id: int | None = None
    visitor_id: int | None = None
    credential: str | None = None
    credential_id: int | None = None
    plate: str | None = None
    reason: str | None = None
    snapshot_key: str | None = None
    source_key: str | None = None
    door_id: int | None = None


@dataclass
class _Batch:
    """Lookups shared by one batch of events."""

    doors_by_device: dict[tuple[int, int], Door] = field(default_factory=dict)
    doors: dict[int, Door] = field(default_factory=dict)
    credentials: dict[tuple[int, str], Credential] = field(default_factory=dict)
    vehicles: dict[tuple[int, str], int] = field(default_factory=dict)


def record_passes(session: Session, events: Sequence[PassEvent]) -> list[int]:
    """Store a batch of passes (skipping re-deliveries); the new record ids, in order."""
    fresh = _new_events(session, events)
    if not fresh:
        return []
    batch = _lookups(session, fresh)
    rows = [_row(event, batch) for event in fresh]
    ids = _store(session, rows)
    check_watchlists(session, [(i, r) for i, r in zip(ids, rows, strict=True)])
    return ids


COPY_COLUMNS = ("id", "community_id", "occurred_at", "created_at", "door_id", "device_id",
                "building_id", "subject", "person_id", "vehicle_id", "visitor_id",
                "credential_id", "plate", "direction", "method", "result", "reason",
                "snapshot_key", "source_key")


def _store(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows; their ids, in order.

    On PostgreSQL the ids are drawn from the sequence in one round trip and the rows sent
    with COPY (the bulk path: no statement text to build per batch). Elsewhere one multi-row
    INSERT … RETURNING (NULLs rendered, so every row has the same shape).
    """
    if session.get_bind().dialect.name != "postgresql":
        return list(session.scalars(insert(PassRecord).execution_options(
            render_nulls=True).returning(PassRecord.id, sort_by_parameter_order=True), rows))
    ids = list(session.scalars(text(
        "SELECT nextval(pg_get_serial_sequence('pass_records', 'id')) "
        "FROM generate_series(1, :n)"), {"n": len(rows)}))
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY pass_records ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for row_id, row in zip(ids, rows, strict=True):
            row["id"] = row_id
            copy.write_row([_plain(row[c]) for c in COPY_COLUMNS])
    return ids


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, str) else value


def _new_events(session: Session, events: Sequence[PassEvent]) -> list[PassEvent]:
    keyed = [e for e in events if e.source_key and e.device_id]
    seen: set[tuple[int | None, str | None, dt.datetime]] = set()
    if keyed:  # plain IN lists and a time range: index-friendly, and prunes partitions
        seen = {(d, k, at) for d, k, at in session.execute(select(
            PassRecord.device_id, PassRecord.source_key, PassRecord.occurred_at).where(
            PassRecord.device_id.in_({e.device_id for e in keyed}),
            PassRecord.source_key.in_({e.source_key for e in keyed}),
            PassRecord.occurred_at >= min(e.occurred_at for e in keyed),
            PassRecord.occurred_at <= max(e.occurred_at for e in keyed)))}
    fresh = []
    for event in events:
        if event.source_key and event.device_id:
            key = (event.device_id, event.source_key, event.occurred_at)
            if key in seen:
                continue
            seen.add(key)
        fresh.append(event)
    return fresh


def _lookups(session: Session, events: list[PassEvent]) -> _Batch:
    batch = _Batch()
    communities = {e.community_id for e in events}
    for door in session.scalars(select(Door).where(Door.community_id.in_(communities),
                                                   Door.deleted_at.is_(None))):
        batch.doors[door.id] = door
        if door.device_id is not None:
            batch.doors_by_device[(door.community_id, door.device_id)] = door
    indexes = {_credential_index(e) for e in events if e.credential and not e.person_id}
    indexes.discard(None)
    if indexes:
        for cred in session.scalars(select(Credential).where(
                Credential.community_id.in_(communities),
                Credential.identifier_index.in_(indexes), Credential.deleted_at.is_(None))):
            batch.credentials[(cred.community_id, cred.identifier_index or "")] = cred
    plates = {p for p in (_plate(e.plate) for e in events) if p}
    if plates:
        for community_id, plate, vehicle_id in session.execute(select(
                Vehicle.community_id, Vehicle.plate, Vehicle.id).where(
                Vehicle.community_id.in_(communities), Vehicle.plate.in_(plates),
                Vehicle.deleted_at.is_(None))):
            batch.vehicles[(community_id, plate)] = vehicle_id
    return batch


def method_of(raw: str) -> PassMethod:
    """A pass method from a device's word for it (unknown words count as remote opening)."""
    alias = METHOD_ALIASES.get(raw)
    if alias is not None:
        return alias
    try:
        return PassMethod(raw)
    except ValueError:
        return PassMethod.remote


def credential_index(kind: str, identifier: str) -> str:
    """The blind index of a credential identifier within its kind."""
    return blind_index(f"{kind}:{identifier}")


def _credential_index(event: PassEvent) -> str | None:
    kind = CREDENTIAL_METHODS.get(method_of(str(event.method)))
    return credential_index(kind, event.credential) if kind and event.credential else None


def _plate(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return parse_plate(raw).text
    except ValueError:
        return raw.strip().upper()[:10] or None


def _row(event: PassEvent, batch: _Batch) -> dict[str, Any]:
    door = batch.doors.get(event.door_id or 0) or batch.doors_by_device.get(
        (event.community_id, event.device_id or 0))
    person_id, credential_id = event.person_id, event.credential_id
    index = _credential_index(event) if not person_id else None
    cred = batch.credentials.get((event.community_id, index)) if index else None
    if cred is not None:
        person_id, credential_id = cred.person_id, cred.id
    plate = _plate(event.plate)
    vehicle_id = batch.vehicles.get((event.community_id, plate)) if plate else None
    return {
        "community_id": event.community_id, "occurred_at": event.occurred_at,
        "created_at": utcnow(), "door_id": door.id if door else None,
        "device_id": event.device_id, "building_id": door.building_id if door else None,
        "subject": _subject(person_id, event.visitor_id, plate),
        "person_id": person_id, "vehicle_id": vehicle_id, "visitor_id": event.visitor_id,
        "credential_id": credential_id, "plate": plate,
        "direction": event.direction or _default_direction(door),
        "method": method_of(str(event.method)), "result": event.result,
        "reason": event.reason or _unknown_reason(cred, index),
        "snapshot_key": event.snapshot_key, "source_key": event.source_key,
    }


def _subject(person_id: int | None, visitor_id: int | None, plate: str | None) -> SubjectKind:
    if person_id:
        return SubjectKind.person
    if visitor_id:
        return SubjectKind.visitor
    return SubjectKind.vehicle if plate else SubjectKind.unknown


def _default_direction(door: Door | None) -> Direction:
    return Direction.out if door is not None and door.direction == DoorDirection.out else (
        Direction.in_)


def _unknown_reason(cred: Credential | None, index: str | None) -> str | None:
    if index and cred is None:
        return "access.credential_unknown"
    if cred is not None and cred.state == CredentialState.revoked:
        return "access.pass.revoked"
    return None


# -- watch-lists --------------------------------------------------------------------------------


def check_watchlists(session: Session, records: Iterable[tuple[int, dict[str, Any]]],
                     now: dt.datetime | None = None) -> list[WatchlistHit]:
    """Store a hit and emit an event for every pass by a watched person or plate."""
    records = list(records)
    communities = {r["community_id"] for _, r in records}
    watching = active_watchlists(session, communities, now or utcnow())
    if not watching:
        return []
    hits = []
    for record_id, row in records:
        for entry in _matches(watching, row):
            hits.append(_hit(session, entry, record_id, row))
    return hits


def active_watchlists(session: Session, communities: set[int],
                      now: dt.datetime) -> dict[tuple[int, str, Any], list[Watchlist]]:
    """Active entries keyed by (community, "person" | "plate", person id or plate)."""
    found: dict[tuple[int, str, Any], list[Watchlist]] = {}
    for entry in session.scalars(select(Watchlist).where(
            Watchlist.community_id.in_(communities), Watchlist.state == WatchState.active,
            Watchlist.deleted_at.is_(None), Watchlist.active_from <= now,
            or_(Watchlist.active_until.is_(None), Watchlist.active_until > now))):
        key = ("person", entry.person_id) if entry.person_id else ("plate", entry.plate)
        found.setdefault((entry.community_id, *key), []).append(entry)
    return found


def _matches(watching: dict[tuple[int, str, Any], list[Watchlist]],
             row: dict[str, Any]) -> list[Watchlist]:
    community = row["community_id"]
    found = list(watching.get((community, "person", row["person_id"]), ())) if row[
        "person_id"] else []
    if row["plate"]:
        found += watching.get((community, "plate", row["plate"]), ())
    return found


def _hit(session: Session, entry: Watchlist, record_id: int, row: dict[str, Any],
         ) -> WatchlistHit:
    hit = WatchlistHit(community_id=entry.community_id, watchlist_id=entry.id,
                       pass_record_id=record_id, kind=entry.kind, level=entry.level,
                       person_id=row["person_id"], plate=row["plate"], door_id=row["door_id"],
                       occurred_at=row["occurred_at"])
    session.add(hit)
    session.flush()
    emit_hit(session, WatchlistHitEvent(
        community_id=entry.community_id, hit_id=hit.id, watchlist_id=entry.id,
        pass_record_id=record_id, kind=str(entry.kind), level=str(entry.level),
        person_id=row["person_id"], plate=row["plate"], door_id=row["door_id"],
        device_id=row["device_id"], direction=str(row["direction"]),
        occurred_at=row["occurred_at"]))
    return hit
