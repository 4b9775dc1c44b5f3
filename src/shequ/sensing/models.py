"""Sensing tables: the device ledger, telemetry and its rollups, latest state, device shadow,
commands, events, dead letters, ingest statistics and message traces.

Telemetry is a narrow append-only table keyed by ``(device_id, metric, ts)``, so a redelivered
message is stored once. On PostgreSQL it is partitioned by day on ``ts`` (partitions created
ahead by ``shequ_telemetry_partitions()``, see migration 0004) and retention drops whole
partitions; on SQLite it is a plain table and retention deletes rows.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import LIVE, Base, BigId, IdMixin, JsonData, LedgerBase, live_index, utcnow


class Lifecycle(enum.StrEnum):
    """Where a device is in its life (6.4.1.a)."""

    installed = "installed"
    active = "active"
    maintenance = "maintenance"
    retired = "retired"


class Connectivity(enum.StrEnum):
    """Online/offline as derived from the device's messages and its type's heartbeat timeout."""

    unknown = "unknown"
    online = "online"
    offline = "offline"


class CommandStatus(enum.StrEnum):
    """Where a command is between the platform and the device."""

    pending = "pending"
    sent = "sent"
    acked = "acked"
    failed = "failed"
    timeout = "timeout"


class Transport(enum.StrEnum):
    """How a message reached the platform."""

    mqtt = "mqtt"
    http = "http"


class Device(LedgerBase, Base):
    """A registered device (设备台账): type, identity, place, lifecycle and credentials.

    `code` is the device id in its MQTT topics and its broker user name; it cannot change.
    The per-device secret is kept only as a keyed digest (`secret_digest`).
    `properties` holds the Table 1 indicator values (declared or measured).
    """

    __tablename__ = "devices"
    __table_args__ = (
        Index("uq_devices_community_code", "community_id", "code", unique=True,
              sqlite_where=text(LIVE), postgresql_where=text(LIVE)),
        live_index("ix_devices_community_type", "community_id", "device_type", "created_at"),
        live_index("ix_devices_community_connectivity", "community_id", "connectivity"),
    )

    code: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(100))
    device_type: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(100))
    vendor: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100))
    placement_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("device_placements.id"))
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    floor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("floors.id"))
    room_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    facility_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("facilities.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    lifecycle: Mapped[Lifecycle] = mapped_column(String(16), default=Lifecycle.installed)
    payload_format: Mapped[str] = mapped_column(String(200), default="native")
    secret_digest: Mapped[str | None] = mapped_column(String(128))
    credentials_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JsonData)
    connectivity: Mapped[Connectivity] = mapped_column(String(16), default=Connectivity.unknown)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class DeviceLatest(Base):
    """The latest value of every metric of a device, and when it was last heard from.

    `metrics` maps a metric to ``[value, epoch milliseconds]``; the newest sample per metric
    wins, whatever order messages arrive in.
    """

    __tablename__ = "device_latest"

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"), index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    last_ts: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Telemetry(Base):
    """One metric sample: numeric (and boolean as 0/1) in `num`, enum and text in `txt`."""

    __tablename__ = "telemetry"
    __table_args__ = (
        PrimaryKeyConstraint("device_id", "metric", "ts", name="pk_telemetry"),
        # BRIN on PostgreSQL: rows arrive roughly in time order, and a block-range index
        # costs next to nothing to maintain at ingest rates (rollups and retention use it)
        Index("ix_telemetry_community_ts", "community_id", "ts", postgresql_using="brin"),
    )

    community_id: Mapped[int] = mapped_column(BigId)
    device_id: Mapped[int] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[dt.datetime] = mapped_column()
    num: Mapped[float | None] = mapped_column(Float)
    txt: Mapped[str | None] = mapped_column(String(256))


class _RollupColumns:
    """Count, sum, minimum, maximum and last value of one metric over one time bucket."""

    community_id: Mapped[int] = mapped_column(BigId)
    device_id: Mapped[int] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[dt.datetime] = mapped_column()
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)


class Rollup1m(_RollupColumns, Base):
    """One-minute rollups of numeric metrics (charts over hours)."""

    __tablename__ = "telemetry_1m"
    __table_args__ = (
        PrimaryKeyConstraint("device_id", "metric", "bucket", name="pk_telemetry_1m"),
        Index("ix_telemetry_1m_community_bucket", "community_id", "bucket"),
    )


class Rollup1h(_RollupColumns, Base):
    """One-hour rollups of numeric metrics (charts over days and months)."""

    __tablename__ = "telemetry_1h"
    __table_args__ = (
        PrimaryKeyConstraint("device_id", "metric", "bucket", name="pk_telemetry_1h"),
        Index("ix_telemetry_1h_community_bucket", "community_id", "bucket"),
    )


class RollupDirty(Base):
    """A community minute whose raw rows changed since its rollup was computed.

    `seq` grows with every change, so a refresh that read an older `seq` leaves the mark.
    """

    __tablename__ = "telemetry_dirty"
    __table_args__ = (PrimaryKeyConstraint("community_id", "bucket",
                                           name="pk_telemetry_dirty"),)

    community_id: Mapped[int] = mapped_column(BigId)
    bucket: Mapped[dt.datetime] = mapped_column()
    seq: Mapped[int] = mapped_column(Integer, default=1)


class DeviceEvent(IdMixin, Base):
    """An event a device raised (alarm, fault, tamper…), stored once per message id."""

    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("device_id", "msg_id", name="uq_device_events_device_msg"),
        Index("ix_device_events_community_ts", "community_id", "ts"),
    )

    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"))
    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id"))
    msg_id: Mapped[str] = mapped_column(String(128))
    ts: Mapped[dt.datetime] = mapped_column()
    event: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MessageReceipt(Base):
    """Ids of messages that carried an id but no timestamp: their duplicates are dropped."""

    __tablename__ = "message_receipts"
    __table_args__ = (PrimaryKeyConstraint("device_id", "msg_id", name="pk_message_receipts"),)

    device_id: Mapped[int] = mapped_column(BigId)
    msg_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[dt.datetime] = mapped_column(index=True)


class DeviceShadow(Base):
    """The device shadow (4.1.4-3): state desired by the platform and reported by the device."""

    __tablename__ = "device_shadows"

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"), index=True)
    desired: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    reported: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    reported_version: Mapped[int] = mapped_column(Integer, default=0)
    desired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reported_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Command(IdMixin, Base):
    """A command to a device: sent over MQTT, acknowledged, retried, timed out, measured.

    `round_trip_ms` runs from the last send to the acknowledgement; `response_ms` from the
    moment the command was issued to the acknowledgement (the Table 1 control response).
    """

    __tablename__ = "device_commands"
    __table_args__ = (
        UniqueConstraint("cmd_id", name="uq_device_commands_cmd_id"),
        Index("ix_device_commands_device_issued", "device_id", "issued_at"),
        Index("ix_device_commands_due", "status", "due_at"),
    )

    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"), index=True)
    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id"))
    cmd_id: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    status: Mapped[CommandStatus] = mapped_column(String(16), default=CommandStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    ack_timeout_s: Mapped[float] = mapped_column(Float)
    issued_by: Mapped[int | None] = mapped_column(BigId)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    acked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    round_trip_ms: Mapped[float | None] = mapped_column(Float)
    response_ms: Mapped[float | None] = mapped_column(Float)
    target_ms: Mapped[float | None] = mapped_column(Float)
    meets_target: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(128))


class DeadLetter(IdMixin, Base):
    """A refused message (or part of one) with its reasons, kept for inspection and replay.

    The community and device are null when the topic or the credentials named none that
    exist; the codes as received are kept beside them.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_community_received", "community_id", "received_at"),
        Index("ix_dead_letters_reason_received", "reason", "received_at"),
    )

    community_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("communities.id"))
    device_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("devices.id"))
    community_code: Mapped[str | None] = mapped_column(String(64))
    device_code: Mapped[str | None] = mapped_column(String(128))
    device_type: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(512))
    transport: Mapped[Transport] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonData)
    msg_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IngestStat(Base):
    """Messages per community, minute, device type and channel: received, stored, refused,
    metric points and payload bytes (`size`).

    Counted in the same transaction as the batch, so a redelivered batch counts as duplicates.
    """

    __tablename__ = "ingest_stats"
    __table_args__ = (
        PrimaryKeyConstraint("community_id", "bucket", "device_type", "channel",
                             name="pk_ingest_stats"),
    )

    community_id: Mapped[int] = mapped_column(BigId)
    bucket: Mapped[dt.datetime] = mapped_column()
    device_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    received: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigId, default=0)


class MessageTrace(IdMixin, Base):
    """One stage a traced message went through: received, decoded, stored, published, rules…"""

    __tablename__ = "message_traces"
    __table_args__ = (
        Index("ix_message_traces_msg", "msg_id", "device_id"),
        Index("ix_message_traces_at", "at"),
    )

    community_id: Mapped[int | None] = mapped_column(BigId)
    device_id: Mapped[int | None] = mapped_column(BigId)
    msg_id: Mapped[str] = mapped_column(String(128))
    stage: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
