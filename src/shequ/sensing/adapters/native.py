"""The platform's native JSON format (平台原生格式), one object or a batched array of them.

By channel::

    telemetry  {"id": "m-1", "ts": "2024-05-01T08:00:00+08:00", "metrics": {"pm25": 35.2}}
    event      {"id": "e-1", "ts": 1714521600000, "event": "smoke_alarm", "data": {...}}
    state      {"id": "s-1", "ts": ..., "state": {"on": true, "dim_level": 60}}
    cmd/ack    {"id": "a-1", "ts": ..., "ack": "<command id>", "ok": true,
                "state": {...}, "error": "<device error code>"}
    heartbeat  {"id": ..., "ts": ...}  (or an empty payload)

``id`` (string or integer) and ``ts`` (ISO-8601, naive = UTC, or Unix epoch milliseconds) are
optional: without an id one is derived from the content; without a timestamp the receive time
is used. Unknown top-level keys are ignored. Commands go the other way (`encode_command`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from shequ.sensing.readings import (
    CHANNEL_KIND,
    DecodeError,
    Kind,
    Message,
    given_id,
    load_json,
    make_message,
    malformed,
    parse_ts,
)
from shequ.sensing.topics import TopicInfo

SOURCE = "native"


def _object(item: Any, key: str, where: str) -> dict[str, Any]:
    value = item.get(key)
    if value.__class__ is not dict:
        raise malformed(f"{where}: '{key}' must be an object")
    return value


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value.__class__ is int:
        return str(value)
    if value.__class__ is not str or not value:
        raise malformed(f"{where}: '{key}' must be a non-empty string")
    return value


def _telemetry(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {"values": _object(item, "metrics", where)}


def _event(item: dict[str, Any], where: str) -> dict[str, Any]:
    data = item.get("data", {})
    if data.__class__ is not dict:
        raise malformed(f"{where}: 'data' must be an object")
    return {"values": data, "event": _text(item, "event", where)}


def _state(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {"values": _object(item, "state", where)}


def _ack(item: dict[str, Any], where: str) -> dict[str, Any]:
    ok = item.get("ok")
    if ok is not True and ok is not False:
        raise malformed(f"{where}: 'ok' must be true or false")
    state = item.get("state", {})
    if state.__class__ is not dict:
        raise malformed(f"{where}: 'state' must be an object")
    error = item.get("error")
    if error is not None and (error.__class__ is not str or len(error) > 128):
        raise malformed(f"{where}: 'error' must be a short string")
    return {"values": state, "ack": _text(item, "ack", where), "ok": ok, "error": error}


def _heartbeat(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {"values": {}}


_PARTS: Mapping[Kind, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    Kind.TELEMETRY: _telemetry,
    Kind.EVENT: _event,
    Kind.STATE: _state,
    Kind.ACK: _ack,
    Kind.HEARTBEAT: _heartbeat,
}


def _item(topic: TopicInfo, kind: Kind, item: Any, where: str, received_at: datetime) -> Message:
    if item.__class__ is not dict:
        raise malformed(f"{where} is not an object")
    parts = _PARTS[kind](item, where)
    ts = item.get("ts")
    return make_message(
        topic, kind, parts.pop("values"), received_at,
        ts=None if ts is None else parse_ts(ts), msg_id=given_id(item.get("id")),
        source=SOURCE, **parts,
    )


def decode(topic: TopicInfo, payload: bytes, received_at: datetime) -> list[Message]:
    """Decode a native payload (object or array) received on a device topic."""
    kind = CHANNEL_KIND.get(topic.channel)
    if kind is None:
        raise DecodeError("commands are not ingested", code="sensing.dead_letter.wrong_channel",
                          format=SOURCE, channel=topic.channel.value)
    if kind is Kind.HEARTBEAT and not payload.strip():
        return [make_message(topic, kind, {}, received_at, source=SOURCE)]
    document = load_json(payload)
    if document.__class__ is list:
        if not document:
            raise malformed("empty batch")
        return [_item(topic, kind, item, f"item {index}", received_at)
                for index, item in enumerate(document)]
    return [_item(topic, kind, document, "message", received_at)]


def encode_command(
    command_id: str, command: str, params: Mapping[str, Any], ts: datetime
) -> bytes:
    """The native payload of a command sent on ``.../cmd``."""
    return orjson.dumps({"id": command_id, "ts": ts.isoformat(), "cmd": command,
                         "params": dict(params)})


def encode_telemetry(metrics: Mapping[str, Any], ts: datetime, msg_id: str | None = None) -> bytes:
    """A native telemetry payload (used by simulators and tests)."""
    body: dict[str, Any] = {"ts": ts.isoformat(), "metrics": dict(metrics)}
    if msg_id is not None:
        body["id"] = msg_id
    return orjson.dumps(body)

