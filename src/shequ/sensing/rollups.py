"""One-minute and one-hour rollups, recomputed from raw rows for every minute marked dirty.

The ingest pipeline marks each (community, minute) that received new rows. `refresh` takes
closed dirty minutes (older than the grace period), replaces their minute rollups with a
fresh aggregate of the raw rows, then replaces the hour rollups of the hours they belong to
from the minute rollups. A minute that receives late rows is marked again (its `seq` grows)
and recomputed; the mark of a minute is removed only if nobody marked it since it was read,
so concurrent ingest never leaves a rollup stale. Duplicates never count twice: raw storage
is already idempotent.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session

from shequ.sensing.models import Rollup1h, Rollup1m, RollupDirty, Telemetry

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def hour_of(ts: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding `ts`."""
    return ts.replace(minute=0, second=0, microsecond=0)


def _minute(session: Session, community_id: int, bucket: dt.datetime) -> None:
    session.execute(delete(Rollup1m).where(Rollup1m.community_id == community_id,
                                           Rollup1m.bucket == bucket))
    source = (select(Telemetry.community_id, Telemetry.device_id, Telemetry.metric,
                     literal(bucket, Rollup1m.bucket.type), func.count(), func.sum(Telemetry.num),
                     func.min(Telemetry.num), func.max(Telemetry.num))
              .where(Telemetry.community_id == community_id, Telemetry.ts >= bucket,
                     Telemetry.ts < bucket + MINUTE, Telemetry.num.is_not(None))
              .group_by(Telemetry.community_id, Telemetry.device_id, Telemetry.metric))
    session.execute(insert(Rollup1m).from_select(
        ["community_id", "device_id", "metric", "bucket", "count", "total", "minimum",
         "maximum"], source))


def _hour(session: Session, community_id: int, bucket: dt.datetime) -> None:
    session.execute(delete(Rollup1h).where(Rollup1h.community_id == community_id,
                                           Rollup1h.bucket == bucket))
    source = (select(Rollup1m.community_id, Rollup1m.device_id, Rollup1m.metric,
                     literal(bucket, Rollup1h.bucket.type), func.sum(Rollup1m.count),
                     func.sum(Rollup1m.total), func.min(Rollup1m.minimum),
                     func.max(Rollup1m.maximum))
              .where(Rollup1m.community_id == community_id, Rollup1m.bucket >= bucket,
                     Rollup1m.bucket < bucket + HOUR)
              .group_by(Rollup1m.community_id, Rollup1m.device_id, Rollup1m.metric))
    session.execute(insert(Rollup1h).from_select(
        ["community_id", "device_id", "metric", "bucket", "count", "total", "minimum",
         "maximum"], source))


def refresh(session: Session, now: dt.datetime, grace: dt.timedelta = dt.timedelta(seconds=5),
            limit: int = 500) -> int:
    """Recompute the rollups of closed dirty minutes (at most `limit`); how many were done."""
    closed = now - grace - MINUTE
    marks = session.execute(
        select(RollupDirty.community_id, RollupDirty.bucket, RollupDirty.seq)
        .where(RollupDirty.bucket <= closed).order_by(RollupDirty.bucket).limit(limit)).all()
    hours: set[tuple[int, dt.datetime]] = set()
    for community_id, bucket, seq in marks:
        _minute(session, community_id, bucket)
        hours.add((community_id, hour_of(bucket)))
        session.execute(delete(RollupDirty).where(
            RollupDirty.community_id == community_id, RollupDirty.bucket == bucket,
            RollupDirty.seq == seq))
    for community_id, bucket in sorted(hours):
        _hour(session, community_id, bucket)
    return len(marks)


def oldest_dirty(session: Session, community_id: int, start: dt.datetime,
                 end: dt.datetime) -> dt.datetime | None:
    """The earliest minute in [start, end) whose rollup is not yet current."""
    value: dt.datetime | None = session.scalar(select(func.min(RollupDirty.bucket)).where(
        RollupDirty.community_id == community_id, RollupDirty.bucket >= start - MINUTE,
        RollupDirty.bucket < end))
    return value
