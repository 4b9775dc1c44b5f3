"""Input and output models of the device ledger and the sensing routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field

from shequ.kit.schema import FromRow, Id, StrictInput, partial, row_schema
from shequ.sensing.models import CommandStatus, Device, Lifecycle

DeviceCode = Annotated[str, Field(min_length=1, max_length=128,
                                  pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
Secret = Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Label = Annotated[str, Field(min_length=1, max_length=100)]
PropertyValue = float | int | bool | str


class DeviceCreate(BaseModel):
    """A device to register: its identity, type, place, lifecycle and (write-only) secret."""

    model_config = StrictInput

    community_id: Id | None = None
    code: DeviceCode
    name: Label
    device_type: str = Field(min_length=1, max_length=64)
    model: str | None = Field(default=None, max_length=100)
    vendor: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    placement_id: Id | None = None
    building_id: Id | None = None
    floor_id: Id | None = None
    room_id: Id | None = None
    facility_id: Id | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    height: float | None = Field(default=None, ge=-100, le=1000)
    installed_on: dt.date | None = None
    lifecycle: Lifecycle = Lifecycle.installed
    payload_format: str = Field(default="native", min_length=1, max_length=200)
    secret: Secret | None = None
    properties: dict[Annotated[str, Field(max_length=64)], PropertyValue] | None = None


DeviceUpdate = partial(DeviceCreate, exclude=("community_id", "code"))
DeviceRead = row_schema(Device, "DeviceRead", exclude=("deleted_at", "secret_digest"))


class Credentials(BaseModel):
    """A device's new secret, shown once, with its MQTT user name and topics."""

    device_id: int
    username: str
    secret: str
    topic_prefix: str
    http_authorization: str


class IngestOutcome(BaseModel):
    """What an HTTP ingest request did: messages stored, duplicates and refusals."""

    received: int
    stored: int
    duplicates: int
    rejected: int
    rejections: list[dict[str, Any]]


class CommandCreate(BaseModel):
    """A command for a device, with parameters; `wait_s` waits for the acknowledgement."""

    model_config = StrictInput

    command: str = Field(min_length=1, max_length=64)
    params: dict[Annotated[str, Field(max_length=64)], Any] = Field(default_factory=dict)
    max_attempts: int = Field(default=3, ge=1, le=10)
    wait_s: float = Field(default=0, ge=0, le=30)


class CommandRead(BaseModel):
    """A command and what became of it, with the measured round trip and response."""

    model_config = FromRow

    id: int
    community_id: int
    device_id: int
    cmd_id: str
    command: str
    params: dict[str, Any]
    status: CommandStatus
    attempts: int
    max_attempts: int
    ack_timeout_s: float
    issued_at: dt.datetime
    sent_at: dt.datetime | None
    acked_at: dt.datetime | None
    round_trip_ms: float | None
    response_ms: float | None
    target_ms: float | None
    meets_target: bool | None
    error: str | None


class ShadowRead(BaseModel):
    """The device shadow: desired and reported state, what still differs, versions."""

    device_id: int
    desired: dict[str, Any]
    reported: dict[str, Any]
    delta: dict[str, Any]
    desired_version: int
    reported_version: int
    desired_at: dt.datetime | None
    reported_at: dt.datetime | None


class DeadLetterRead(BaseModel):
    """A refused message with its reasons (payload as text, possibly truncated)."""

    id: int
    community_id: int | None
    device_id: int | None
    community_code: str | None
    device_code: str | None
    device_type: str | None
    topic: str
    transport: str
    reason: str
    reasons: list[dict[str, Any]]
    msg_id: str | None
    payload: str | None
    payload_size: int
    partial: bool
    received_at: dt.datetime
