"""Reads over passes and credentials that need more than a ledger: keyset search over the
pass stream, statistics by hour, day and door, people inside too long, and the versioned
allow-list delta that offline door controllers synchronise (5.3.7.e).

Searches stay on the pass indexes (community + person, plate, door or time, then time) and
page by (time, id) instead of counting, so they cost the same at any table size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.orm import Session

from shequ.access.ledgers import credentials as credential_ledger
from shequ.access.ledgers import pass_records as pass_ledger
from shequ.access.models import (
    AccessSequence,
    Credential,
    CredentialState,
    Direction,
    Door,
    PassRecord,
    PassResult,
)
from shequ.access.passes import PassSigner
from shequ.kit.errors import BadRequest, NotFound
from shequ.kit.fields import enum_label
from shequ.kit.scope import Principal
from shequ.people.identity import parse_plate
from shequ.people.models import Person, PersonStatus
from shequ.platform.models import Community

MAX_LIMIT = 200
MAX_SPAN = dt.timedelta(days=400)
ID_CHUNK = 5_000
STAT_KEYS = ("hour", "day", "door", "method", "direction", "result", "subject")


@dataclass(frozen=True)
class PassFilter:
    """What a pass search asks for; every field optional except the community."""

    community_id: int
    person_id: int | None = None
    plate: str | None = None
    door_id: int | None = None
    device_id: int | None = None
    building_id: int | None = None
    visitor_id: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    direction: str | None = None
    result: str | None = None
    before: str | None = None
    limit: int = 50


def _doors_where(session: Session, flt: PassFilter) -> list[int] | None:
    """Doors of a device or building (searched through the door index), or None."""
    if flt.device_id is None and flt.building_id is None:
        return None
    stmt = select(Door.id).where(Door.community_id == flt.community_id)
    if flt.device_id is not None:
        stmt = stmt.where(Door.device_id == flt.device_id)
    if flt.building_id is not None:
        stmt = stmt.where(Door.building_id == flt.building_id)
    return list(session.scalars(stmt))


def _conditions(session: Session, flt: PassFilter) -> list[ColumnElement[bool]]:
    cols = PassRecord
    conds: list[ColumnElement[bool]] = [cols.community_id == flt.community_id]
    pairs = ((cols.person_id, flt.person_id), (cols.door_id, flt.door_id),
             (cols.visitor_id, flt.visitor_id), (cols.direction, flt.direction),
             (cols.result, flt.result))
    conds += [column == value for column, value in pairs if value is not None]
    if flt.plate:
        conds.append(cols.plate == _plate(flt.plate))
    doors = _doors_where(session, flt)
    if doors is not None:
        conds.append(cols.door_id.in_(doors) if doors else cols.id.is_(None))
    if flt.start is not None:
        conds.append(cols.occurred_at >= flt.start)
    if flt.end is not None:
        conds.append(cols.occurred_at < flt.end)
    if flt.before:
        at, row_id = _cursor(flt.before)
        conds.append(or_(cols.occurred_at < at, and_(cols.occurred_at == at, cols.id < row_id)))
    return conds


def _plate(raw: str) -> str:
    try:
        return parse_plate(raw).text
    except ValueError:
        return raw.strip().upper()


def _cursor(raw: str) -> tuple[dt.datetime, int]:
    at, _, row_id = raw.rpartition("~")
    try:
        when = dt.datetime.fromisoformat(at)
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)), int(row_id)
    except ValueError:
        raise BadRequest(code="request.bad_filter", name="before", value=raw[:60]) from None


def search_passes(session: Session, principal: Principal, flt: PassFilter,
                  ) -> tuple[list[PassRecord], str | None]:
    """Passes matching the filter, newest first, and the cursor of the next page."""
    limit = max(1, min(flt.limit, MAX_LIMIT))
    stmt = pass_ledger.visible(principal).where(*_conditions(session, flt)).order_by(
        PassRecord.occurred_at.desc(), PassRecord.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1].occurred_at.isoformat()}~{rows[-1].id}" if more and rows else None
    return rows, cursor


# -- statistics ---------------------------------------------------------------------------------


def _local(session: Session, column: Any, offset: dt.timedelta, fmt: str) -> Any:
    minutes = int(offset.total_seconds() // 60)
    if session.get_bind().dialect.name == "sqlite":
        sqlite_fmt = {"hour": "%H", "day": "%Y-%m-%d"}[fmt]
        return func.strftime(sqlite_fmt, column, f"{minutes:+d} minutes")
    pg_fmt = {"hour": "HH24", "day": "YYYY-MM-DD"}[fmt]
    shifted = func.timezone("UTC", column) + text(f"interval '{minutes} minutes'")
    return func.to_char(shifted, pg_fmt)


def pass_stats(session: Session, principal: Principal, community: Community, by: str,
               start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Counts of passes in [start, end) by local hour of day, local day, door, method,
    direction, result or subject (6.4.8.d, 6.6.9.h)."""
    if by not in STAT_KEYS:
        raise BadRequest(code="stats.bad_field", name=by[:60])
    if not start < end <= start + MAX_SPAN:
        raise BadRequest(code="request.bad_filter", name="end", value=end.isoformat()[:40])
    pass_ledger.scope(principal, "stats")
    offset = ZoneInfo(community.timezone).utcoffset(start) or dt.timedelta()
    key: Any = (_local(session, PassRecord.occurred_at, offset, by) if by in ("hour", "day")
                else getattr(PassRecord, {"door": "door_id"}.get(by, by)))
    stmt = pass_ledger.visible(principal, "stats").where(
        PassRecord.community_id == community.id, PassRecord.occurred_at >= start,
        PassRecord.occurred_at < end).with_only_columns(key.label("key"), func.count())
    rows = session.execute(stmt.group_by(key).order_by(key)).all()
    labels = _labels(session, by, [k for k, _ in rows])
    groups = [{"key": k, "label": labels.get(k, "—" if k is None else str(k)), "count": n}
              for k, n in rows]
    return {"by": by, "start": start, "end": end, "groups": groups,
            "total": sum(g["count"] for g in groups)}


def _labels(session: Session, by: str, keys: Sequence[Any]) -> dict[Any, str]:
    if by == "door":
        return dict(session.execute(select(Door.id, Door.name).where(
            Door.id.in_([k for k in keys if k is not None]))).all())
    info = pass_ledger.fields.get(by)
    if info is not None and info.enum is not None:
        return {k: enum_label(info.enum, k) for k in keys if k is not None}
    return {}


# -- people inside too long ------------------------------------------------------------


def last_perimeter_pass(community_id: int, perimeter: list[int], before: dt.datetime) -> Any:
    """A correlated subquery: the id of a person's latest granted perimeter pass before a
    time (one backward index probe per person)."""
    inner = PassRecord.__table__.alias("last_pass")
    return (select(inner.c.id).where(
        inner.c.community_id == community_id, inner.c.person_id == Person.id,
        inner.c.door_id.in_(perimeter), inner.c.result == PassResult.granted,
        inner.c.occurred_at < before, inner.c.deleted_at.is_(None))
        .order_by(inner.c.occurred_at.desc()).limit(1).scalar_subquery())


def inside_overdue(session: Session, principal: Principal, community_id: int,
                   hours: float, now: dt.datetime) -> list[dict[str, Any]]:
    """Active persons whose latest perimeter pass is an entry older than `hours` (the
    basis of 6.6.9.f "long in, not out" warnings). The caller has checked that the principal
    reads the community's passes.

    The cost follows the recent passes and the few people not seen lately, not the table:
    persons with a perimeter pass since the cutoff are set aside with one range scan; for
    each of the others one backward index probe finds their last pass, and those passes are
    fetched by id."""
    pass_ledger.scope(principal, "read")
    perimeter = list(session.scalars(select(Door.id).where(
        Door.community_id == community_id, Door.perimeter.is_(True),
        Door.deleted_at.is_(None))))
    if not perimeter:
        return []
    cutoff = now - dt.timedelta(hours=hours)
    seen_since = select(PassRecord.id).where(  # NOT EXISTS: an anti-join whatever the stats
        PassRecord.community_id == community_id, PassRecord.person_id == Person.id,
        PassRecord.door_id.in_(perimeter), PassRecord.result == PassResult.granted,
        PassRecord.occurred_at >= cutoff, PassRecord.deleted_at.is_(None)).exists()
    latest = last_perimeter_pass(community_id, perimeter, cutoff)
    last_ids = [row_id for _, row_id in session.execute(select(Person.id, latest).where(
        Person.community_id == community_id, Person.deleted_at.is_(None),
        Person.status == PersonStatus.active, ~seen_since)) if row_id]
    found: list[Any] = []
    for chunk in range(0, len(last_ids), ID_CHUNK):
        found += session.execute(select(PassRecord.person_id, PassRecord.occurred_at).where(
            PassRecord.id.in_(last_ids[chunk:chunk + ID_CHUNK]),
            PassRecord.direction == Direction.in_, PassRecord.occurred_at < cutoff)).all()
    return [{"person_id": pid, "last_in_at": at,
             "hours": round((now - at).total_seconds() / 3600, 1)}
            for pid, at in sorted(found, key=lambda row: (row[1], row[0]))]


# -- allow-list ---------------------------------------------------------------------------------


def allow_list(session: Session, principal: Principal, signer: PassSigner, door_id: int,
               since: int, limit: int, now: dt.datetime,
               ) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """What changed for a door's controller since version `since`: credentials to accept,
    serials to refuse, the version to ask from next, and the key to check QR passes with;
    and the (community, id) of the credentials whose identifiers it hands over."""
    door = session.get(Door, door_id)
    if door is None or door.deleted_at is not None:
        raise NotFound()
    credential_ledger.authorise(principal, "sync", Credential(community_id=door.community_id))
    stmt = select(Credential).where(Credential.community_id == door.community_id,
                                    Credential.change_seq > since)
    if door.building_id is not None:
        stmt = stmt.where(or_(Credential.building_id.is_(None),
                              Credential.building_id == door.building_id))
    rows = list(session.scalars(stmt.order_by(Credential.change_seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    grants, revocations, revealed = [], [], []
    for row in rows:
        if _usable(row, now):
            grants.append(_grant(row))
            revealed.append((row.community_id, row.id))
        elif since:
            revocations.append(row.serial)
    current = session.scalar(select(AccessSequence.value).where(
        AccessSequence.community_id == door.community_id)) or 0
    version = rows[-1].change_seq if more else max(current, since)
    return {"door_id": door.id, "device_id": door.device_id, "since": since,
            "version": version, "full": since == 0, "more": more, "grants": grants,
            "revocations": revocations, "pass_key": signer.public_key()}, revealed


def _usable(row: Credential, now: dt.datetime) -> bool:
    return (row.state == CredentialState.active and row.deleted_at is None
            and (row.valid_until is None or row.valid_until > now))


def _grant(row: Credential) -> dict[str, Any]:
    return {"serial": row.serial, "kind": row.kind, "identifier": row.identifier,
            "person_id": row.person_id, "visitor_id": row.visitor_id,
            "building_id": row.building_id, "valid_from": row.valid_from.isoformat(),
            "valid_until": row.valid_until.isoformat() if row.valid_until else None}
