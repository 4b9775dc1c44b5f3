"""The bus interface and its in-process implementation.

Topics are NATS-style subjects: tokens of ``[A-Za-z0-9_-]`` joined by dots, e.g.
``sensing.telemetry`` or ``sensing.device.offline``. Patterns may use ``*`` for one token and
``>`` (last) for one or more tokens, so a JetStream backend can map them one to one.

Every published envelope may carry a `trace_id` (for device messages, their identity); the bus
records a trace entry when it publishes and when each subscriber handles or fails the
envelope, and subscribers may add their own stages (`record`). Counters per topic say how
many envelopes were published, delivered and failed.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

log = logging.getLogger("shequ.bus")

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Envelope:
    """One published event: topic, data, identity, trace id and publication time."""

    topic: str
    data: Mapping[str, Any]
    id: str
    trace_id: str | None
    published_at: datetime


Handler = Callable[[Envelope], None]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One stage a traced envelope went through."""

    trace_id: str
    stage: str
    at: datetime
    topic: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TopicStats:
    """Counters of one topic."""

    published: int = 0
    delivered: int = 0
    failed: int = 0
    last_published_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {"published": self.published, "delivered": self.delivered,
                "failed": self.failed,
                "last_published_at": self.last_published_at.isoformat()
                if self.last_published_at else None}


class Subscription(Protocol):
    """A registered handler; `unsubscribe()` removes it."""

    pattern: str
    name: str

    def unsubscribe(self) -> None:
        """Stop delivering to this handler."""


class Bus(Protocol):
    """Publish/subscribe with traces and statistics (in-process or NATS JetStream)."""

    def publish(self, topic: str, data: Mapping[str, Any], *,
                trace_id: str | None = None) -> Envelope:
        """Deliver an event to every matching subscriber."""

    def subscribe(self, pattern: str, handler: Handler, *,
                  name: str | None = None) -> Subscription:
        """Register a handler for a topic pattern."""

    def record(self, trace_id: str, stage: str, detail: Mapping[str, Any] | None = None,
               topic: str | None = None) -> None:
        """Add a stage to a trace (subscribers call this for their own steps)."""

    def trace(self, trace_id: str) -> list[TraceRecord]:
        """The recorded stages of one trace id, oldest first."""

    def stats(self) -> dict[str, TopicStats]:
        """Counters per topic."""

    def pending(self) -> dict[str, int]:
        """Envelopes published but not yet handled, per subscription (the backlog)."""

    def close(self) -> None:
        """Release resources."""


def check_topic(topic: str) -> str:
    """Return a valid concrete topic or raise ValueError."""
    tokens = topic.split(".")
    if len(tokens) > MAX_TOKENS or not all(TOKEN_RE.fullmatch(token) for token in tokens):
        raise ValueError(f"invalid bus topic {topic!r}")
    return topic


def check_pattern(pattern: str) -> str:
    """Return a valid subscription pattern (``*`` one token, ``>`` the rest) or raise."""
    parts = pattern.split(".")
    for index, part in enumerate(parts):
        if part == ">" and index == len(parts) - 1:
            continue
        if part != "*" and not TOKEN_RE.fullmatch(part):
            raise ValueError(f"invalid bus pattern {pattern!r}")
    return pattern


@lru_cache(maxsize=4096)
def matches(pattern: str, topic: str) -> bool:
    """Whether a topic matches a pattern."""
    wanted, tokens = pattern.split("."), topic.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or part not in ("*", tokens[index]):
            return False
    return len(wanted) == len(tokens)


@dataclass
class _Subscription:
    """A handler registered on an in-process bus."""

    pattern: str
    name: str
    handler: Handler
    bus: InProcessBus

    def unsubscribe(self) -> None:
        """Stop delivering to this handler."""
        self.bus.remove(self)


class InProcessBus:
    """Synchronous delivery in the publisher's thread; failures are counted, never raised.

    Traces are kept in memory for the last `trace_capacity` records.
    """

    def __init__(self, trace_capacity: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[_Subscription] = []
        self._routes: dict[str, tuple[_Subscription, ...]] = {}
        self._stats: dict[str, TopicStats] = {}
        self._traces: deque[TraceRecord] = deque(maxlen=trace_capacity)

    def subscribe(self, pattern: str, handler: Handler, *,
                  name: str | None = None) -> _Subscription:
        """Register a handler for a topic pattern."""
        subscription = _Subscription(check_pattern(pattern), name or _name_of(handler),
                                     handler, self)
        with self._lock:
            self._subscriptions.append(subscription)
            self._routes.clear()
        return subscription

    def remove(self, subscription: _Subscription) -> None:
        """Remove a subscription (idempotent)."""
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            self._routes.clear()

    def _route(self, topic: str) -> tuple[_Subscription, ...]:
        route = self._routes.get(topic)
        if route is None:
            with self._lock:
                route = tuple(s for s in self._subscriptions if matches(s.pattern, topic))
                self._routes[topic] = route
        return route

    def publish(self, topic: str, data: Mapping[str, Any], *,
                trace_id: str | None = None) -> Envelope:
        """Deliver an event to every matching subscriber, in subscription order."""
        now = datetime.now(UTC)
        envelope = Envelope(check_topic(topic), data, uuid.uuid4().hex, trace_id, now)
        counters = self._counters(topic)
        counters.published += 1
        counters.last_published_at = now
        if trace_id is not None:
            self.record(trace_id, "published", {"envelope": envelope.id}, topic)
        for subscription in self._route(topic):
            self._deliver(subscription, envelope, counters)
        return envelope

    def _deliver(self, subscription: _Subscription, envelope: Envelope,
                 counters: TopicStats) -> None:
        try:
            subscription.handler(envelope)
        except Exception as exc:  # a failing subscriber must not stop the others
            counters.failed += 1
            log.exception("bus handler %s failed on %s", subscription.name, envelope.topic)
            if envelope.trace_id is not None:
                self.record(envelope.trace_id, f"failed:{subscription.name}",
                            {"error": type(exc).__name__}, envelope.topic)
            return
        counters.delivered += 1
        if envelope.trace_id is not None:
            self.record(envelope.trace_id, f"handled:{subscription.name}", {}, envelope.topic)

    def _counters(self, topic: str) -> TopicStats:
        counters = self._stats.get(topic)
        if counters is None:
            with self._lock:
                counters = self._stats.setdefault(topic, TopicStats())
        return counters

    def record(self, trace_id: str, stage: str, detail: Mapping[str, Any] | None = None,
               topic: str | None = None) -> None:
        """Add a stage to a trace."""
        self._traces.append(TraceRecord(trace_id, stage, datetime.now(UTC), topic,
                                        dict(detail or {})))

    def trace(self, trace_id: str) -> list[TraceRecord]:
        """The recorded stages of one trace id, oldest first."""
        return [record for record in list(self._traces) if record.trace_id == trace_id]

    def stats(self) -> dict[str, TopicStats]:
        """Counters per topic (a copy)."""
        with self._lock:
            return {topic: TopicStats(s.published, s.delivered, s.failed, s.last_published_at)
                    for topic, s in self._stats.items()}

    def pending(self) -> dict[str, int]:
        """Synchronous delivery keeps no backlog."""
        return {s.name: 0 for s in self._subscriptions}

    def close(self) -> None:
        """Forget every subscription."""
        with self._lock:
            self._subscriptions.clear()
            self._routes.clear()


def _name_of(handler: Handler) -> str:
    module = getattr(handler, "__module__", "") or ""
    return f"{module}.{getattr(handler, '__qualname__', type(handler).__name__)}".strip(".")


_state: dict[str, Bus] = {}
_default_lock = threading.Lock()


def default_bus() -> Bus:
    """The process's bus (in-process unless another was installed)."""
    with _default_lock:
        bus = _state.get("default")
        if bus is None:
            bus = _state["default"] = InProcessBus()
        return bus


def set_default_bus(bus: Bus | None) -> None:
    """Install a bus for the process (None resets to a fresh in-process bus on next use)."""
    with _default_lock:
        if bus is None:
            _state.pop("default", None)
        else:
            _state["default"] = bus
