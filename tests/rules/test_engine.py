"""The engine around the conditions: de-duplication, escalation, schedules, scopes, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shequ.rules.conditions import ThresholdEvaluator
from shequ.rules.definitions import parse_rule
from shequ.rules.engine import Engine
from shequ.rules.outcomes import Clear, Raise, Repeat
from tests.rules.helpers import Feed, at, ctx, event, kinds, rule, sample

GAS_A = ctx("GAS-A", "gas_leak_detector", room=101)
GAS_B = ctx("GAS-B", "gas_leak_detector", room=102)
GAS_FAR = ctx("GAS-F", "gas_leak_detector", building=2, floor=20, room=201)
CAMERA = ctx("CAM-1", "camera")
CONCENTRATION = {"kind": "threshold", "metric": "concentration", "comparator": "gt",
                 "warning": 10, "alarm": 25}


def gas(feed: Feed, device: Any, seconds: float, value: Any, **more: Any) -> list[Any]:
    """Send one concentration sample."""
    return feed.send(sample(device, seconds, concentration=value, **more), device)


# ---------------------------------------------------------------------------------------------
# De-duplication, repeats, escalation


def test_each_device_has_its_own_alarm_by_default() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"]))
    first, second = gas(feed, GAS_A, 0, 30), gas(feed, GAS_B, 1, 30)
    assert [o.key for o in first + second] == ["r1:c1/GAS-A", "r1:c1/GAS-B"]


def test_a_building_key_raises_once_and_counts_repeats() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"],
                     dedup={"key": "{rule}@{building}"}))
    assert kinds(gas(feed, GAS_A, 0, 12)) == [("raise", "warning")]
    assert gas(feed, GAS_A, 1, 13) == []
    repeat = gas(feed, GAS_B, 2, 14)
    assert isinstance(repeat[0], Repeat) and repeat[0].count == 2
    assert repeat[0].device == "GAS-B" and repeat[0].key == "r1@1"
    escalated = gas(feed, GAS_B, 3, 30)
    assert isinstance(escalated[0], Raise) and escalated[0].escalated
    assert escalated[0].count == 2 and escalated[0].device == "GAS-B"
    assert gas(feed, GAS_A, 4, 0) == []
    cleared = gas(feed, GAS_B, 5, 0)
    assert isinstance(cleared[0], Clear) and cleared[0].count == 2
    assert cleared[0].device == "GAS-A" and cleared[0].level == "alarm"


def test_a_new_device_at_a_higher_level_escalates_and_counts() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"],
                     dedup={"key": "{rule}:{floor}"}))
    gas(feed, GAS_A, 0, 12)
    escalated = gas(feed, GAS_B, 1, 40)
    assert kinds(escalated) == [("raise", "alarm")] and escalated[0].count == 2


def test_outcomes_are_json_ready() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"]))
    record = gas(feed, GAS_A, 0, 30)[0].to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["kind"] == "raise" and record["place"] == {"building": 1, "floor": 10,
                                                             "room": 101}
    assert record["ts"] == at(0).isoformat() and record["severity"] == "major"


# ---------------------------------------------------------------------------------------------
# Schedules (T0 is Monday 16:00 in Shanghai)

NIGHT = {"timezone": "Asia/Shanghai", "windows": [{"from": "22:00", "to": "06:00"}]}
HOURS = 3600


def test_a_night_rule_ignores_daytime_events() -> None:
    feed = Feed(rule({"kind": "event", "event": "loitering", "hold_s": 60},
                     types=["camera"], schedule=NIGHT))
    assert feed.send(event(CAMERA, 0, "loitering"), CAMERA) == []
    assert feed.tick(100) == []
    assert kinds(feed.send(event(CAMERA, 6.5 * HOURS, "loitering"), CAMERA)) == [
        ("raise", "alarm")]
    assert kinds(feed.tick(6.5 * HOURS + 61)) == [("clear", "alarm")]


def test_a_condition_active_before_the_window_raises_inside_it() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"], schedule=NIGHT))
    assert gas(feed, GAS_A, 5.5 * HOURS, 30) == []
    assert gas(feed, GAS_A, 5.9 * HOURS, 30) == []
    raised = gas(feed, GAS_A, 6.1 * HOURS, 30)
    assert kinds(raised) == [("raise", "alarm")] and raised[0].count == 1
    assert kinds(gas(feed, GAS_A, 15 * HOURS, 0)) == [("clear", "alarm")]


def test_a_condition_that_ends_before_the_window_never_raises() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"], schedule=NIGHT))
    gas(feed, GAS_A, 5 * HOURS, 30)
    gas(feed, GAS_A, 5.5 * HOURS, 0)
    assert gas(feed, GAS_A, 6.5 * HOURS, 0) == []
    assert feed.engine.open_alarms() == []


def test_weekday_windows() -> None:
    weekend = {"windows": [{"days": ["sat", "sun"], "from": "00:00", "to": "24:00"}]}
    feed = Feed(rule({"kind": "event", "event": "crowding"}, types=["camera"],
                     schedule=weekend))
    assert feed.send(event(CAMERA, 0, "crowding"), CAMERA) == []
    assert kinds(feed.send(event(CAMERA, 5 * 24 * HOURS, "crowding"), CAMERA)) == [
        ("raise", "alarm")]


# ---------------------------------------------------------------------------------------------
# Scopes


@pytest.mark.parametrize(("scope", "hits"), [
    ({"place": {"building": 2}}, ["GAS-F"]),
    ({"place": {"building": 1, "floor": 10}}, ["GAS-A", "GAS-B"]),
    ({"place": {"room": 102}}, ["GAS-B"]),
    ({"device": "GAS-A"}, ["GAS-A"]),
    ({"device": "GAS-A", "place": {"building": 2}}, []),
    ({"community": "c2"}, []),
    ({"place": {"facility_category": "gas"}}, []),
])
def test_scopes_select_devices(scope: dict[str, Any], hits: list[str]) -> None:
    feed = Feed(rule(CONCENTRATION, scope={"device_types": ["gas_leak_detector"], **scope}))
    found = [o.device for device in (GAS_A, GAS_B, GAS_FAR) for o in gas(feed, device, 0, 30)]
    assert found == hits


def test_rules_of_other_types_metrics_and_buildings_are_not_touched() -> None:
    scoped = [parse_rule({"id": f"b{n}", "version": 1, "name": {"zh": "楼", "en": "B"},
                          "scope": {"device_types": ["gas_leak_detector"],
                                    "place": {"building": n}},
                          "conditions": [CONCENTRATION]}) for n in range(1, 200)]
    others = rule({"kind": "threshold", "metric": "smoke_density", "comparator": "ge",
                   "alarm": 10}, types=["smoke_detector"], rule_id="smoke")
    engine = Engine([*scoped, others])
    bucket = engine._net.metrics["gas_leak_detector"]["concentration"]
    assert [b.rt.rule.id for b in bucket.lookup(GAS_FAR)] == ["b2"]
    assert "smoke_detector" not in engine._net.metrics.get("gas_leak_detector", {})
    assert [o.rule_id for o in engine.process(sample(GAS_FAR, 0, concentration=30),
                                              GAS_FAR)] == ["b2"]


def test_disabled_rules_do_not_run() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"], enabled=False))
    assert gas(feed, GAS_A, 0, 30) == [] and feed.engine.rules == []


def test_match_all_needs_every_condition_on_the_device() -> None:
    smoke = ctx("SMK-1", "smoke_detector")
    feed = Feed(rule([
        {"kind": "threshold", "metric": "smoke_density", "comparator": "ge", "warning": 5,
         "alarm": 10},
        {"kind": "threshold", "metric": "temperature", "comparator": "ge", "alarm": 50},
    ], types=["smoke_detector"], match="all"))
    assert feed.send(sample(smoke, 0, smoke_density=12), smoke) == []
    raised = feed.send(sample(smoke, 1, temperature=55), smoke)
    assert kinds(raised) == [("raise", "alarm")]
    assert kinds(feed.send(sample(smoke, 2, smoke_density=1), smoke)) == [("clear", "alarm")]


# ---------------------------------------------------------------------------------------------
# Broken rules, swaps, time


def test_a_broken_rule_is_disabled_and_the_others_go_on() -> None:
    fragile = rule(CONCENTRATION, types=["gas_leak_detector"], rule_id="fragile")
    sturdy = rule({"kind": "threshold", "metric": "status", "comparator": "in",
                   "alarm": ["high_alarm"]}, types=["gas_leak_detector"], rule_id="sturdy")
    feed = Feed(fragile, sturdy)
    out = feed.send(sample(GAS_A, 0, concentration="lots", status="high_alarm"), GAS_A)
    assert [o.rule_id for o in out] == ["sturdy"]
    error = feed.engine.errors["fragile"]
    assert error.error.startswith("TypeError") and error.at == at(0) and error.version == 1
    assert gas(feed, GAS_A, 1, 30) == []
    assert kinds(feed.send(sample(GAS_B, 2, status="high_alarm"), GAS_B)) == [("raise", "alarm")]
    assert set(feed.engine.errors) == {"fragile"}


def test_a_broken_rule_can_be_reset() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"], dedup={"key": "{rule}"}))
    gas(feed, GAS_A, 0, 30)
    gas(feed, GAS_B, 1, "lots")
    assert set(feed.engine.errors) == {"r1"}
    assert feed.engine.errors["r1"].message("en").startswith("Rule r1 failed and was disabled")
    closed = feed.engine.reset("r1", at(2))
    assert [(o.kind, o.reason, o.ts) for o in closed if isinstance(o, Clear)] == [
        ("clear", "rule_reset", at(2))]
    assert feed.engine.errors == {} and feed.engine.reset("nope") == []
    assert kinds(gas(feed, GAS_A, 3, 30)) == [("raise", "alarm")]


def test_a_rule_failing_in_its_timer_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = rule({**CONCENTRATION, "for_s": 60}, types=["gas_leak_detector"], rule_id="slow")
    fast = rule({**CONCENTRATION, "for_s": 60}, types=["gas_leak_detector"], rule_id="fast")
    feed = Feed(slow, fast)
    evaluator = feed.engine._net.rules["slow"].evaluators[0]
    assert isinstance(evaluator, ThresholdEvaluator)

    def boom(st: Any, now: float) -> None:
        raise ZeroDivisionError("bad timer")

    monkeypatch.setattr(evaluator, "on_timer", boom)
    gas(feed, GAS_A, 0, 30)
    assert [o.rule_id for o in feed.tick(60)] == ["fast"]
    assert feed.engine.errors["slow"].error == "ZeroDivisionError: bad timer"


def test_swap_keeps_the_state_of_unchanged_rules() -> None:
    same = rule(CONCENTRATION, types=["gas_leak_detector"])
    feed = Feed(same)
    gas(feed, GAS_A, 0, 30)
    assert feed.engine.swap([rule(CONCENTRATION, types=["gas_leak_detector"])]) == []
    assert gas(feed, GAS_A, 1, 30) == []
    assert kinds(gas(feed, GAS_A, 2, 0)) == [("clear", "alarm")]


def test_swap_closes_alarms_of_changed_and_removed_rules() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"]),
                rule({"kind": "event", "event": "crowding"}, types=["camera"], rule_id="r2"))
    gas(feed, GAS_A, 0, 30)
    feed.send(event(CAMERA, 0, "crowding"), CAMERA)
    changed = rule({**CONCENTRATION, "alarm": 20}, types=["gas_leak_detector"], version=2)
    closed = feed.engine.swap([changed])
    assert {(o.rule_id, o.kind, o.reason) for o in closed if isinstance(o, Clear)} == {
        ("r1", "clear", "rule_changed"), ("r2", "clear", "rule_removed")}
    assert kinds(gas(feed, GAS_A, 1, 21)) == [("raise", "alarm")]
    assert feed.engine.rules == [changed]


def test_time_never_runs_backwards() -> None:
    feed = Feed(rule({"kind": "event", "event": "crowding", "hold_s": 10}, types=["camera"]))
    feed.send(event(CAMERA, 0, "crowding"), CAMERA)
    assert feed.tick(5) == []
    assert feed.tick(1) == []
    assert kinds(feed.tick(11)) == [("clear", "alarm")]
    assert feed.tick(11) == []


def test_open_alarms_lists_what_is_raised() -> None:
    feed = Feed(rule(CONCENTRATION, types=["gas_leak_detector"]))
    gas(feed, GAS_A, 0, 12)
    assert feed.engine.open_alarms() == [{"rule": "r1", "key": "r1:c1/GAS-A",
                                          "level": "warning", "count": 1, "device": "c1/GAS-A",
                                          "opened": at(0)}]
