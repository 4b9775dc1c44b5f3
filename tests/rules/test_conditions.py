"""Each condition kind through the engine: edges, flapping, late and out-of-order input."""

from __future__ import annotations

from typing import Any

from shequ.rules.outcomes import Clear, Raise, Repeat
from tests.rules.helpers import Feed, at, ctx, event, kinds, rule, sample

GAS = ctx("GAS-1", "gas_leak_detector")
WATER = ctx("WP-1", "water_pressure_sensor")
SMOKE = ctx("SMK-1", "smoke_detector")
HEAT = ctx("HT-1", "heat_detector")
CAMERA = ctx("CAM-1", "camera")
FENCE = ctx("FENCE-1", "intrusion_detector", room=None, floor=None)


def gas_rule(**condition: Any) -> Feed:
    """An engine with one concentration rule (gt 10 / 25 unless overridden)."""
    base = {"kind": "threshold", "metric": "concentration", "comparator": "gt",
            "warning": 10, "alarm": 25}
    extra = condition.pop("rule_extra", {})
    return Feed(rule({**base, **condition}, types=["gas_leak_detector"], **extra))


def send_gas(feed: Feed, *points: tuple[float, float]) -> list[list[tuple[str, str]]]:
    """Send (seconds, concentration) samples; the outcomes of each."""
    return [kinds(feed.send(sample(GAS, s, concentration=v), GAS)) for s, v in points]


# ---------------------------------------------------------------------------------------------
# Threshold


def test_exactly_at_a_gt_threshold_is_not_a_breach() -> None:
    feed = gas_rule()
    assert send_gas(feed, (0, 10), (1, 10.01), (2, 25), (3, 25.01)) == [
        [], [("raise", "warning")], [], [("raise", "alarm")]]
    escalation = feed.log[-1]
    assert isinstance(escalation, Raise) and escalation.escalated
    assert escalation.previous_level == "warning" and escalation.count == 1


def test_exactly_at_a_ge_threshold_is_a_breach() -> None:
    feed = gas_rule(comparator="ge")
    assert send_gas(feed, (0, 9.99), (1, 10), (2, 25)) == [
        [], [("raise", "warning")], [("raise", "alarm")]]


def test_below_comparators_for_low_pressure() -> None:
    feed = Feed(rule({"kind": "threshold", "metric": "pressure", "comparator": "lt",
                      "warning": 0.2, "alarm": 0.14}, types=["water_pressure_sensor"]))
    out = [kinds(feed.send(sample(WATER, s, pressure=v), WATER))
           for s, v in ((0, 0.2), (1, 0.19), (2, 0.14), (3, 0.13), (4, 0.3))]
    assert out == [[], [("raise", "warning")], [], [("raise", "alarm")], [("clear", "alarm")]]


def test_an_alarm_does_not_de_escalate_while_open() -> None:
    feed = gas_rule()
    assert send_gas(feed, (0, 30), (1, 15), (2, 30), (3, 5)) == [
        [("raise", "alarm")], [], [], [("clear", "alarm")]]


def test_flapping_without_hysteresis_raises_and_clears_each_time() -> None:
    feed = gas_rule()
    assert send_gas(feed, (0, 11), (1, 9), (2, 11), (3, 9)) == [
        [("raise", "warning")], [("clear", "warning")], [("raise", "warning")],
        [("clear", "warning")]]


def test_hysteresis_absorbs_flapping_around_the_threshold() -> None:
    feed = gas_rule(hysteresis=1)
    assert send_gas(feed, (0, 11), (1, 9.5), (2, 10.5), (3, 9.01), (4, 9), (5, 10)) == [
        [("raise", "warning")], [], [], [], [("clear", "warning")], []]


def test_cooldown_turns_flapping_into_repeats_of_one_alarm() -> None:
    feed = gas_rule(rule_extra={"dedup": {"cooldown_s": 60}})
    assert send_gas(feed, (0, 11), (10, 9), (20, 11), (30, 9)) == [
        [("raise", "warning")], [], [("repeat", "warning")], []]
    assert feed.log[-1].count == 2
    assert feed.tick(89) == []
    cleared = feed.tick(90)
    assert kinds(cleared) == [("clear", "warning")] and cleared[0].count == 2
    assert send_gas(feed, (100, 11)) == [[("raise", "warning")]]
    assert feed.log[-1].count == 1


def test_late_and_duplicate_samples_do_not_move_state_back() -> None:
    feed = gas_rule()
    assert send_gas(feed, (10, 11), (5, 5), (10, 5), (20, 5)) == [
        [("raise", "warning")], [], [], [("clear", "warning")]]


def test_enum_values_raise_by_membership() -> None:
    feed = Feed(rule({"kind": "threshold", "metric": "status", "comparator": "in",
                      "warning": ["fault"], "alarm": ["alarm"]}, types=["smoke_detector"]))
    out = [kinds(feed.send(sample(SMOKE, s, status=v), SMOKE))
           for s, v in ((0, "normal"), (1, "fault"), (2, "alarm"), (3, "normal"))]
    assert out == [[], [("raise", "warning")], [("raise", "alarm")], [("clear", "alarm")]]


# ---------------------------------------------------------------------------------------------
# Duration


def duration_feed() -> Feed:
    """Above 10 (warning) / 25 (alarm) for five minutes."""
    return gas_rule(kind="duration", for_s=300)


def test_a_duration_matures_on_tick() -> None:
    feed = duration_feed()
    assert send_gas(feed, (0, 30), (100, 30)) == [[], []]
    assert feed.tick(299) == []
    raised = feed.tick(300)
    assert kinds(raised) == [("raise", "alarm")]
    assert raised[0].values == {"metric": "concentration", "value": 30, "for_s": 300.0}


def test_a_duration_matures_on_a_later_sample() -> None:
    feed = duration_feed()
    assert send_gas(feed, (0, 30), (299, 30), (300, 30)) == [[], [], [("raise", "alarm")]]


def test_a_dip_restarts_the_duration() -> None:
    feed = duration_feed()
    send_gas(feed, (0, 30), (100, 5), (200, 30))
    assert feed.tick(450) == []
    assert kinds(feed.tick(500)) == [("raise", "alarm")]


def test_a_late_dip_does_not_restart_the_duration() -> None:
    feed = duration_feed()
    send_gas(feed, (0, 30), (-10, 5))
    assert kinds(feed.tick(300)) == [("raise", "alarm")]


def test_duration_tiers_mature_separately_and_escalate() -> None:
    feed = duration_feed()
    send_gas(feed, (0, 15), (200, 30))
    assert kinds(feed.tick(300)) == [("raise", "warning")]
    escalated = feed.tick(500)
    assert kinds(escalated) == [("raise", "alarm")]
    assert isinstance(escalated[0], Raise) and escalated[0].escalated
    assert send_gas(feed, (600, 1)) == [[("clear", "alarm")]]


# ---------------------------------------------------------------------------------------------
# Rate of change


def test_rate_per_minute_over_the_window() -> None:
    feed = gas_rule(kind="rate", warning=2, alarm=5, window_s=60)
    assert send_gas(feed, (0, 0), (30, 1), (60, 3), (120, 9), (180, 9)) == [
        [], [], [("raise", "warning")], [("raise", "alarm")], [("clear", "alarm")]]
    assert feed.log[0].values == {"metric": "concentration", "rate_per_min": 3.0}


def test_rate_exactly_at_the_threshold_and_falling_rates() -> None:
    rising = gas_rule(kind="rate", warning=2, alarm=None, window_s=60)
    assert send_gas(rising, (0, 0), (60, 2)) == [[], []]
    falling = gas_rule(kind="rate", comparator="lt", warning=-1, alarm=None, window_s=60)
    assert send_gas(falling, (0, 20), (60, 18)) == [[], [("raise", "warning")]]


# ---------------------------------------------------------------------------------------------
# No data / offline


def silent_feed(**condition: Any) -> Feed:
    """A no-data rule on smoke detectors."""
    return Feed(rule({"kind": "no_data", "after_s": 1800, **condition},
                     types=["smoke_detector"]))


def test_silence_over_thirty_minutes_is_flagged_and_data_clears_it() -> None:
    feed = silent_feed()
    feed.send(sample(SMOKE, 0, battery=90), SMOKE)
    assert feed.tick(1800) == []
    raised = feed.tick(31 * 60)
    assert kinds(raised) == [("raise", "alarm")]
    assert raised[0].values == {"silent_s": 1860.0, "after_s": 1800.0}
    assert feed.tick(4000) == []
    assert kinds(feed.send(sample(SMOKE, 4100, battery=90), SMOKE)) == [("clear", "alarm")]
    assert kinds(feed.tick(4100 + 1801)) == [("raise", "alarm")]


def test_a_late_message_does_not_count_as_fresh_data() -> None:
    feed = silent_feed()
    feed.send(sample(SMOKE, 0, battery=90), SMOKE)
    feed.tick(2000)
    assert feed.send(sample(SMOKE, 2100, received=-5, battery=90), SMOKE) == []
    assert feed.engine.open_alarms()[0]["key"] == "r1:c1/SMK-1"


def test_tracked_devices_are_watched_before_their_first_message() -> None:
    feed = silent_feed()
    feed.engine.track(SMOKE, at(0))
    feed.engine.track(CAMERA, at(0))  # not in scope
    assert kinds(feed.tick(1801)) == [("raise", "alarm")]


def test_no_data_of_one_metric() -> None:
    feed = silent_feed(metric="smoke_density", after_s=600)
    feed.send(sample(SMOKE, 0, smoke_density=1), SMOKE)
    feed.send(sample(SMOKE, 500, battery=80), SMOKE)
    assert kinds(feed.tick(601)) == [("raise", "alarm")]


def test_offline_uses_each_types_heartbeat() -> None:
    feed = Feed(rule({"kind": "offline", "level": "warning"}))
    feed.send(sample(SMOKE, 0, battery=90), SMOKE)
    feed.send(event(CAMERA, 0, "face_detected"), CAMERA)
    offline = feed.tick(121)
    assert [(o.device, o.level) for o in offline] == [("CAM-1", "warning")]
    assert [o.device for o in feed.tick(1801)] == ["SMK-1"]


# ---------------------------------------------------------------------------------------------
# Event matches


def smoke_event_feed(**condition: Any) -> Feed:
    """An event rule on smoke_alarm held 60 s."""
    return Feed(rule({"kind": "event", "event": "smoke_alarm", "hold_s": 60, **condition},
                     types=["smoke_detector"]))


def test_an_event_raises_repeats_and_clears_after_the_hold() -> None:
    feed = smoke_event_feed()
    raised = feed.send(event(SMOKE, 0, "smoke_alarm", smoke_density=12), SMOKE)
    assert kinds(raised) == [("raise", "alarm")]
    assert raised[0].values == {"event": "smoke_alarm", "smoke_density": 12}
    repeat = feed.send(event(SMOKE, 30, "smoke_alarm"), SMOKE)
    assert isinstance(repeat[0], Repeat) and repeat[0].count == 2
    assert feed.tick(90) == []
    cleared = feed.tick(90.001)
    assert isinstance(cleared[0], Clear) and cleared[0].count == 2


def test_a_clearing_event_ends_the_hold_unless_it_is_late() -> None:
    feed = smoke_event_feed(clear_event="alarm_cleared")
    feed.send(event(SMOKE, 10, "smoke_alarm"), SMOKE)
    assert feed.send(event(SMOKE, 5, "alarm_cleared"), SMOKE) == []
    assert kinds(feed.send(event(SMOKE, 20, "alarm_cleared"), SMOKE)) == [("clear", "alarm")]


def test_event_field_filters() -> None:
    feed = Feed(rule({"kind": "event", "event": "loitering", "level": "warning",
                      "where": {"confidence": {"ge": 60}, "zone": ["north", "east"]}},
                     types=["camera"]))
    assert feed.send(event(CAMERA, 0, "loitering", confidence=59, zone="north"), CAMERA) == []
    assert feed.send(event(CAMERA, 1, "loitering", confidence=90, zone="south"), CAMERA) == []
    assert feed.send(event(CAMERA, 2, "loitering", confidence=90), CAMERA) == []
    assert kinds(feed.send(event(CAMERA, 3, "loitering", confidence=60, zone="east"),
                           CAMERA)) == [("raise", "warning")]


def test_late_events_repeat_within_the_hold_and_are_ignored_before_it() -> None:
    feed = smoke_event_feed()
    feed.send(event(SMOKE, 100, "smoke_alarm"), SMOKE)
    assert feed.send(event(SMOKE, 10, "smoke_alarm"), SMOKE) == []
    assert kinds(feed.send(event(SMOKE, 50, "smoke_alarm"), SMOKE)) == [("repeat", "alarm")]
    assert feed.tick(160) == []
    assert kinds(feed.tick(161)) == [("clear", "alarm")]


# ---------------------------------------------------------------------------------------------
# Counts in a window


def intrusion_feed(**condition: Any) -> Feed:
    """One intrusion pre-warns, three within 60 s alarm."""
    return Feed(rule({"kind": "count", "event": "intrusion", "window_s": 60, "warning": 1,
                      "alarm": 3, **condition}, types=["intrusion_detector"]))


def intrude(feed: Feed, *seconds: float, device: Any = FENCE) -> list[list[tuple[str, str]]]:
    """Send intrusion events at these times."""
    return [kinds(feed.send(event(device, s, "intrusion"), device)) for s in seconds]


def test_three_events_within_sixty_seconds_inclusive() -> None:
    feed = intrusion_feed()
    assert intrude(feed, 0, 30, 60) == [
        [("raise", "warning")], [("repeat", "warning")], [("raise", "alarm")]]
    escalation = feed.log[-1]
    assert isinstance(escalation, Raise) and escalation.escalated and escalation.count == 3
    assert escalation.values == {"count": 3, "window_s": 60.0, "event": "intrusion"}


def test_three_events_just_over_sixty_seconds_do_not_alarm() -> None:
    feed = intrusion_feed()
    assert intrude(feed, 0, 30, 60.001) == [
        [("raise", "warning")], [("repeat", "warning")], [("repeat", "warning")]]


def test_a_redelivered_event_is_counted_once() -> None:
    feed = intrusion_feed(warning=None)
    for seconds in (0, 10, 10):
        feed.send(event(FENCE, seconds, "intrusion", msg_id=f"id-{seconds}"), FENCE)
    assert feed.log == []
    assert kinds(feed.send(event(FENCE, 20, "intrusion"), FENCE)) == [("raise", "alarm")]


def test_late_events_count_inside_the_window_only() -> None:
    feed = intrusion_feed(warning=None)
    intrude(feed, 0, 50)
    assert intrude(feed, -20) == [[]]
    assert intrude(feed, 20) == [[("raise", "alarm")]]


def test_counted_events_expire_on_tick() -> None:
    feed = intrusion_feed()
    intrude(feed, 0, 30, 60)
    assert feed.tick(89) == []
    assert feed.tick(119) == []
    assert kinds(feed.tick(120.001)) == [("clear", "alarm")]


def test_counts_group_devices_of_one_building() -> None:
    feed = intrusion_feed(warning=None, group_by="building")
    other = ctx("FENCE-2", "intrusion_detector", room=None, floor=None)
    elsewhere = ctx("FENCE-3", "intrusion_detector", building=2, room=None, floor=None)
    intrude(feed, 0, device=FENCE)
    intrude(feed, 10, device=elsewhere)
    assert intrude(feed, 20, device=other) == [[]]
    raised = feed.send(event(FENCE, 30, "intrusion"), FENCE)
    assert kinds(raised) == [("raise", "alarm")] and raised[0].key == "r1:c1/building:1"


# ---------------------------------------------------------------------------------------------
# Composite across the devices of one flat


def fire_feed() -> Feed:
    """Smoke event AND heat ≥ 57 °C in the same room within two minutes."""
    return Feed(rule({"kind": "composite", "within_s": 120, "all": [
        {"device_types": ["smoke_detector"], "event": "smoke_alarm"},
        {"device_types": ["heat_detector"], "metric": "temperature", "comparator": "ge",
         "value": 57}]}, types=["smoke_detector", "heat_detector"]))


def test_smoke_and_heat_in_one_flat_within_two_minutes() -> None:
    feed = fire_feed()
    assert feed.send(event(SMOKE, 0, "smoke_alarm"), SMOKE) == []
    assert feed.send(sample(HEAT, 60, temperature=50), HEAT) == []
    raised = feed.send(sample(HEAT, 120, temperature=57), HEAT)
    assert kinds(raised) == [("raise", "alarm")]
    assert raised[0].key == "r1:c1/room:101" and raised[0].device == "HT-1"
    assert raised[0].values == {"devices": ["SMK-1", "HT-1"], "within_s": 120.0}
    assert feed.tick(120) == []
    assert kinds(feed.tick(121)) == [("clear", "alarm")]


def test_heat_first_then_smoke_also_counts() -> None:
    feed = fire_feed()
    feed.send(sample(HEAT, 0, temperature=70), HEAT)
    assert kinds(feed.send(event(SMOKE, 100, "smoke_alarm"), SMOKE)) == [("raise", "alarm")]


def test_other_flats_and_late_parts_do_not_combine() -> None:
    feed = fire_feed()
    next_door = ctx("HT-2", "heat_detector", room=102)
    roomless = ctx("HT-3", "heat_detector", room=None)
    feed.send(event(SMOKE, 0, "smoke_alarm"), SMOKE)
    assert feed.send(sample(next_door, 10, temperature=80), next_door) == []
    assert feed.send(sample(roomless, 10, temperature=80), roomless) == []
    assert feed.send(sample(HEAT, 121, temperature=80), HEAT) == []
    assert kinds(feed.send(event(SMOKE, 130, "smoke_alarm"), SMOKE)) == [("raise", "alarm")]
