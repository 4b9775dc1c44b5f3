"""Sensing routes: HTTP ingest for devices, device credentials, latest values, history and CSV,
the shadow and commands, message traces, dead letters, compliance and ingest statistics.

Device authentication (HTTP ingest): ``Authorization: Device <device code>:<secret>``, or
HTTP Basic with the device code as user name and the secret as password. The community is
the one in the path (its code, in any case).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from shequ.api.deps import CurrentSubject, ReadSession, Services, ServicesDep, WriteSession
from shequ.kit import features
from shequ.kit.errors import Forbidden, NotFound, RateLimited, Unauthorized
from shequ.kit.i18n import current_language
from shequ.kit.ledger_api import json_response
from shequ.kit.ratelimit import RateLimiter
from shequ.kit.schema import MAX_ID
from shequ.kit.scope import ScopeColumns, scope_filter
from shequ.kit.tabular import CSV_TYPE, csv_stream
from shequ.platform.scoping import Subject
from shequ.sensing import queries, registry, shadow
from shequ.sensing.catalogue import default_catalogue
from shequ.sensing.ledgers import devices
from shequ.sensing.models import Command, DeadLetter, Device, IngestStat, Transport
from shequ.sensing.readings import Rejection, now_utc
from shequ.sensing.registry import DIRECTORY, DeviceRef
from shequ.sensing.schemas import CommandCreate, CommandRead, Credentials, IngestOutcome
from shequ.sensing.service import Pipeline, Raw
from shequ.sensing.settings import get_sensing_settings
from shequ.sensing.topics import COMMUNITY_RE, DEVICE_RE

router = APIRouter(tags=["sensing"])
features.provide("feature:sensing")

DeviceId = Annotated[int, Path(ge=1, le=MAX_ID)]
Since = Annotated[dt.datetime | None, Query()]
CommunityFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
_state: dict[str, Any] = {}


def _pipeline() -> Pipeline:
    if "pipeline" not in _state:
        settings = get_sensing_settings()
        _state["pipeline"] = Pipeline(settings, directory=DIRECTORY)
        _state["limiter"] = RateLimiter(settings.device_budget_per_minute, 60.0)
        _state["failures"] = RateLimiter(10, 60.0)
    pipeline: Pipeline = _state["pipeline"]
    return pipeline


def _device(session: Session, subject: Subject, device_id: int, action: str = "read"
            ) -> Device:
    return devices.get(session, subject, device_id, action)


# ---------------------------------------------------------------------------------------------
# HTTP ingest


def _credentials(header: str | None) -> tuple[str, str]:
    """(device code, secret) from a `Device` or `Basic` Authorization header."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            value = ""
    elif scheme.lower() != "device":
        value = ""
    code, _, secret = value.strip().partition(":")
    if not code or not secret:
        raise Unauthorized(code="sensing.auth.device_required")
    return code, secret


def _authenticate(services: Services, community: str, device: str, header: str | None,
                  raw: Raw) -> DeviceRef:
    code, secret = _credentials(header)
    if not COMMUNITY_RE.fullmatch(community) or not DEVICE_RE.fullmatch(device):
        raise NotFound(code="sensing.device_unknown", device=device[:64])
    with services.db.read() as session:
        ref = DIRECTORY.get(session, community, device)
    if code != device or ref is None or not registry.check_secret(
            ref.community_id, ref.code, ref.secret_digest, secret):
        if ref is not None:
            _refuse_credentials(services, ref, raw)
        raise Unauthorized(code="sensing.auth.device_failed")
    return ref


def _refuse_credentials(services: Services, ref: DeviceRef, raw: Raw) -> None:
    """Keep a dead letter of a failed log-in (at most 10 a minute per device)."""
    try:
        _state["failures"].hit(f"{ref.community_id}:{ref.code}")
    except RateLimited:
        return
    rejection = Rejection("sensing.dead_letter.bad_credentials", {"device": ref.code})
    with services.db.write() as session:
        session.execute(insert(DeadLetter).values(
            community_id=ref.community_id, device_id=ref.id, community_code=ref.community,
            device_code=ref.code, device_type=ref.type.id, topic=raw.topic[:512],
            transport=Transport.http, reason=rejection.code, reasons=[rejection.as_dict()],
            payload=raw.payload[:1024], payload_size=len(raw.payload), partial=False,
            received_at=raw.received_at))


def _ingest(services: Services, community: str, device: str, channel: str,
            header: str | None, payload: bytes) -> Response:
    pipeline = _pipeline()
    topic = f"shequ/v1/{community.lower()}/{device}/{channel}"
    raw = Raw(topic, payload, now_utc(), Transport.http)
    ref = _authenticate(services, community.lower(), device, header, raw)
    _state["limiter"].hit(f"{ref.community_id}:{ref.code}")
    with services.db.write() as session:
        outcome = pipeline.ingest(session, [Raw(topic, payload, raw.received_at, Transport.http,
                                                ref)], throttle=False)
    body = IngestOutcome(received=outcome.messages, stored=outcome.stored,
                         duplicates=outcome.duplicates, rejected=outcome.dead_letters,
                         rejections=outcome.rejections).model_dump(mode="json")
    accepted = outcome.stored + outcome.duplicates > 0
    return json_response(body, 202 if accepted else 422)


@router.post(
    "/ingest/{community}/{device}/{channel:path}", status_code=202,
    response_model=IngestOutcome, summary="HTTP ingest for devices that cannot speak MQTT",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}}}},
    responses={401: {"description": "missing or wrong device credentials"},
               422: {"description": "every message was refused (dead-lettered)"},
               429: {"description": "the device sends too much"}})
async def ingest(request: Request, services: ServicesDep,
                 community: Annotated[str, Path(max_length=63)],
                 device: Annotated[str, Path(max_length=128)],
                 channel: Annotated[str, Path(max_length=16)]) -> Response:
    """Accept one payload (the device's format, as on MQTT); answers after it is stored."""
    payload = await request.body()
    return await run_in_threadpool(_ingest, services, community, device, channel,
                                   request.headers.get("authorization"), payload)


# ---------------------------------------------------------------------------------------------
# Devices: credentials, latest, history, shadow, commands, traces


@router.post("/devices/{device_id}/credentials", response_model=Credentials, status_code=201,
             summary="Give a device a new secret (shown once)")
def rotate_credentials(device_id: DeviceId, subject: CurrentSubject, services: ServicesDep,
                       session: WriteSession) -> Any:
    """Replace the device's secret; the broker account follows."""
    device = _device(session, subject, device_id, "update")
    secret = registry.rotate_secret(session, device)
    services.platform.record(session, subject, "devices.credentials", "devices", device.id,
                             device.community_id, None, {"code": device.code})
    return registry.credentials_view(session, device, secret)


@router.get("/devices/{device_id}/latest", summary="Latest value of every metric, online or not")
def latest(device_id: DeviceId, subject: CurrentSubject, session: ReadSession) -> Any:
    """The latest-state cache of one device."""
    device = _device(session, subject, device_id)
    return queries.latest(session, device, current_language())


def _window(device: Device, metric: str | None, start: dt.datetime | None,
            end: dt.datetime | None, bucket: str | None) -> queries.Window:
    metrics = [m for m in (metric or "").split(",") if m][:20]
    return queries.window(device, metrics, start, end, bucket)


Metric = Annotated[str | None, Query(max_length=400, description="comma-separated metrics")]
Bucket = Annotated[str | None, Query(pattern="^(1m|5m|15m|1h|6h|1d|auto)$",
                                     description="downsampling bucket; none = raw samples")]


@router.get("/devices/{device_id}/telemetry", summary="History of metrics, raw or downsampled")
def history(device_id: DeviceId, subject: CurrentSubject, session: ReadSession,
            metric: Metric = None, start: Since = None, end: Since = None,
            bucket: Bucket = None) -> Any:
    """Raw samples, or count/avg/min/max per bucket (from rollups over long ranges)."""
    device = _device(session, subject, device_id)
    return queries.history(session, device, _window(device, metric, start, end, bucket))


@router.get("/devices/{device_id}/telemetry/export", response_class=Response,
            summary="History as CSV")
def export(device_id: DeviceId, subject: CurrentSubject, session: ReadSession,
           metric: Metric = None, start: Since = None, end: Since = None,
           bucket: Bucket = None) -> Response:
    """The same history as CSV (UTF-8 with BOM, opens in Excel)."""
    device = _device(session, subject, device_id, "export")
    win = _window(device, metric, start, end, bucket)
    rows = list(queries.csv_rows(session, device, win))
    name = f"{device.code}-telemetry.csv"
    return StreamingResponse(csv_stream(queries.csv_header(win), iter(rows)), media_type=CSV_TYPE,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/devices/{device_id}/shadow", summary="Desired and reported state (device shadow)")
def get_shadow(device_id: DeviceId, subject: CurrentSubject, session: ReadSession) -> Any:
    """The shadow with the keys still to be applied (`delta`)."""
    return shadow.shadow_view(session, _device(session, subject, device_id))


def _command_view(row: Command) -> dict[str, Any]:
    return CommandRead.model_validate(row).model_dump(mode="json")


@router.post("/devices/{device_id}/commands", response_model=CommandRead, status_code=202,
             summary="Send a command (lights, valves, doors, screens, speakers…)")
def send_command(device_id: DeviceId, body: CommandCreate, subject: CurrentSubject,
                 services: ServicesDep) -> Any:
    """Queue a command for the ingest worker to send; optionally wait for the acknowledgement."""
    with services.db.write() as session:
        device = _device(session, subject, device_id, "command")
        row = shadow.issue(session, device, body.command, body.params,
                           actor_id=subject.actor_id, max_attempts=body.max_attempts)
        services.platform.record(session, subject, "devices.command", "devices", device.id,
                                 device.community_id, None,
                                 {"command": row.command, "params": row.params,
                                  "cmd_id": row.cmd_id})
        command_id = row.id
    view = _wait(services, command_id, body.wait_s)
    return json_response(view, 200 if view["status"] not in ("pending", "sent") else 202)


def _wait(services: Services, command_id: int, seconds: float) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + seconds
    while True:
        with services.db.read() as session:
            row = session.get(Command, command_id)
            assert row is not None
            view = _command_view(row)
        if view["status"] not in ("pending", "sent") or time.monotonic() >= deadline:
            return view
        time.sleep(0.05)


@router.get("/devices/{device_id}/commands", summary="Recent commands of a device")
def list_commands(device_id: DeviceId, subject: CurrentSubject, session: ReadSession,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    """Newest first, with status, attempts, round trip and response time."""
    device = _device(session, subject, device_id)
    rows = session.scalars(select(Command).where(Command.device_id == device.id)
                           .order_by(Command.issued_at.desc(), Command.id.desc()).limit(limit))
    return json_response([_command_view(row) for row in rows])


@router.get("/devices/{device_id}/commands/{command_id}", response_model=CommandRead,
            summary="One command")
def get_command(device_id: DeviceId, command_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                subject: CurrentSubject, session: ReadSession) -> Any:
    """A command and what became of it."""
    device = _device(session, subject, device_id)
    row = session.get(Command, command_id)
    if row is None or row.device_id != device.id:
        raise NotFound()
    return _command_view(row)


@router.get("/devices/{device_id}/trace/{msg_id}", summary="Follow one message")
def message_trace(device_id: DeviceId, msg_id: Annotated[str, Path(max_length=128)],
                  subject: CurrentSubject, session: ReadSession) -> Any:
    """Stored stages (received, decoded, stored, rules, alarms…), dead letters, the event."""
    return queries.trace(session, _device(session, subject, device_id), msg_id)


# ---------------------------------------------------------------------------------------------
# Community-wide: compliance, dead letters, statistics, connectivity, device types


def _between(column: Any, since: dt.datetime | None, until: dt.datetime | None) -> list[Any]:
    out = []
    if since is not None:
        out.append(column >= since)
    if until is not None:
        out.append(column < until)
    return out


def _scoped(subject: Subject, action: str, column: Any, community_id: int | None) -> Any:
    scope = devices.scope(subject, action)
    clause = scope_filter(scope, ScopeColumns(community=column))
    return clause if community_id is None else clause & (column == community_id)


@router.get("/sensing/compliance", summary="Devices that fall short of Table 1 indicators")
def compliance_report(subject: CurrentSubject, session: ReadSession,
                      community_id: CommunityFilter = None,
                      device_type: Annotated[str | None, Query(max_length=64)] = None,
                      proven_only: bool = False) -> Any:
    """Each device with its missing, unusable or failed indicators (`proven_only`: failed)."""
    stmt = devices.visible(subject, "read").order_by(Device.code)
    if community_id is not None:
        stmt = stmt.where(Device.community_id == community_id)
    if device_type:
        stmt = stmt.where(Device.device_type == device_type)
    rows = queries.compliance_rows(session.scalars(stmt.limit(20_000)).all(),
                                   current_language(), proven_only)
    return json_response({"devices": rows, "total": len(rows)})


@router.get("/sensing/dead-letters", summary="Refused messages with their reasons")
def dead_letters(subject: CurrentSubject, session: ReadSession,
                 community_id: CommunityFilter = None,
                 reason: Annotated[str | None, Query(max_length=64)] = None,
                 device_id: CommunityFilter = None, since: Since = None, until: Since = None,
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                 page_size: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    """Newest first; the payload is shown as text (invalid UTF-8 replaced)."""
    where = [_scoped(subject, "read", DeadLetter.community_id, community_id),
             *_between(DeadLetter.received_at, since, until)]
    if reason is not None:
        where.append(DeadLetter.reason == reason)
    if device_id is not None:
        where.append(DeadLetter.device_id == device_id)
    total = session.scalar(select(func.count()).select_from(DeadLetter).where(*where)) or 0
    rows = session.scalars(select(DeadLetter).where(*where)
                           .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
                           .limit(page_size).offset((page - 1) * page_size)).all()
    return json_response({"items": [_letter(row) for row in rows], "total": total,
                          "page": page, "page_size": page_size})


def _letter(row: DeadLetter) -> dict[str, Any]:
    return {"id": row.id, "community_id": row.community_id, "device_id": row.device_id,
            "community_code": row.community_code, "device_code": row.device_code,
            "device_type": row.device_type, "topic": row.topic, "transport": row.transport,
            "reason": row.reason, "reasons": row.reasons, "msg_id": row.msg_id,
            "payload": row.payload.decode("utf-8", "replace") if row.payload else None,
            "payload_size": row.payload_size, "partial": row.partial,
            "received_at": row.received_at.isoformat()}


@router.get("/sensing/dead-letters/stats", summary="Refused messages counted by reason or type")
def dead_letter_stats(subject: CurrentSubject, session: ReadSession,
                      by: Annotated[str, Query(pattern="^(reason|device_type|transport)$")],
                      community_id: CommunityFilter = None, since: Since = None,
                      until: Since = None) -> Any:
    """Counts per reason (or device type, or transport)."""
    column = getattr(DeadLetter, by)
    where = [_scoped(subject, "stats", DeadLetter.community_id, community_id),
             *_between(DeadLetter.received_at, since, until)]
    rows = session.execute(select(column, func.count()).where(*where).group_by(column)
                           .order_by(func.count().desc())).all()
    return {"by": by, "groups": [{"key": key, "count": n} for key, n in rows],
            "total": sum(n for _, n in rows)}


@router.get("/sensing/stats", summary="Messages per device type or channel: received, stored…")
def ingest_stats(subject: CurrentSubject, session: ReadSession,
                 by: Annotated[str, Query(pattern="^(device_type|channel)$")] = "device_type",
                 community_id: CommunityFilter = None, since: Since = None,
                 until: Since = None) -> Any:
    """Received, stored, duplicate and refused messages, points and bytes, per group."""
    column = getattr(IngestStat, by)
    where = [_scoped(subject, "stats", IngestStat.community_id, community_id),
             *_between(IngestStat.bucket, since or now_utc() - dt.timedelta(days=1), until)]
    fields = ("received", "stored", "duplicates", "rejected", "points", "size")
    rows = session.execute(select(column, *(func.sum(getattr(IngestStat, f)) for f in fields))
                           .where(*where).group_by(column).order_by(column)).all()
    return {"by": by, "groups": [{"key": row[0], **{f: int(v or 0) for f, v in zip(
        fields, row[1:], strict=True)}} for row in rows]}


@router.get("/sensing/connectivity", summary="Devices online, offline and unknown, per type")
def connectivity(subject: CurrentSubject, session: ReadSession,
                 community_id: CommunityFilter = None) -> Any:
    """Counts of live devices by type and connectivity."""
    stmt = devices.visible(subject, "stats").with_only_columns(
        Device.device_type, Device.connectivity, func.count()).group_by(
        Device.device_type, Device.connectivity).order_by(Device.device_type)
    if community_id is not None:
        stmt = stmt.where(Device.community_id == community_id)
    out: dict[str, dict[str, int]] = {}
    for type_id, state, n in session.execute(stmt):
        out.setdefault(type_id, {"online": 0, "offline": 0, "unknown": 0})[str(state)] = n
    return {"types": out}


@router.get("/sensing/device-types", summary="The device type catalogue")
def device_types(subject: CurrentSubject) -> Any:
    """Every type with its metrics, events, commands, state keys and indicators."""
    if subject.scope_for("devices:read").empty:
        raise Forbidden(code="auth.missing_permission", permission="devices:read")
    lang = current_language()
    return [{"id": t.id, "name": t.name(lang), "group": t.group, "row": t.row,
             "heartbeat_timeout_s": t.heartbeat_timeout_s, "retention_days": t.retention_days,
             "metrics": [{"key": m.key, "name": m.name_en if lang == "en" else m.name_zh,
                          "kind": m.kind, "unit": m.unit, "min": m.minimum, "max": m.maximum}
                         for m in t.metrics],
             "events": [e.key for e in t.events], "commands": [c.key for c in t.commands],
             "state": [s.key for s in t.state],
             "indicators": [i.key for i in t.all_indicators()]}
            for t in default_catalogue()]
