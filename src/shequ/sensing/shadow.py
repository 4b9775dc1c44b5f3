"""Commands and the device shadow (4.1.4-3).

The shadow holds the state the platform wants (`desired`, changed by commands through their
declared effects) and the state the device last reported (`reported`, from ``state`` messages
and command acknowledgements). A command is an outbox row: the ingest worker, which holds the
MQTT connection, publishes due commands on ``.../cmd`` (QoS 1), resends them when no
acknowledgement arrives within the type's ``ack_timeout_s``, and gives up after
``max_attempts``. The acknowledgement on ``.../cmd/ack`` closes the command and stores the
measured round trip (last send → ack) and response (issue → ack); commands of types with a
``response_s`` indicator (single-lamp control, Table 1: ≤ 5 s) are marked as meeting it or not,
and the device's measured ``response_s`` property is updated.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.kit.db import utcnow
from shequ.kit.errors import Conflict, ValidationFailed
from shequ.sensing.adapters.native import encode_command
from shequ.sensing.catalogue import DeviceType, default_catalogue
from shequ.sensing.models import Command, CommandStatus, Device, DeviceShadow, Lifecycle
from shequ.sensing.readings import Message, command_defaults, desired_state, validate_command
from shequ.sensing.registry import DeviceRef, community_code
from shequ.sensing.storage import dialect_insert
from shequ.sensing.topics import device_command_topic

RESPONSE_INDICATOR = "response_s"
OPEN = (CommandStatus.pending, CommandStatus.sent)
Publish = Callable[[str, bytes], None]


def _ms(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() * 1000.0, 3)


# ---------------------------------------------------------------------------------------------
# The shadow


def shadow_for(session: Session, device_id: int, community_id: int, lock: bool = True
               ) -> DeviceShadow:
    """The device's shadow row (created empty the first time), locked for update."""
    session.execute(dialect_insert(session, DeviceShadow.__table__).values(
        device_id=device_id, community_id=community_id, desired={}, reported={},
        desired_version=0, reported_version=0).on_conflict_do_nothing())
    stmt = select(DeviceShadow).where(DeviceShadow.device_id == device_id)
    found = session.scalar(stmt.with_for_update() if lock else stmt)
    assert found is not None
    return found


def report(session: Session, ref: DeviceRef, values: dict[str, Any], ts: dt.datetime) -> bool:
    """Fold reported state into the shadow; False when an older report arrives late."""
    if not values:
        return False
    shadow = shadow_for(session, ref.id, ref.community_id)
    if shadow.reported_at is not None and ts < shadow.reported_at:
        return False
    shadow.reported = {**shadow.reported, **values}
    shadow.reported_version += 1
    shadow.reported_at = ts
    return True


def desire(session: Session, device: Device, values: dict[str, Any], at: dt.datetime) -> None:
    """Record the state the platform wants (a command's declared effects)."""
    if not values:
        return
    shadow = shadow_for(session, device.id, device.community_id)
    shadow.desired = {**shadow.desired, **values}
    shadow.desired_version += 1
    shadow.desired_at = at


def shadow_view(session: Session, device: Device) -> dict[str, Any]:
    """Desired and reported state, the keys that still differ, versions and times."""
    row = session.get(DeviceShadow, device.id)
    desired = dict(row.desired) if row else {}
    reported = dict(row.reported) if row else {}
    return {
        "device_id": device.id, "desired": desired, "reported": reported,
        "delta": {k: v for k, v in desired.items() if reported.get(k) != v},
        "desired_version": row.desired_version if row else 0,
        "reported_version": row.reported_version if row else 0,
        "desired_at": row.desired_at if row else None,
        "reported_at": row.reported_at if row else None,
    }


# ---------------------------------------------------------------------------------------------
# Issuing commands


def response_target_ms(device_type: DeviceType) -> float | None:
    """The Table 1 control-response limit of a type, in ms (None when it declares none)."""
    for spec in device_type.indicators:
        if spec.key == RESPONSE_INDICATOR and spec.comparator in ("le", "lt"):
            return float(spec.threshold) * 1000.0
    return None


def issue(session: Session, device: Device, command: str, params: dict[str, Any], *,
          actor_id: int | None, max_attempts: int = 3, now: dt.datetime | None = None
          ) -> Command:
    """Validate a command against the device type, queue it and update the desired state."""
    if device.lifecycle == Lifecycle.retired:
        raise Conflict(code="sensing.command.retired", device=device.code)
    device_type = default_catalogue().get(device.device_type)
    problems = validate_command(device_type, command, params)
    if problems:
        raise ValidationFailed(code=problems[0].code, errors=[
            {"field": p.field or "command", "code": p.code, "message": p.message()}
            for p in problems], **problems[0].params)
    now = now or utcnow()
    filled = command_defaults(device_type, command, params)
    row = Command(
        community_id=device.community_id, device_id=device.id, cmd_id=uuid.uuid4().hex,
        command=command, params=filled, status=CommandStatus.pending, attempts=0,
        max_attempts=max_attempts, ack_timeout_s=device_type.command_index[command].ack_timeout_s,
        issued_by=actor_id, issued_at=now, due_at=now,
        target_ms=response_target_ms(device_type))
    session.add(row)
    desire(session, device, desired_state(device_type, command, filled), now)
    session.flush()
    return row


# ---------------------------------------------------------------------------------------------
# Dispatching (the ingest worker)


def due_commands(session: Session, now: dt.datetime, limit: int = 200) -> list[Command]:
    """Open commands whose send or resend time has come (skipping rows others hold)."""
    stmt = (select(Command).where(Command.status.in_(OPEN), Command.due_at <= now)
            .order_by(Command.due_at).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def dispatch(session: Session, publish: Publish, now: dt.datetime | None = None
             ) -> list[dict[str, Any]]:
    """Send due commands, resend unanswered ones, time out the exhausted; what happened."""
    now = now or utcnow()
    done = []
    for row in due_commands(session, now):
        if row.attempts >= row.max_attempts:
            row.status, row.due_at, row.error = CommandStatus.timeout, None, "no_ack"
            done.append(_view(row, "timeout"))
            continue
        device = session.get(Device, row.device_id)
        if device is None or device.deleted_at is not None:
            row.status, row.due_at, row.error = CommandStatus.failed, None, "device_gone"
            continue
        topic = device_command_topic(community_code(session, device.community_id), device.code)
        publish(topic, encode_command(row.cmd_id, row.command, row.params, now))
        row.attempts += 1
        row.status, row.sent_at = CommandStatus.sent, now
        row.due_at = now + dt.timedelta(seconds=row.ack_timeout_s)
        done.append(_view(row, "sent"))
    session.flush()
    return done


def _view(row: Command, what: str) -> dict[str, Any]:
    return {"id": row.id, "cmd_id": row.cmd_id, "device_id": row.device_id,
            "community_id": row.community_id, "command": row.command, "status": what,
            "attempts": row.attempts}


# ---------------------------------------------------------------------------------------------
# Acknowledgements (the ingest pipeline)


def acknowledge(session: Session, ref: DeviceRef, message: Message, received_at: dt.datetime
                ) -> dict[str, Any] | None:
    """Close a command with the device's acknowledgement; None when no such command exists."""
    row = session.scalar(select(Command).where(
        Command.cmd_id == (message.ack or ""), Command.device_id == ref.id).with_for_update())
    if row is None:
        return None
    if row.status in OPEN or row.status == CommandStatus.timeout:
        _close(row, bool(message.ok), message.error, received_at)
        if row.response_ms is not None and row.target_ms is not None:
            _measured(session, row)
    return {"cmd_id": row.cmd_id, "command": row.command, "status": row.status.value
            if isinstance(row.status, CommandStatus) else str(row.status),
            "round_trip_ms": row.round_trip_ms, "response_ms": row.response_ms,
            "meets_target": row.meets_target}


def _close(row: Command, ok: bool, error: str | None, at: dt.datetime) -> None:
    row.status = CommandStatus.acked if ok else CommandStatus.failed
    row.error = None if ok else (error or "refused")[:128]
    row.acked_at, row.due_at = at, None
    row.round_trip_ms = _ms(at - (row.sent_at or row.issued_at))
    row.response_ms = _ms(at - row.issued_at)
    if row.target_ms is not None:
        row.meets_target = ok and row.response_ms <= row.target_ms


def _measured(session: Session, row: Command) -> None:
    device = session.get(Device, row.device_id)
    if device is not None and row.response_ms is not None:
        device.properties = {**(device.properties or {}),
                             RESPONSE_INDICATOR: round(row.response_ms / 1000.0, 3)}
