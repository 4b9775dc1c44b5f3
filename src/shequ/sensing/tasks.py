"""Background jobs of the sensing layer, run by the ingest worker between batches.

- partitions: telemetry partitions exist for the whole validation window and a few days
  ahead (PostgreSQL);
- rollups: closed dirty minutes are rolled up (`rollups.refresh`);
- offline: devices silent for longer than their type's heartbeat timeout go offline and a
  ``sensing.device.offline`` event is published;
- retention: raw telemetry older than its type's retention is dropped (whole partitions on
  PostgreSQL, row deletes on SQLite), and so are old rollups, dead letters, traces, receipts.

Each job is idempotent and safe to run from several workers at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from shequ.bus import Bus, default_bus
from shequ.kit.db import Database, after_commit, utcnow
from shequ.sensing import rollups
from shequ.sensing.catalogue import DEFAULT_RETENTION_DAYS, default_catalogue
from shequ.sensing.models import (
    Connectivity,
    DeadLetter,
    Device,
    DeviceLatest,
    IngestStat,
    MessageReceipt,
    MessageTrace,
    Rollup1h,
    Rollup1m,
    Telemetry,
)
from shequ.sensing.settings import SensingSettings
from shequ.sensing.storage import is_postgres

log = logging.getLogger("shequ.sensing.tasks")
DAY = dt.timedelta(days=1)
KEEP_DAYS = {"rollup_hours": 5 * 365, "dead_letters": 30, "traces": 7, "receipts": 8,
             "stats": 400}


def ensure_partitions(session: Session, settings: SensingSettings) -> int:
    """Create the telemetry partitions the validation window needs (PostgreSQL); how many."""
    if not is_postgres(session):
        return 0
    back = math.ceil(settings.max_past_s / 86400) + 1
    created = session.scalar(text("SELECT shequ_telemetry_partitions(:back, :ahead)"),
                             {"back": back, "ahead": settings.partitions_ahead_days})
    return int(created or 0)


def mark_offline(session: Session, now: dt.datetime, bus: Bus | None = None) -> list[int]:
    """Turn online devices silent for longer than their type's heartbeat timeout offline."""
    catalogue = default_catalogue()
    kinds = session.scalars(select(Device.device_type).where(
        Device.connectivity == Connectivity.online, Device.deleted_at.is_(None)).distinct())
    gone: list[tuple[int, int]] = []
    for type_id in list(kinds):
        device_type = catalogue.find(type_id)
        if device_type is None:
            continue
        silent = select(DeviceLatest.device_id).where(
            DeviceLatest.last_seen_at < now - dt.timedelta(seconds=device_type.heartbeat_timeout_s))
        gone += [(device_id, community_id) for device_id, community_id in session.execute(
            update(Device).where(Device.device_type == type_id,
                                 Device.connectivity == Connectivity.online,
                                 Device.id.in_(silent))
            .values(connectivity=Connectivity.offline, updated_at=Device.updated_at)
            .returning(Device.id, Device.community_id)
            .execution_options(synchronize_session=False))]
    if gone:
        target = bus or default_bus()
        after_commit(session, lambda: [target.publish("sensing.device.offline", {
            "device_id": device_id, "community_id": community_id})
            for device_id, community_id in gone])
    return sorted(device_id for device_id, _ in gone)


def _raw_retention(session: Session, now: dt.datetime) -> int:
    catalogue = default_catalogue()
    in_use = set(session.scalars(select(Device.device_type).distinct()))
    longest = max([DEFAULT_RETENTION_DAYS, *(t.retention_days for t in catalogue
                                             if t.id in in_use)])
    removed = 0
    if is_postgres(session):
        removed += int(session.scalar(text("SELECT shequ_telemetry_drop_before(:cutoff)"),
                                      {"cutoff": now - longest * DAY}) or 0)
    else:
        removed += _delete(session, delete(Telemetry).where(
            Telemetry.ts < now - longest * DAY))
    for device_type in catalogue:
        if device_type.id in in_use and device_type.retention_days < longest:
            devices = select(Device.id).where(Device.device_type == device_type.id)
            cutoff = now - device_type.retention_days * DAY
            removed += _delete(session, delete(Telemetry).where(
                Telemetry.device_id.in_(devices), Telemetry.ts < cutoff))
            removed += _delete(session, delete(Rollup1m).where(
                Rollup1m.device_id.in_(devices), Rollup1m.bucket < cutoff))
    removed += _delete(session, delete(Rollup1m).where(Rollup1m.bucket < now - longest * DAY))
    return removed


def _delete(session: Session, statement: Any) -> int:
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def apply_retention(session: Session, now: dt.datetime) -> int:
    """Drop what has outlived its retention; how many rows (or partitions) went."""
    removed = _raw_retention(session, now)
    for model, column, days in (
            (Rollup1h, Rollup1h.bucket, KEEP_DAYS["rollup_hours"]),
            (DeadLetter, DeadLetter.received_at, KEEP_DAYS["dead_letters"]),
            (MessageTrace, MessageTrace.at, KEEP_DAYS["traces"]),
            (MessageReceipt, MessageReceipt.received_at, KEEP_DAYS["receipts"]),
            (IngestStat, IngestStat.bucket, KEEP_DAYS["stats"])):
        removed += _delete(session, delete(model).where(column < now - days * DAY))
    return removed


@dataclass
class Job:
    """A named job and how often it runs."""

    name: str
    every_s: float
    run: Callable[[Session, dt.datetime], Any]
    last: float = field(default=-math.inf)


@dataclass
class Maintenance:
    """Runs the sensing jobs at their intervals, each in its own transaction."""

    db: Database
    settings: SensingSettings
    bus: Bus | None = None
    jobs: list[Job] = field(default_factory=list)

    def __post_init__(self) -> None:
        grace = dt.timedelta(seconds=self.settings.rollup_grace_s)
        every = self.settings.maintenance_interval_s
        self.jobs = [
            Job("partitions", 3600.0, lambda s, now: ensure_partitions(s, self.settings)),
            Job("rollups", every, lambda s, now: rollups.refresh(s, now, grace)),
            Job("offline", every, lambda s, now: mark_offline(s, now, self.bus)),
            Job("retention", 3600.0, apply_retention),
        ]

    def run_due(self, now: dt.datetime | None = None, force: bool = False) -> dict[str, Any]:
        """Run every job whose interval has passed (or all, with `force`); their results."""
        results: dict[str, Any] = {}
        clock = time.monotonic()
        for job in self.jobs:
            if not force and clock - job.last < job.every_s:
                continue
            job.last = clock
            try:
                with self.db.write() as session:
                    results[job.name] = job.run(session, now or utcnow())
            except Exception:  # a failed job is retried next time; ingest goes on
                log.exception("sensing job %s failed", job.name)
                results[job.name] = "failed"
        return results
