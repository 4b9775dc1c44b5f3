"""Batch writes of the ingest pipeline, one statement per table and batch.

PostgreSQL takes columnar arrays through ``unnest`` (one round trip, no per-row SQL); SQLite
takes multi-row inserts through SQLAlchemy. Every insert is idempotent: telemetry on
``(device_id, metric, ts)``, events on ``(device_id, msg_id)``, receipts on their key; counters
and marks are upserts. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import BigInteger, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shequ.sensing.models import (
    DeviceEvent,
    DeviceLatest,
    IngestStat,
    MessageReceipt,
    RollupDirty,
    Telemetry,
)
from shequ.sensing.readings import epoch_us

SQLITE_CHUNK = 500
# Arrays travel in binary (%b) and timestamps as epoch microseconds: text arrays and Python
# datetimes are the most expensive part of sending a batch. New rows come back per message.
TELEMETRY_PG = (
    "WITH new AS (INSERT INTO telemetry (community_id, device_id, metric, ts, num, txt) "
    "SELECT c, d, m, 'epoch'::timestamptz + us * interval '1 microsecond', n, x "
    "FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::bigint[], %b::float8[], "
    "%b::text[]) AS u(c, d, m, us, n, x) ON CONFLICT DO NOTHING RETURNING device_id, ts) "
    "SELECT device_id, (extract(epoch FROM ts) * 1000000)::bigint, count(*) FROM new "
    "GROUP BY 1, 2")
LATEST_PG = (
    "INSERT INTO device_latest (device_id, community_id, metrics, last_ts, last_seen_at) "
    "SELECT d, c, m::jsonb, 'epoch'::timestamptz + t * interval '1 microsecond', "
    "'epoch'::timestamptz + s * interval '1 microsecond' "
    "FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::bigint[], %b::bigint[]) "
    "AS u(d, c, m, t, s) "
    "ON CONFLICT (device_id) DO UPDATE SET "
    # in-order arrival (every new sample newer than anything stored): a plain concatenation
    "metrics = CASE WHEN device_latest.last_ts IS NULL OR "
    "(SELECT min((e.value->>1)::bigint) FROM jsonb_each(excluded.metrics) AS e) "
    ">= (extract(epoch FROM device_latest.last_ts) * 1000)::bigint "
    "THEN device_latest.metrics || excluded.metrics "
    "ELSE shequ_latest_merge(device_latest.metrics, excluded.metrics) END, "
    "last_ts = GREATEST(device_latest.last_ts, excluded.last_ts), "
    "last_seen_at = GREATEST(device_latest.last_seen_at, excluded.last_seen_at)")


def driver_cursor(session: Session) -> Any:
    """A cursor of the session's own DBAPI connection (inside its transaction)."""
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


def _us(ts: dt.datetime | None) -> int | None:
    return None if ts is None else epoch_us(ts)


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT with the dialect's ON CONFLICT support."""
    return pg_insert(table) if is_postgres(session) else sqlite_insert(table)


def among(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids` as one array parameter on PostgreSQL (thousands of ids stay cheap)."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _chunks(rows: Sequence[Any], size: int = SQLITE_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


# ---------------------------------------------------------------------------------------------
# Telemetry


@dataclass
class Samples:
    """Telemetry rows in columns (the shape `unnest` wants)."""

    community: list[int] = field(default_factory=list)
    device: list[int] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    ts: list[dt.datetime] = field(default_factory=list)
    num: list[float | None] = field(default_factory=list)
    txt: list[str | None] = field(default_factory=list)

    def add(self, community: int, device: int, metric: str, ts: dt.datetime,
            num: float | None, txt: str | None) -> None:
        """Append one row."""
        self.community.append(community)
        self.device.append(device)
        self.metric.append(metric)
        self.ts.append(ts)
        self.num.append(num)
        self.txt.append(txt)

    def __len__(self) -> int:
        return len(self.device)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dictionaries (SQLite path)."""
        return [{"community_id": c, "device_id": d, "metric": m, "ts": t, "num": n, "txt": x}
                for c, d, m, t, n, x in zip(self.community, self.device, self.metric, self.ts,
                                            self.num, self.txt, strict=True)]


def insert_samples(session: Session, samples: Samples) -> dict[tuple[int, int], int]:
    """Insert telemetry once; new rows counted per (device, epoch microseconds)."""
    if not samples:
        return {}
    if is_postgres(session):
        cursor = driver_cursor(session)
        cursor.execute(TELEMETRY_PG, (samples.community, samples.device, samples.metric,
                                      [epoch_us(ts) for ts in samples.ts], samples.num,
                                      samples.txt), binary=True)
        return {(device, us): count for device, us, count in cursor.fetchall()}
    table: Table = Telemetry.__table__  # type: ignore[assignment]
    new: dict[tuple[int, int], int] = {}
    for chunk in _chunks(samples.rows()):
        stmt = sqlite_insert(table).values(list(chunk)).on_conflict_do_nothing().returning(
            table.c.device_id, table.c.ts)
        for device, ts in session.execute(stmt):
            key = (device, epoch_us(ts))
            new[key] = new.get(key, 0) + 1
    return new


# ---------------------------------------------------------------------------------------------
# Latest values


def merge_metrics(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``{metric: [value, epoch ms]}`` maps keeping the newest sample per metric."""
    merged = dict(old or {})
    for key, entry in new.items():
        current = merged.get(key)
        if current is None or entry[1] >= current[1]:
            merged[key] = entry
    return merged


@dataclass
class LatestUpdate:
    """What one batch says about one device: newest samples, newest timestamp, last heard."""

    community_id: int
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    last_ts: dt.datetime | None = None
    seen: dt.datetime | None = None

    def samples(self, values: Mapping[str, Any], ts: dt.datetime, ms: int) -> None:
        """Offer the samples of one message (taken at `ts`, `ms` in epoch milliseconds)."""
        metrics = self.metrics
        for metric, value in values.items():
            current = metrics.get(metric)
            if current is None or ms >= current[1]:
                metrics[metric] = [value, ms]
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def heard(self, at: dt.datetime) -> None:
        """Note a message received at `at`."""
        if self.seen is None or at > self.seen:
            self.seen = at


def merge_latest(session: Session, updates: Mapping[int, LatestUpdate]) -> None:
    """Fold a batch's newest samples into `device_latest` (rows locked in device order)."""
    if not updates:
        return
    ids = sorted(updates)
    if is_postgres(session):
        driver_cursor(session).execute(LATEST_PG, (
            ids, [updates[i].community_id for i in ids],
            [orjson.dumps(updates[i].metrics).decode() for i in ids],
            [_us(updates[i].last_ts) for i in ids], [_us(updates[i].seen) for i in ids]),
            binary=True)
        return
    current = {row.device_id: row for row in session.execute(
        select(DeviceLatest.device_id, DeviceLatest.metrics, DeviceLatest.last_ts,
               DeviceLatest.last_seen_at).where(DeviceLatest.device_id.in_(ids)))}
    rows = []
    for device_id in ids:
        update, old = updates[device_id], current.get(device_id)
        rows.append({
            "device_id": device_id, "community_id": update.community_id,
            "metrics": merge_metrics(old.metrics if old else None, update.metrics),
            "last_ts": _latest(old.last_ts if old else None, update.last_ts),
            "last_seen_at": _latest(old.last_seen_at if old else None, update.seen)})
    table: Table = DeviceLatest.__table__  # type: ignore[assignment]
    for chunk in _chunks(rows):
        stmt = sqlite_insert(table).values(list(chunk))
        session.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_={
            "metrics": stmt.excluded.metrics, "last_ts": stmt.excluded.last_ts,
            "last_seen_at": stmt.excluded.last_seen_at}))


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


# ---------------------------------------------------------------------------------------------
# Events, receipts, rollup marks, statistics


def insert_events(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert events once; the (device, message id) pairs that were new."""
    if not rows:
        return []
    table: Table = DeviceEvent.__table__  # type: ignore[assignment]
    new: list[tuple[int, str]] = []
    for chunk in _chunks(rows):
        stmt = dialect_insert(session, table).values(list(chunk)).on_conflict_do_nothing(
            index_elements=["device_id", "msg_id"]).returning(table.c.device_id, table.c.msg_id)
        new += [(device, msg) for device, msg in session.execute(stmt)]
    return new


def insert_receipts(session: Session, rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """Record message ids; the (device, message id) pairs seen for the first time."""
    if not rows:
        return set()
    table: Table = MessageReceipt.__table__  # type: ignore[assignment]
    new: set[tuple[int, str]] = set()
    for chunk in _chunks(rows):
        stmt = dialect_insert(session, table).values(list(chunk)).on_conflict_do_nothing(
            ).returning(table.c.device_id, table.c.msg_id)
        new.update((device, msg) for device, msg in session.execute(stmt))
    return new


def mark_dirty(session: Session, buckets: Iterable[tuple[int, dt.datetime]]) -> None:
    """Mark community minutes whose rollups must be recomputed."""
    rows = [{"community_id": c, "bucket": b, "seq": 1} for c, b in sorted(set(buckets))]
    if not rows:
        return
    table: Table = RollupDirty.__table__  # type: ignore[assignment]
    stmt = dialect_insert(session, table).values(rows)
    session.execute(stmt.on_conflict_do_update(index_elements=["community_id", "bucket"],
                                               set_={"seq": table.c.seq + 1}))


STAT_FIELDS = ("received", "stored", "duplicates", "rejected", "points", "size")
StatKey = tuple[int, dt.datetime, str, str]


def add_stats(session: Session, counts: Mapping[StatKey, list[int]]) -> None:
    """Add a batch's counters to the per-minute statistics."""
    if not counts:
        return
    rows = [{"community_id": key[0], "bucket": key[1], "device_type": key[2],
             "channel": key[3], **dict(zip(STAT_FIELDS, values, strict=True))}
            for key, values in sorted(counts.items())]
    table: Table = IngestStat.__table__  # type: ignore[assignment]
    stmt = dialect_insert(session, table).values(rows)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["community_id", "bucket", "device_type", "channel"],
        set_={name: table.c[name] + stmt.excluded[name] for name in STAT_FIELDS}))
