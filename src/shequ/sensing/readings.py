"""Device messages and their validation against the device type.

A `Message` is what every payload adapter produces: one telemetry sample set, event, reported
state, command acknowledgement or heartbeat of one device. Its identity is
``(community, device, id)``; when the device sends no id, a stable one is derived from the
device, kind, timestamp and a hash of the content, so a redelivered (QoS 1) or re-uploaded
message has the same id and idempotent storage drops it.

`validate()` checks a message against its device type and returns `Rejection`s, each with a
stable reason code ``sensing.dead_letter.*`` and zh/en text. Partial validity rule:

- a *fatal* rejection rejects the whole message: timestamp outside the window, unknown event,
  an event field that is missing or invalid, an empty message;
- a *non-fatal* rejection rejects one value only: an unknown or invalid telemetry metric, an
  unknown or invalid state key (state and ack messages), an undeclared event field. The rest of
  the message is kept; `keep_valid()` returns the message without the rejected values, or None
  when a fatal rejection exists or nothing is left. The pipeline stores the kept part and
  dead-letters the rejections with the message id, so nothing is dropped silently.

Hot path: no pydantic; per message one dict walk with precomputed per-type indexes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from shequ.kit.errors import BadRequest, ShequError
from shequ.kit.i18n import t
from shequ.sensing.catalogue import DeviceType, ValueSpec, brief, check_value
from shequ.sensing.topics import Channel, TopicInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_ID_LENGTH = 128


class Kind(StrEnum):
    """What a message carries."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATE = "state"
    ACK = "ack"
    HEARTBEAT = "heartbeat"


CHANNEL_KIND: Mapping[Channel, Kind] = {
    Channel.TELEMETRY: Kind.TELEMETRY,
    Channel.EVENT: Kind.EVENT,
    Channel.STATE: Kind.STATE,
    Channel.CMD_ACK: Kind.ACK,
    Channel.HEARTBEAT: Kind.HEARTBEAT,
}


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded device message, before or after validation.

    `values` holds the metrics (telemetry), the event data (event) or the reported state
    (state, ack). `ts_assumed` is true when the device sent no timestamp and the receive time
    was used. `origin` is a foreign identifier (FIWARE entity id, SensorThings observation)
    kept for tracing.
    """

    id: str
    community: str
    device: str
    kind: Kind
    ts: datetime
    received_at: datetime
    values: dict[str, Any]
    event: str | None = None
    ack: str | None = None
    ok: bool | None = None
    error: str | None = None
    derived_id: bool = False
    ts_assumed: bool = False
    source: str = "native"
    origin: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity used for duplicate detection."""
        return self.community, self.device, self.id


class DecodeError(BadRequest):
    """A payload that cannot be decoded; the code is a dead-letter reason."""

    code = "sensing.dead_letter.malformed_payload"


def malformed(detail: str) -> DecodeError:
    """A malformed-payload error with a short English detail."""
    return DecodeError(detail, code="sensing.dead_letter.malformed_payload", problem=detail)


def load_json(payload: bytes) -> Any:
    """Parse a JSON payload strictly (no NaN/Infinity); DecodeError when malformed."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        detail = str(exc)[:200]
        code = "sensing.dead_letter.malformed_json"
        raise DecodeError(detail, code=code, problem=detail) from exc


def parse_ts(value: Any) -> datetime:
    """Parse an ISO-8601 string or Unix epoch milliseconds into an aware UTC datetime.

    A naive ISO string is taken as UTC. Numbers are always milliseconds: an epoch in
    seconds lands in January 1970 and is then rejected as stale, which makes the mistake
    visible.
    """
    try:
        if value.__class__ is str:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        if value.__class__ in (int, float) and math.isfinite(value):
            return EPOCH + timedelta(milliseconds=value)
    except (ValueError, OverflowError):
        pass
    raise DecodeError(f"bad timestamp {value!r}", code="sensing.dead_letter.bad_timestamp",
                      value=brief(value))


def epoch_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch (exact)."""
    return (ts - EPOCH) // _MICROSECOND


def derive_id(
    device: str, kind: str, ts: datetime, values: Mapping[str, Any], tag: str | None = None
) -> str:
    """A stable message id from device, kind, timestamp and content ("h-" + 32 hex digits)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{device}\x1f{kind}\x1f{epoch_us(ts)}\x1f{tag or ''}\x1f".encode())
    digest.update(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
    return "h-" + digest.hexdigest()


def given_id(value: Any) -> str | None:
    """A device-given message id as text (string or integer), None when absent."""
    if value is None:
        return None
    if value.__class__ is int:
        return str(value)
    if value.__class__ is not str or not value or len(value) > MAX_ID_LENGTH:
        raise malformed(f"id must be a non-empty string or integer (≤ {MAX_ID_LENGTH} chars)")
    return value


def make_message(
    topic: TopicInfo,
    kind: Kind,
    values: dict[str, Any],
    received_at: datetime,
    *,
    ts: datetime | None = None,
    msg_id: str | None = None,
    event: str | None = None,
    ack: str | None = None,
    ok: bool | None = None,
    error: str | None = None,
    source: str = "native",
    origin: str | None = None,
) -> Message:
    """Build a message, taking the receive time when there is no timestamp and deriving the id."""
    assumed = ts is None
    stamp = received_at if ts is None else ts
    derived = msg_id is None
    if msg_id is None:
        msg_id = derive_id(topic.device, kind.value, stamp, values, event or ack)
    return Message(
        id=msg_id, community=topic.community, device=topic.device, kind=kind, ts=stamp,
        received_at=received_at, values=values, event=event, ack=ack, ok=ok, error=error,
        derived_id=derived, ts_assumed=assumed, source=source, origin=origin,
    )


# ---------------------------------------------------------------------------------------------
# Rejections


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why (part of) a message was refused: a stable code, its parameters and the value's key.

    `fatal` rejections refuse the whole message; others refuse only `field`.
    """

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    field: str | None = None
    fatal: bool = True

    def message(self, lang: str | None = None) -> str:
        """The reason in words, in a language."""
        return t(self.code, lang, **self.params)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record for the dead-letter store."""
        return {
            "code": self.code, "field": self.field, "fatal": self.fatal,
            "params": dict(self.params),
            "message": {"zh-CN": self.message("zh-CN"), "en": self.message("en")},
        }

    @classmethod
    def from_error(cls, error: ShequError) -> Rejection:
        """A fatal rejection from a decode or topic error."""
        return cls(error.code, dict(error.params))

    def to_error(self) -> ShequError:
        """The rejection as a user-facing error (for synchronous HTTP ingest)."""
        return DecodeError(self.message("en"), code=self.code, **self.params)


def check_size(payload: bytes, max_bytes: int) -> Rejection | None:
    """Refuse a payload larger than the caller's limit before decoding it."""
    if len(payload) > max_bytes:
        params = {"size": len(payload), "limit": max_bytes}
        return Rejection("sensing.dead_letter.oversized", params)
    return None


def _problem(spec: ValueSpec, key: str, value: Any, fatal: bool) -> Rejection | None:
    problem = check_value(spec, value)
    if problem is None:
        return None
    reason, params = problem
    return Rejection(f"sensing.dead_letter.{reason}", {"field": key, **params}, key, fatal)


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class Limits:
    """How far a timestamp may lie from the validation time."""

    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=7)


DEFAULT_LIMITS = Limits()


def _check_time(message: Message, now: datetime, limits: Limits) -> Rejection | None:
    if message.ts - now > limits.max_future:
        return Rejection("sensing.dead_letter.future_timestamp",
                         {"ts": message.ts.isoformat(), "limit": str(limits.max_future)})
    if now - message.ts > limits.max_past:
        return Rejection("sensing.dead_letter.stale_timestamp",
                         {"ts": message.ts.isoformat(), "limit": str(limits.max_past)})
    return None


def _empty(what: str) -> Rejection:
    return Rejection("sensing.dead_letter.empty", {"what": what})


def _check_metrics(message: Message, device_type: DeviceType) -> list[Rejection]:
    if not message.values:
        return [_empty("metrics")]
    index = device_type.metric_index
    out = []
    for key, value in message.values.items():
        spec = index.get(key)
        if spec is None:
            out.append(Rejection("sensing.dead_letter.unknown_metric",
                                 {"device_type": device_type.id, "field": key}, key, False))
            continue
        problem = _problem(spec, key, value, False)
        if problem is not None:
            out.append(problem)
    return out


def _check_state(message: Message, device_type: DeviceType) -> list[Rejection]:
    if not message.values and message.kind is Kind.STATE:
        return [_empty("state")]
    index = device_type.state_index
    out = []
    for key, value in message.values.items():
        spec = index.get(key)
        if spec is None:
            out.append(Rejection("sensing.dead_letter.unknown_state",
                                 {"device_type": device_type.id, "field": key}, key, False))
            continue
        problem = _problem(spec, key, value, False)
        if problem is not None:
            out.append(problem)
    return out


def _check_event(message: Message, device_type: DeviceType) -> list[Rejection]:
    spec = device_type.event_index.get(message.event or "")
    if spec is None:
        return [Rejection("sensing.dead_letter.unknown_event",
                          {"device_type": device_type.id, "event": message.event})]
    out = [Rejection("sensing.dead_letter.missing_field", {"field": key}, key)
           for key in spec.required_fields if key not in message.values]
    for key, value in message.values.items():
        field_spec = spec.field_index.get(key)
        if field_spec is None:
            out.append(Rejection("sensing.dead_letter.unknown_field",
                                 {"event": spec.key, "field": key}, key, False))
            continue
        problem = _problem(field_spec, key, value, True)
        if problem is not None:
            out.append(problem)
    return out


def validate(
    message: Message, device_type: DeviceType, now: datetime, limits: Limits = DEFAULT_LIMITS
) -> list[Rejection]:
    """Check a message against its device type; an empty list means fully valid."""
    problem = _check_time(message, now, limits)
    if problem is not None:
        return [problem]
    kind = message.kind
    if kind is Kind.TELEMETRY:
        return _check_metrics(message, device_type)
    if kind is Kind.EVENT:
        return _check_event(message, device_type)
    if kind is Kind.STATE or kind is Kind.ACK:
        return _check_state(message, device_type)
    return []


def keep_valid(message: Message, rejections: Iterable[Rejection]) -> Message | None:
    """The message without its rejected values; None if it is rejected as a whole."""
    dropped = set()
    for rejection in rejections:
        if rejection.fatal:
            return None
        if rejection.field is not None:
            dropped.add(rejection.field)
    if not dropped:
        return message
    values = {key: value for key, value in message.values.items() if key not in dropped}
    if not values and message.kind in (Kind.TELEMETRY, Kind.STATE):
        return None
    return replace(message, values=values)


def screen(
    message: Message, device_type: DeviceType, now: datetime, limits: Limits = DEFAULT_LIMITS
) -> tuple[Message | None, list[Rejection]]:
    """Validate and keep the valid part in one call: (kept message or None, rejections)."""
    rejections = validate(message, device_type, now, limits)
    return keep_valid(message, rejections), rejections


# ---------------------------------------------------------------------------------------------
# Commands issued by the platform


def validate_command(
    device_type: DeviceType, command: str, params: Mapping[str, Any]
) -> list[Rejection]:
    """Check a command and its parameters before it is sent; every problem is fatal."""
    spec = device_type.command_index.get(command)
    if spec is None:
        return [Rejection("sensing.command.unknown",
                          {"device_type": device_type.id, "command": command})]
    out = [Rejection("sensing.dead_letter.missing_field", {"field": param.key}, param.key)
           for param in spec.params if param.required and param.key not in params]
    for key, value in params.items():
        param = spec.param_index.get(key)
        if param is None:
            out.append(Rejection("sensing.command.unknown_param",
                                 {"command": command, "field": key}, key))
            continue
        problem = _problem(param, key, value, True)
        if problem is not None:
            out.append(problem)
    return out


def command_defaults(device_type: DeviceType, command: str, params: Mapping[str, Any]) -> dict[
    str, Any
]:
    """The parameters with declared defaults filled in (call after `validate_command`)."""
    spec = device_type.command_index[command]
    filled = {param.key: param.default for param in spec.params if param.default is not None}
    filled.update(params)
    return filled


def desired_state(
    device_type: DeviceType, command: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The shadow's desired-state changes a command makes, from its declared effects."""
    spec = device_type.command_index[command]
    full = command_defaults(device_type, command, params)
    return {effect.key: full.get(effect.param) if effect.param else effect.value
            for effect in spec.sets if effect.param is None or effect.param in full}


def now_utc() -> datetime:
    """The current time, aware UTC (the default `now` for callers)."""
    return datetime.now(UTC)
