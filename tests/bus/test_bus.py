"""The in-process bus: topics and patterns, delivery, failures, traces, statistics."""

from __future__ import annotations

from typing import Any

import pytest

from shequ.bus import (
    Envelope,
    InProcessBus,
    check_pattern,
    check_topic,
    default_bus,
    matches,
    set_default_bus,
)


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("sensing.telemetry", "sensing.telemetry", True),
    ("sensing.*", "sensing.telemetry", True),
    ("sensing.*", "sensing.device.online", False),
    ("sensing.>", "sensing.device.online", True),
    ("sensing.>", "sensing", False),
    (">", "cases.opened", True),
    ("*.opened", "cases.opened", True),
    ("cases.opened", "cases.closed", False),
])
def test_patterns_match_like_nats_subjects(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize("bad", ["", "a..b", "a.>.b", "a b", "a.*"])
def test_concrete_topics_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        check_topic(bad)


def test_patterns_are_checked() -> None:
    assert check_pattern("a.*.>") == "a.*.>"
    with pytest.raises(ValueError):
        check_pattern("a.>.b")


def test_delivery_in_order_with_failures_counted_not_raised() -> None:
    bus = InProcessBus()
    seen: list[tuple[str, Any]] = []

    def broken(envelope: Envelope) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("sensing.>", lambda e: seen.append(("first", e.data["n"])), name="first")
    bus.subscribe("sensing.event", broken, name="broken")
    bus.subscribe("sensing.event", lambda e: seen.append(("last", e.data["n"])), name="last")
    bus.publish("sensing.event", {"n": 1}, trace_id="c1/d1/m1")
    bus.publish("sensing.telemetry", {"n": 2})
    bus.publish("cases.opened", {"n": 3})
    assert seen == [("first", 1), ("last", 1), ("first", 2)]
    stats = {topic: s.as_dict() for topic, s in bus.stats().items()}
    assert stats["sensing.event"]["published"] == 1
    assert (stats["sensing.event"]["delivered"], stats["sensing.event"]["failed"]) == (2, 1)
    assert stats["cases.opened"]["delivered"] == 0
    stages = [record.stage for record in bus.trace("c1/d1/m1")]
    assert stages == ["published", "handled:first", "failed:broken", "handled:last"]
    assert bus.pending() == {"first": 0, "broken": 0, "last": 0}


def test_subscribers_may_add_their_own_trace_stages_and_unsubscribe() -> None:
    bus = InProcessBus()

    def rules(envelope: Envelope) -> None:
        assert envelope.trace_id is not None
        bus.record(envelope.trace_id, "rules", {"matched": 1})

    subscription = bus.subscribe("sensing.event", rules, name="rules")
    bus.publish("sensing.event", {}, trace_id="t1")
    subscription.unsubscribe()
    bus.publish("sensing.event", {}, trace_id="t2")
    assert [r.stage for r in bus.trace("t1")] == ["published", "rules", "handled:rules"]
    assert [r.stage for r in bus.trace("t2")] == ["published"]


def test_traces_are_bounded() -> None:
    bus = InProcessBus(trace_capacity=10)
    for n in range(20):
        bus.publish("a.b", {}, trace_id=f"t{n}")
    assert bus.trace("t0") == [] and len(bus.trace("t19")) == 1


def test_the_default_bus_can_be_replaced() -> None:
    mine = InProcessBus()
    set_default_bus(mine)
    try:
        assert default_bus() is mine
    finally:
        set_default_bus(None)
    assert default_bus() is not mine
