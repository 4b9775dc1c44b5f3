"""The append-only audit log, chained by HMAC-SM3 so that any direct edit is detectable."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.kit.context import current_context
from shequ.kit.db import utcnow
from shequ.platform.models import AuditEntry, AuditHead
from shequ.platform.security.sm import hmac_sm3, same

GENESIS = "0" * 64


def jsonable(value: Any) -> Any:
    """Turn a value into plain JSON types, stably (datetimes as ISO text, enums as values)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "seq": entry.seq,
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "resource": entry.resource,
        "resource_id": entry.resource_id,
        "community_id": entry.community_id,
        "ip": entry.ip,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _hash(key: bytes, entry: AuditEntry) -> str:
    return hmac_sm3(key, _canonical(entry)).hex()


@dataclass(frozen=True)
class AuditRecord:
    """What happened, before it is chained."""

    action: str
    actor_id: int | None
    actor: str
    resource: str | None = None
    resource_id: str | int | None = None
    community_id: int | None = None
    before: Any = None
    after: Any = None


class AuditLog:
    """Appends chained entries and verifies the chain."""

    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def append(self, session: Session, record: AuditRecord) -> AuditEntry:
        """Append one entry in the caller's transaction, serialised on the head row."""
        head = session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one()
        ctx = current_context()
        at = utcnow()
        entry = AuditEntry(
            seq=head.seq + 1,
            at=at,
            actor_id=record.actor_id,
            actor=record.actor[:100],
            action=record.action,
            resource=record.resource,
            resource_id=None if record.resource_id is None else str(record.resource_id),
            community_id=record.community_id,
            ip=ctx.client_ip,
            request_id=ctx.request_id,
            before=jsonable(record.before),
            after=jsonable(record.after),
            prev_hash=head.hash,
        )
        entry.hash = _hash(self._key, entry)
        session.add(entry)
        head.seq = entry.seq
        head.hash = entry.hash
        session.flush()
        return entry

    def verify(self, session: Session, batch: int = 5000) -> VerifyResult:
        """Walk the chain; report the first entry that was changed, removed or inserted."""
        expected_seq, prev = 1, GENESIS
        checked = 0
        for entry in _entries(session, batch):
            problem = self._problem(entry, expected_seq, prev)
            if problem:
                broken = min(entry.seq, expected_seq)
                return VerifyResult(False, checked, broken, problem)
            checked += 1
            expected_seq, prev = entry.seq + 1, entry.hash
        head = session.get(AuditHead, 1)
        if head is None:
            return VerifyResult(False, checked, None, "audit head row is missing")
        if head.seq != expected_seq - 1 or not same(head.hash, prev):
            return VerifyResult(
                False, checked, expected_seq if head.seq >= expected_seq else head.seq,
                f"chain ends at entry {expected_seq - 1} but the head records entry {head.seq}",
            )
        return VerifyResult(True, checked, None, None)

    def _problem(self, entry: AuditEntry, expected_seq: int, prev: str) -> str | None:
        if entry.seq != expected_seq:
            return f"entry {expected_seq} is missing (next entry is {entry.seq})"
        if not same(entry.prev_hash, prev):
            return f"entry {entry.seq} does not link to entry {entry.seq - 1}"
        if not same(entry.hash, _hash(self._key, entry)):
            return f"entry {entry.seq} was altered (its hash does not match its content)"
        return None


def _entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `AuditLog.verify`."""

    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None
