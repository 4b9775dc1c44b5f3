"""The ingest pipeline: a batch of raw device messages in, stored rows and events out.

    raw (topic, payload) ─▶ resolve device ─▶ decode (adapter) ─▶ validate (device type)
        ─▶ budget ─▶ dead letters ─▶ telemetry (idempotent) ─▶ events ─▶ shadow / commands
        ─▶ latest state, last seen, online ─▶ rollup marks ─▶ statistics ─▶ traces
        ─▶ after commit: bus events (sensing.telemetry, sensing.event, …)

`Pipeline.ingest()` does all of it inside the caller's transaction and never raises for bad
input: every refusal is a dead-letter row with its reason. The MQTT worker acknowledges a
batch only after the transaction commits; the HTTP route answers after it commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import Session

from shequ.bus import Bus, default_bus
from shequ.kit.db import after_commit
from shequ.sensing import shadow
from shequ.sensing.adapters import Decoded, decode_payload
from shequ.sensing.catalogue import MetricSpec
from shequ.sensing.models import (
    Connectivity,
    DeadLetter,
    Device,
    Lifecycle,
    MessageTrace,
    Transport,
)
from shequ.sensing.readings import Kind, Message, Rejection, epoch_us, now_utc, screen
from shequ.sensing.registry import DIRECTORY, DeviceRef, Directory
from shequ.sensing.settings import SensingSettings
from shequ.sensing.storage import (
    LatestUpdate,
    Samples,
    StatKey,
    add_stats,
    among,
    insert_events,
    insert_receipts,
    insert_samples,
    mark_dirty,
    merge_latest,
)
from shequ.sensing.topics import TopicError, TopicInfo, parse_topic

DEAD_LETTER_PAYLOAD = 1024
"""Bytes of an oversized payload kept in its dead letter (others are kept whole)."""
LAST_SEEN_STEP = dt.timedelta(seconds=60)
"""How stale the ledger's `last_seen_at` may get before a batch refreshes it."""
RECEIVED, STORED, DUPLICATES, REJECTED, POINTS, SIZE = range(6)
NATIVE = "native"
WRONG_CHANNEL = "sensing.dead_letter.wrong_channel"


@dataclass(frozen=True, slots=True)
class Raw:
    """One payload as received: topic, bytes, receive time, transport, and (HTTP) the device
    already authenticated by the route."""

    topic: str
    payload: bytes
    received_at: dt.datetime
    transport: Transport = Transport.mqtt
    device: DeviceRef | None = None


@dataclass
class Outcome:
    """What a batch did."""

    received: int = 0
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    points: int = 0
    dead_letters: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    online: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Accepted:
    """A kept message with its device, the raw payload it came from and its counters."""

    ref: DeviceRef
    message: Message
    raw: Raw
    stats: list[int]


class Budget:
    """At most `per_minute` messages per device and minute of message time (flood control).

    Counting by message time (not arrival) lets a backlog drain after an outage without being
    mistaken for a flood. Keys are kept in LRU order, at most `capacity` of them.
    """

    def __init__(self, per_minute: int, capacity: int = 200_000) -> None:
        self.per_minute = per_minute
        self.capacity = capacity
        self._counts: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, device_id: int, ts: dt.datetime) -> bool:
        """Count one message; False when the device is over its budget for that minute."""
        key = (device_id, epoch_us(ts) // 60_000_000)
        with self._lock:
            count = self._counts.pop(key, 0) + 1
            self._counts[key] = count
            if len(self._counts) > self.capacity:
                self._counts.popitem(last=False)
        return count <= self.per_minute


def minute(ts: dt.datetime) -> dt.datetime:
    """The start of the UTC minute holding `ts`."""
    return ts.replace(second=0, microsecond=0)


def trace_id(community: str, device: str, msg_id: str) -> str:
    """The bus trace id of a device message."""
    return f"{community}/{device}/{msg_id}"


def sample_value(spec: MetricSpec, value: Any) -> tuple[float | None, str | None]:
    """A metric value as stored: numbers and booleans in `num`, enums and text in `txt`."""
    if spec.kind in ("number", "integer"):
        return float(value), None
    if spec.kind == "boolean":
        return (1.0 if value else 0.0), None
    return None, str(value)


class _Batch:
    """The working state of one `Pipeline.ingest` call."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.outcome = Outcome()
        self.accepted: list[_Accepted] = []
        self.dead: list[dict[str, Any]] = []
        self.stats: dict[StatKey, list[int]] = {}
        self.traces: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any], str | None]] = []

    def counters(self, ref: DeviceRef, raw: Raw, channel: str) -> list[int]:
        """The statistics of the device's community and type, the channel and the minute."""
        key = (ref.community_id, minute(raw.received_at), ref.type.id, channel)
        counts = self.stats.get(key)
        if counts is None:
            counts = self.stats[key] = [0, 0, 0, 0, 0, 0]
        return counts

    def refuse(self, raw: Raw, rejections: Sequence[Rejection], *, ref: DeviceRef | None = None,
               topic: TopicInfo | None = None, msg_id: str | None = None,
               partial: bool = False) -> None:
        """Dead-letter a payload (or the refused part of a message) with its reasons."""
        oversized = any(r.code == "sensing.dead_letter.oversized" for r in rejections)
        reasons = [r.as_dict() for r in rejections]
        self.dead.append({
            "community_id": ref.community_id if ref else None,
            "device_id": ref.id if ref else None,
            "community_code": (topic.community if topic else None) or (
                ref.community if ref else None),
            "device_code": (topic.device if topic else None) or (ref.code if ref else None),
            "device_type": ref.type.id if ref else None,
            "topic": raw.topic[:512], "transport": raw.transport.value,
            "reason": rejections[0].code[:64], "reasons": reasons, "msg_id": msg_id,
            "payload": raw.payload[:DEAD_LETTER_PAYLOAD] if oversized else raw.payload,
            "payload_size": len(raw.payload), "partial": partial,
            "received_at": raw.received_at,
        })
        self.outcome.dead_letters += 1
        for reason in reasons:
            self.outcome.rejections.append({"msg_id": msg_id, **reason})
        self.events.append(("sensing.dead_letter", {
            "community_id": ref.community_id if ref else None,
            "device_id": ref.id if ref else None, "topic": raw.topic[:512],
            "reason": rejections[0].code, "partial": partial}, None))


@dataclass
class Pipeline:
    """The ingest pipeline with its settings, device directory and bus."""

    settings: SensingSettings
    directory: Directory = DIRECTORY
    bus: Bus | None = None
    budget: Budget | None = None

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = Budget(self.settings.device_budget_per_minute)

    # -- the whole batch -------------------------------------------------------------------

    def ingest(self, session: Session, raws: Sequence[Raw], now: dt.datetime | None = None,
               *, throttle: bool = True) -> Outcome:
        """Decode, validate, store and count a batch in the caller's transaction."""
        batch = _Batch(now or now_utc())
        batch.outcome.received = len(raws)
        refs = self._resolve(session, raws, batch)
        for raw, topic, ref in refs:
            self._admit(raw, topic, ref, batch, throttle)
        self._store(session, batch)
        self._finish(session, batch)
        return batch.outcome

    def _resolve(self, session: Session, raws: Sequence[Raw], batch: _Batch
                 ) -> list[tuple[Raw, TopicInfo, DeviceRef]]:
        parsed: list[tuple[Raw, TopicInfo]] = []
        for raw in raws:
            try:
                parsed.append((raw, parse_topic(raw.topic)))
            except TopicError as error:
                batch.refuse(raw, [Rejection.from_error(error)])
        keys = {(topic.community, topic.device) for raw, topic in parsed if raw.device is None}
        found = self.directory.resolve(session, keys) if keys else {}
        out = []
        for raw, topic in parsed:
            ref = raw.device or found.get((topic.community, topic.device))
            if ref is None:
                batch.refuse(raw, [Rejection("sensing.dead_letter.unknown_device", {
                    "community": topic.community, "device": topic.device})], topic=topic)
            elif ref.retired:
                batch.refuse(raw, [Rejection("sensing.dead_letter.device_retired",
                                             {"device": ref.code})], ref=ref, topic=topic)
                counts = batch.counters(ref, raw, topic.channel.value)
                counts[RECEIVED] += 1
                counts[REJECTED] += 1
            else:
                out.append((raw, topic, ref))
        return out

    def _admit(self, raw: Raw, topic: TopicInfo, ref: DeviceRef, batch: _Batch,
               throttle: bool) -> None:
        counts = batch.counters(ref, raw, topic.channel.value)
        counts[RECEIVED] += 1
        counts[SIZE] += len(raw.payload)
        decoded = self._decode(ref.payload_format, topic, raw)
        if decoded.rejections:
            batch.refuse(raw, decoded.rejections, ref=ref, topic=topic)
            counts[REJECTED] += 1
            return
        limits = self.settings.limits()
        for message in decoded.messages:
            batch.outcome.messages += 1
            kept, rejections = screen(message, ref.type, batch.now, limits)
            if kept is not None and throttle and not self._allowed(ref, kept):
                kept, rejections = None, [Rejection("sensing.dead_letter.rate_limited", {
                    "device": ref.code, "limit": self.settings.device_budget_per_minute})]
            if rejections:
                batch.refuse(raw, rejections, ref=ref, topic=topic, msg_id=message.id,
                             partial=kept is not None)
            if kept is None:
                counts[REJECTED] += 1
                continue
            batch.accepted.append(_Accepted(ref, kept, raw, counts))

    def _decode(self, payload_format: str, topic: TopicInfo, raw: Raw) -> Decoded:
        """Decode with the device's format; channels a foreign format does not carry
        (heartbeat, state, acknowledgements) fall back to the native format."""
        decoded = decode_payload(payload_format, topic, raw.payload, raw.received_at,
                                 max_bytes=self.settings.max_payload_bytes)
        if payload_format != NATIVE and [r.code for r in decoded.rejections] == [WRONG_CHANNEL]:
            return self._decode(NATIVE, topic, raw)
        return decoded

    def _allowed(self, ref: DeviceRef, message: Message) -> bool:
        budget = self.budget
        return budget is None or budget.allow(ref.id, message.ts)

    # -- storage ---------------------------------------------------------------------------

    def _store(self, session: Session, batch: _Batch) -> None:
        by_kind: dict[Kind, list[_Accepted]] = {kind: [] for kind in Kind}
        for item in self._first_receipts(session, batch):
            by_kind[item.message.kind].append(item)
        new = self._store_telemetry(session, by_kind[Kind.TELEMETRY], batch)
        new += self._store_events(session, by_kind[Kind.EVENT], batch)
        new += self._store_states(session, by_kind[Kind.STATE], batch)
        new += self._store_acks(session, by_kind[Kind.ACK], batch)
        new += by_kind[Kind.HEARTBEAT]
        for item in new:
            item.stats[STORED] += 1
        batch.outcome.stored += len(new)

    def _first_receipts(self, session: Session, batch: _Batch) -> list[_Accepted]:
        """Drop repeats of messages that carry an id but no timestamp (their identity)."""
        needs = [item for item in batch.accepted
                 if item.message.ts_assumed and not item.message.derived_id]
        if not needs:
            return batch.accepted
        rows = {(item.ref.id, item.message.id): item for item in needs}
        fresh = insert_receipts(session, [{"device_id": d, "msg_id": m,
                                           "received_at": batch.now} for d, m in rows])
        repeated = {id(item) for key, item in rows.items() if key not in fresh}
        for item in needs:
            if id(item) in repeated:
                self._duplicate(batch, item)
        return [item for item in batch.accepted if id(item) not in repeated]

    def _duplicate(self, batch: _Batch, item: _Accepted) -> None:
        batch.outcome.duplicates += 1
        item.stats[DUPLICATES] += 1

    def _store_telemetry(self, session: Session, items: list[_Accepted], batch: _Batch
                         ) -> list[_Accepted]:
        samples = Samples()
        for item in items:
            ref, message = item.ref, item.message
            index = ref.type.metric_index
            for key, value in message.values.items():
                num, txt = sample_value(index[key], value)
                samples.add(ref.community_id, ref.id, key, message.ts, num, txt)
        fresh = insert_samples(session, samples)
        batch.outcome.points += sum(fresh.values())
        stored = []
        for item in items:
            if (item.ref.id, epoch_us(item.message.ts)) in fresh:
                stored.append(item)
                item.stats[POINTS] += len(item.message.values)
            else:
                self._duplicate(batch, item)
        mark_dirty(session, {(item.ref.community_id, minute(item.message.ts))
                             for item in stored})
        self._emit_telemetry(batch, stored)
        return stored

    def _emit_telemetry(self, batch: _Batch, stored: list[_Accepted]) -> None:
        """One ``sensing.telemetry`` envelope per community and batch, listing the messages."""
        by_community: dict[int, list[dict[str, Any]]] = {}
        for item in stored:
            ref, message = item.ref, item.message
            by_community.setdefault(ref.community_id, []).append({
                "device_id": ref.id, "device": ref.code, "device_type": ref.type.id,
                "msg_id": message.id, "ts": message.ts, "values": message.values})
            if self._traced(message):
                self._trace_rows(batch, item, "sensing.telemetry")
        for community_id, items in by_community.items():
            batch.events.append(("sensing.telemetry", {"community_id": community_id,
                                                       "items": items}, None))

    def _store_events(self, session: Session, items: list[_Accepted], batch: _Batch
                      ) -> list[_Accepted]:
        rows = [{"community_id": item.ref.community_id, "device_id": item.ref.id,
                 "msg_id": item.message.id, "ts": item.message.ts,
                 "event": item.message.event or "",
                 "severity": item.ref.type.event_index[item.message.event or ""].severity,
                 "data": item.message.values, "received_at": item.raw.received_at}
                for item in items]
        fresh = set(insert_events(session, rows))
        stored = []
        for item in items:
            if (item.ref.id, item.message.id) in fresh:
                stored.append(item)
                spec = item.ref.type.event_index[item.message.event or ""]
                self._emit(batch, "sensing.event", item, {
                    "event": spec.key, "severity": spec.severity, "data": item.message.values})
            else:
                self._duplicate(batch, item)
        return stored

    def _store_states(self, session: Session, items: list[_Accepted], batch: _Batch
                      ) -> list[_Accepted]:
        for item in items:
            shadow.report(session, item.ref, item.message.values, item.message.ts)
            self._emit(batch, "sensing.state", item, {"state": item.message.values})
        return items

    def _store_acks(self, session: Session, items: list[_Accepted], batch: _Batch
                    ) -> list[_Accepted]:
        stored = []
        for item in items:
            message = item.message
            result = shadow.acknowledge(session, item.ref, message, item.raw.received_at)
            if result is None:
                batch.refuse(item.raw, [Rejection("sensing.dead_letter.unknown_command", {
                    "command": message.ack})], ref=item.ref, msg_id=message.id)
                item.stats[REJECTED] += 1
                continue
            if message.values:
                shadow.report(session, item.ref, message.values, message.ts)
            stored.append(item)
            self._emit(batch, "sensing.command.acked", item, result)
        return stored

    # -- latest, online, statistics, traces, events -----------------------------------------

    def _finish(self, session: Session, batch: _Batch) -> None:
        updates: dict[int, LatestUpdate] = {}
        for item in batch.accepted:
            ref, message = item.ref, item.message
            update_ = updates.get(ref.id)
            if update_ is None:
                update_ = updates[ref.id] = LatestUpdate(ref.community_id)
            update_.heard(item.raw.received_at)
            if message.kind is Kind.TELEMETRY:
                update_.samples(message.values, message.ts, epoch_us(message.ts) // 1000)
        merge_latest(session, updates)
        batch.outcome.online = self._mark_online(session, sorted(updates), batch.now)
        for device_id in batch.outcome.online:
            batch.events.append(("sensing.device.online", {
                "device_id": device_id, "community_id": updates[device_id].community_id}, None))
        if batch.dead:
            session.execute(insert(DeadLetter), batch.dead)
        add_stats(session, batch.stats)
        self._trace(session, batch)
        if batch.events:
            events, bus = batch.events, self.bus or default_bus()
            after_commit(session, lambda: _publish(bus, events))

    def _mark_online(self, session: Session, ids: list[int], now: dt.datetime) -> list[int]:
        if not ids:
            return []
        active = {"lifecycle": _activate(), "updated_at": Device.updated_at}
        flipped = list(session.scalars(
            update(Device).where(among(session, Device.id, ids),
                                 Device.connectivity != Connectivity.online)
            .values(connectivity=Connectivity.online, last_seen_at=now, **active)
            .returning(Device.id).execution_options(synchronize_session=False)))
        session.execute(
            update(Device).where(among(session, Device.id, ids), or_(
                Device.last_seen_at.is_(None), Device.last_seen_at < now - LAST_SEEN_STEP,
                Device.lifecycle == Lifecycle.installed))
            .values(last_seen_at=now, **active).execution_options(synchronize_session=False))
        return sorted(flipped)

    def _emit(self, batch: _Batch, topic: str, item: _Accepted, data: Mapping[str, Any]
              ) -> None:
        ref, message = item.ref, item.message
        traced = self._traced(message)
        batch.events.append((topic, {
            "community_id": ref.community_id, "device_id": ref.id, "device": ref.code,
            "device_type": ref.type.id, "msg_id": message.id, "ts": message.ts.isoformat(),
            **data}, trace_id(ref.community, ref.code, message.id) if traced else None))
        if traced:
            self._trace_rows(batch, item, topic)

    def _traced(self, message: Message) -> bool:
        if message.kind is Kind.EVENT:
            return True
        sample = self.settings.trace_sample
        if not sample:
            return False
        digest = hashlib.blake2b(message.id.encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % sample == 0

    def _trace_rows(self, batch: _Batch, item: _Accepted, topic: str) -> None:
        ref, message, raw = item.ref, item.message, item.raw
        base = {"community_id": ref.community_id, "device_id": ref.id, "msg_id": message.id}
        batch.traces += [
            {**base, "stage": "received", "at": raw.received_at, "detail": {
                "topic": raw.topic, "transport": raw.transport.value,
                "size": len(raw.payload)}},
            {**base, "stage": "decoded", "at": batch.now, "detail": {
                "kind": message.kind.value, "ts": message.ts.isoformat(),
                "format": ref.payload_format, "values": len(message.values)}},
            {**base, "stage": "stored", "at": batch.now, "detail": {"bus_topic": topic}},
        ]

    def _trace(self, session: Session, batch: _Batch) -> None:
        if batch.traces:
            session.execute(insert(MessageTrace), batch.traces)


def _activate() -> Any:
    from sqlalchemy import case

    return case((Device.lifecycle == Lifecycle.installed, Lifecycle.active.value),
                else_=Device.lifecycle)


def _publish(bus: Bus, events: Iterable[tuple[str, dict[str, Any], str | None]]) -> None:
    for topic, data, trace in events:
        bus.publish(topic, data, trace_id=trace)


def record_trace(session: Session, community_id: int | None, device_id: int | None,
                 msg_id: str, stage: str, detail: Mapping[str, Any] | None = None) -> None:
    """Add a stage to a message's stored trace (rules, alarms and linkage call this)."""
    session.add(MessageTrace(community_id=community_id, device_id=device_id, msg_id=msg_id,
                             stage=stage, detail=dict(detail or {})))

