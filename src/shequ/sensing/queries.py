"""Reads of telemetry: latest values, history with downsampling, CSV rows, compliance,
ingest statistics and message traces.

History picks its source by the bucket asked for: raw rows (no bucket, or short ranges),
one-minute rollups (buckets of minutes over more than six hours) or one-hour rollups
(buckets of hours over more than two days). Rollups lag the raw rows by the maintenance
interval; the answer says which source it used and from when it may be incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from shequ.kit.db import utcnow
from shequ.kit.errors import ValidationFailed
from shequ.sensing import rollups
from shequ.sensing.catalogue import DeviceType, MetricSpec, compliance, default_catalogue
from shequ.sensing.models import (
    DeadLetter,
    Device,
    DeviceEvent,
    DeviceLatest,
    MessageTrace,
    Rollup1h,
    Rollup1m,
    Telemetry,
)

BUCKETS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600,
                           "1d": 86400}
MAX_POINTS = 5000
RAW_LIMIT = 10_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _invalid(field: str, code: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(code=code, errors=[{"field": field, "code": code}], **params)


def device_type(device: Device) -> DeviceType:
    """The catalogue type of a device row."""
    return default_catalogue().get(device.device_type)


def value_of(spec: MetricSpec | None, num: float | None, txt: str | None) -> Any:
    """A stored sample back in its declared kind."""
    if spec is not None and spec.kind == "boolean":
        return None if num is None else num >= 0.5
    if spec is not None and spec.kind == "integer" and num is not None:
        return int(num)
    return num if txt is None else txt


def is_online(device: Device, latest: DeviceLatest | None, now: dt.datetime) -> bool:
    """Whether the device was heard within its type's heartbeat timeout."""
    if latest is None:
        return False
    timeout = dt.timedelta(seconds=device_type(device).heartbeat_timeout_s)
    return now - latest.last_seen_at <= timeout


def latest(session: Session, device: Device, lang: str) -> dict[str, Any]:
    """The newest value of every metric with names and units, and whether the device is up."""
    row = session.get(DeviceLatest, device.id)
    kind = device_type(device)
    metrics = []
    for key, (value, ms) in sorted((row.metrics if row else {}).items()):
        spec = kind.metric_index.get(key)
        metrics.append({"metric": key, "name": spec.name_en if spec and lang == "en" else (
            spec.name_zh if spec else key), "unit": spec.unit if spec else None,
            "value": value, "ts": EPOCH + dt.timedelta(milliseconds=ms)})
    return {"device_id": device.id, "device": device.code, "device_type": device.device_type,
            "connectivity": device.connectivity, "online": is_online(device, row, utcnow()),
            "last_seen_at": row.last_seen_at if row else None, "metrics": metrics}


# ---------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class Window:
    """A history request: metrics, time range and bucket (None = raw samples)."""

    metrics: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    bucket: int | None


def window(device: Device, metrics: Sequence[str], start: dt.datetime | None,
           end: dt.datetime | None, bucket: str | None) -> Window:
    """Check and complete a history request."""
    kind = device_type(device)
    end = end or utcnow()
    start = start or end - dt.timedelta(days=1)
    if start >= end:
        raise _invalid("start", "sensing.history.bad_range")
    wanted = tuple(metrics) or tuple(spec.key for spec in kind.metrics)
    for key in wanted:
        if key not in kind.metric_index:
            raise _invalid("metric", "sensing.history.unknown_metric", metric=key[:64],
                           device_type=kind.id)
    seconds: int | None = None
    if bucket == "auto":
        span = (end - start).total_seconds()
        seconds = next((s for s in BUCKETS.values() if span / s <= MAX_POINTS), 86400)
    elif bucket:
        if bucket not in BUCKETS:
            raise _invalid("bucket", "sensing.history.bad_bucket", bucket=bucket[:16],
                           allowed=", ".join(BUCKETS))
        seconds = BUCKETS[bucket]
        if (end - start).total_seconds() / seconds > MAX_POINTS:
            raise _invalid("bucket", "sensing.history.too_many_points", limit=MAX_POINTS)
    return Window(wanted, start, end, seconds)


def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _source(win: Window) -> str:
    span = win.end - win.start
    if win.bucket is None:
        return "raw"
    if win.bucket >= 3600 and span > dt.timedelta(days=2):
        return "1h"
    if span > dt.timedelta(hours=6):
        return "1m"
    return "raw"


def _raw_rows(session: Session, device: Device, win: Window) -> list[dict[str, Any]]:
    stmt = (select(Telemetry.metric, Telemetry.ts, Telemetry.num, Telemetry.txt)
            .where(Telemetry.device_id == device.id, Telemetry.metric.in_(win.metrics),
                   Telemetry.ts >= win.start, Telemetry.ts < win.end)
            .order_by(Telemetry.metric, Telemetry.ts).limit(RAW_LIMIT))
    index = device_type(device).metric_index
    return [{"metric": m, "ts": ts, "value": value_of(index.get(m), num, txt)}
            for m, ts, num, txt in session.execute(stmt)]


def _bucketed(session: Session, device: Device, win: Window, source: str
              ) -> list[dict[str, Any]]:
    assert win.bucket is not None
    table: Any
    aggregates: tuple[Any, ...]
    if source == "raw":
        table, time_col = Telemetry, Telemetry.ts
        aggregates = (func.count(Telemetry.num), func.sum(Telemetry.num),
                      func.min(Telemetry.num), func.max(Telemetry.num))
    else:
        table = Rollup1h if source == "1h" else Rollup1m
        time_col = table.bucket
        aggregates = (func.sum(table.count), func.sum(table.total), func.min(table.minimum),
                      func.max(table.maximum))
    key = (_epoch(session, time_col) // win.bucket * win.bucket).label("bucket")
    stmt = (select(table.metric, key, *aggregates)
            .where(table.device_id == device.id, table.metric.in_(win.metrics),
                   time_col >= win.start, time_col < win.end)
            .group_by(table.metric, key).order_by(table.metric, key))
    out = []
    for metric, bucket, n, s, lo, hi in session.execute(stmt):
        if not n:
            continue
        out.append({"metric": metric, "ts": EPOCH + dt.timedelta(seconds=int(bucket)),
                    "count": int(n), "avg": float(s) / int(n), "min": lo, "max": hi})
    return out


def history(session: Session, device: Device, win: Window) -> dict[str, Any]:
    """Samples (raw) or per-bucket count/avg/min/max (downsampled) of the device's metrics."""
    source = _source(win)
    numeric = {k for k in win.metrics if device_type(device).metric_index[k].kind in (
        "number", "integer", "boolean")}
    if win.bucket is not None and numeric != set(win.metrics):
        raise _invalid("metric", "sensing.history.not_numeric",
                       metric=sorted(set(win.metrics) - numeric)[0])
    points = (_raw_rows(session, device, win) if win.bucket is None
              else _bucketed(session, device, win, source))
    lag = None if source == "raw" else rollups.oldest_dirty(
        session, device.community_id, win.start, win.end)
    series: dict[str, list[dict[str, Any]]] = {key: [] for key in win.metrics}
    for point in points:
        series[point.pop("metric")].append(point)
    return {"device_id": device.id, "start": win.start, "end": win.end,
            "bucket_s": win.bucket, "source": source, "incomplete_from": lag,
            "series": series}


def csv_rows(session: Session, device: Device, win: Window) -> Iterator[list[Any]]:
    """History as CSV rows: time, metric, value (or count, avg, min, max per bucket)."""
    result = history(session, device, win)
    for metric, points in result["series"].items():
        for point in points:
            if win.bucket is None:
                yield [point["ts"].isoformat(), metric, point["value"]]
            else:
                yield [point["ts"].isoformat(), metric, point["count"], point["avg"],
                       point["min"], point["max"]]


def csv_header(win: Window) -> list[str]:
    """The CSV header of a history export."""
    if win.bucket is None:
        return ["ts", "metric", "value"]
    return ["ts", "metric", "count", "avg", "min", "max"]


# ---------------------------------------------------------------------------------------------
# Compliance, traces


def compliance_rows(devices: Sequence[Device], lang: str, proven_only: bool = False
                    ) -> list[dict[str, Any]]:
    """Devices whose recorded properties fall short of their type's Table 1 indicators."""
    catalogue = default_catalogue()
    out = []
    for device in devices:
        kind = catalogue.find(device.device_type)
        if kind is None:
            continue
        shortfalls = [s for s in compliance(kind, device.properties or {})
                      if not proven_only or s.reason == "below"]
        if shortfalls:
            out.append({"device_id": device.id, "device": device.code, "name": device.name,
                        "device_type": kind.id, "row": kind.row, "shortfalls": [
                            {"indicator": s.indicator, "reason": s.reason,
                             "comparator": s.comparator, "threshold": s.threshold,
                             "unit": s.unit, "actual": s.actual, "requirement": s.requirement,
                             "message": s.message(lang)} for s in shortfalls]})
    return out


def trace(session: Session, device: Device, msg_id: str) -> dict[str, Any]:
    """Everything stored about one message of a device: stages, dead letters, event, rows."""
    stages = session.execute(select(MessageTrace.stage, MessageTrace.at, MessageTrace.detail)
                             .where(MessageTrace.device_id == device.id,
                                    MessageTrace.msg_id == msg_id)
                             .order_by(MessageTrace.at, MessageTrace.id)).all()
    letters = session.execute(select(DeadLetter.id, DeadLetter.reason, DeadLetter.reasons,
                                     DeadLetter.received_at, DeadLetter.partial)
                              .where(DeadLetter.device_id == device.id,
                                     DeadLetter.msg_id == msg_id)).all()
    event = session.execute(select(DeviceEvent.id, DeviceEvent.event, DeviceEvent.ts)
                            .where(DeviceEvent.device_id == device.id,
                                   DeviceEvent.msg_id == msg_id)).first()
    return {
        "device_id": device.id, "msg_id": msg_id,
        "stages": [{"stage": s, "at": at, "detail": d} for s, at, d in stages],
        "dead_letters": [{"id": i, "reason": r, "reasons": rs, "received_at": at,
                          "partial": p} for i, r, rs, at, p in letters],
        "event": {"id": event[0], "event": event[1], "ts": event[2]} if event else None,
    }
