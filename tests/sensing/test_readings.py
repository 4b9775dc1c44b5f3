"""Validation of messages against device types, the partial-validity rule, commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shequ.kit import i18n
from shequ.kit.errors import ShequError
from shequ.sensing.catalogue import Catalogue, DeviceType
from shequ.sensing.readings import (
    Kind,
    Limits,
    Message,
    Rejection,
    check_size,
    command_defaults,
    derive_id,
    desired_state,
    keep_valid,
    make_message,
    parse_ts,
    screen,
    validate,
    validate_command,
)
from shequ.sensing.topics import TopicInfo

Topic = Callable[..., TopicInfo]


@pytest.fixture
def lamp(catalogue: Catalogue) -> DeviceType:
    """The streetlight controller type."""
    return catalogue.get("streetlight_controller")


def _telemetry(topic: Topic, now: datetime, values: dict[str, Any],
               ts: datetime | None = None) -> Message:
    return make_message(topic(), Kind.TELEMETRY, values, now, ts=ts or now)


def _codes(rejections: list[Rejection]) -> list[tuple[str | None, str, bool]]:
    return [(r.field, r.code.rsplit(".", 1)[1], r.fatal) for r in rejections]


def test_a_valid_telemetry_message_passes(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    message = _telemetry(topic, now, {"on": True, "dim_level": 60, "voltage": 229.5,
                                      "lamp_status": "normal"})
    assert validate(message, lamp, now) == []
    assert keep_valid(message, []) is message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"voltage": "230"}, [("voltage", "wrong_type", False)]),
        ({"voltage": True}, [("voltage", "wrong_type", False)]),
        ({"voltage": None}, [("voltage", "wrong_type", False)]),
        ({"voltage": float("nan")}, [("voltage", "wrong_type", False)]),
        ({"voltage": float("inf")}, [("voltage", "wrong_type", False)]),
        ({"voltage": 401}, [("voltage", "out_of_range", False)]),
        ({"voltage": -0.1}, [("voltage", "out_of_range", False)]),
        ({"on": 1}, [("on", "wrong_type", False)]),
        ({"lamp_status": "melted"}, [("lamp_status", "not_allowed", False)]),
        ({"lamp_status": 3}, [("lamp_status", "wrong_type", False)]),
        ({"flux_capacitance": 1.21}, [("flux_capacitance", "unknown_metric", False)]),
        ({"energy_total": 10**9}, []),  # open upper bound
        ({"energy_total": -1}, [("energy_total", "out_of_range", False)]),
        ({}, [(None, "empty", True)]),
    ],
)
def test_telemetry_value_problems(topic: Topic, now: datetime, lamp: DeviceType,
                                  values: dict[str, Any], expected: list[Any]) -> None:
    assert _codes(validate(_telemetry(topic, now, values), lamp, now)) == expected


def test_integer_and_string_kinds(topic: Topic, now: datetime, catalogue: Catalogue) -> None:
    lift = catalogue.get("lift_monitor")
    assert validate(_telemetry(topic, now, {"floor": 12}), lift, now) == []
    assert validate(_telemetry(topic, now, {"floor": 12.0}), lift, now) == []
    assert _codes(validate(_telemetry(topic, now, {"floor": 12.5}), lift, now)) == [
        ("floor", "wrong_type", False)]
    assert _codes(validate(_telemetry(topic, now, {"floor": 201}), lift, now)) == [
        ("floor", "out_of_range", False)]


def test_partial_validity_keeps_the_good_metrics(topic: Topic, now: datetime,
                                                 lamp: DeviceType) -> None:
    message = _telemetry(topic, now, {"voltage": 230.0, "current": 999, "power": 120,
                                      "colour": "warm"})
    kept, rejections = screen(message, lamp, now)
    assert {r.field for r in rejections} == {"current", "colour"}
    assert kept is not None and kept.values == {"voltage": 230.0, "power": 120}
    assert kept.id == message.id and kept.ts == message.ts  # same identity, fewer values
    assert message.values["current"] == 999  # the original is untouched


def test_a_message_with_only_bad_metrics_is_dead(topic: Topic, now: datetime,
                                                 lamp: DeviceType) -> None:
    kept, rejections = screen(_telemetry(topic, now, {"voltage": "x", "foo": 1}), lamp, now)
    assert kept is None and len(rejections) == 2


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(minutes=5), None),
        (timedelta(minutes=5, seconds=1), "future_timestamp"),
        (-timedelta(days=7), None),
        (-timedelta(days=7, seconds=1), "stale_timestamp"),
    ],
)
def test_timestamp_window(topic: Topic, now: datetime, lamp: DeviceType, offset: timedelta,
                          code: str | None) -> None:
    message = _telemetry(topic, now, {"voltage": 230.0}, ts=now + offset)
    rejections = validate(message, lamp, now)
    assert [r.code.rsplit(".", 1)[1] for r in rejections] == ([code] if code else [])
    assert all(r.fatal for r in rejections)
    if code:
        assert keep_valid(message, rejections) is None


def test_timestamp_window_is_configurable(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    message = _telemetry(topic, now, {"voltage": 230.0}, ts=now - timedelta(days=30))
    assert validate(message, lamp, now, Limits(max_past=timedelta(days=31))) == []
    early = _telemetry(topic, now, {"voltage": 230.0}, ts=now + timedelta(seconds=30))
    assert validate(early, lamp, now, Limits(max_future=timedelta(seconds=10)))


def test_epoch_seconds_by_mistake_are_stale(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    ts = parse_ts(int(now.timestamp()))  # seconds, read as milliseconds
    assert ts.year == 1970
    rejections = validate(_telemetry(topic, now, {"voltage": 230.0}, ts=ts), lamp, now)
    assert rejections[0].code == "sensing.dead_letter.stale_timestamp"


# --- events --------------------------------------------------------------------------------


def _event(topic: Topic, now: datetime, key: str, data: dict[str, Any]) -> Message:
    return make_message(topic(channel="event"), Kind.EVENT, data, now, ts=now, event=key)


def test_camera_ai_event(topic: Topic, now: datetime, catalogue: Catalogue) -> None:
    camera = catalogue.get("camera")
    message = _event(topic, now, "high_altitude_throwing",
                     {"snapshot": "files/snap/1.jpg", "clip": "files/clip/1.mp4",
                      "pre_alarm_s": 30, "floor": 17, "confidence": 91.5})
    assert validate(message, camera, now) == []


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        ("alien_landing", {}, [(None, "unknown_event", True)]),
        ("fall", {}, [("snapshot", "missing_field", True)]),
        ("fall", {"snapshot": 42}, [("snapshot", "wrong_type", True)]),
        ("fall", {"snapshot": "s.jpg", "confidence": 101},
         [("confidence", "out_of_range", True)]),
        ("fall", {"snapshot": "x" * 1025}, [("snapshot", "too_long", True)]),
        ("watchlist_hit", {"snapshot": "s.jpg", "list_kind": "greylist"},
         [("list_kind", "not_allowed", True)]),
        ("fall", {"snapshot": "s.jpg", "mood": "sad"}, [("mood", "unknown_field", False)]),
    ],
)
def test_event_problems(topic: Topic, now: datetime, catalogue: Catalogue, key: str,
                        data: dict[str, Any], expected: list[Any]) -> None:
    assert _codes(validate(_event(topic, now, key, data), catalogue.get("camera"), now)) == expected


def test_undeclared_event_fields_are_dropped_not_fatal(topic: Topic, now: datetime,
                                                       catalogue: Catalogue) -> None:
    message = _event(topic, now, "fall", {"snapshot": "s.jpg", "mood": "sad"})
    kept, _ = screen(message, catalogue.get("camera"), now)
    assert kept is not None and kept.values == {"snapshot": "s.jpg"} and kept.event == "fall"


def test_an_invalid_declared_field_rejects_the_event(topic: Topic, now: datetime,
                                                     catalogue: Catalogue) -> None:
    message = _event(topic, now, "fall", {"snapshot": "s.jpg", "confidence": "high"})
    assert screen(message, catalogue.get("camera"), now)[0] is None


def test_fields_without_values_are_fine_when_optional(topic: Topic, now: datetime,
                                                      catalogue: Catalogue) -> None:
    message = _event(topic, now, "tamper", {})
    assert validate(message, catalogue.get("intrusion_detector"), now) == []


# --- state, acks and heartbeats --------------------------------------------------------------


def test_reported_state(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    good = make_message(topic(channel="state"), Kind.STATE, {"on": True, "dim_level": 40}, now)
    assert validate(good, lamp, now) == []
    bad = make_message(topic(channel="state"), Kind.STATE,
                       {"on": True, "dim_level": 140, "colour": "red"}, now)
    kept, rejections = screen(bad, lamp, now)
    assert _codes(rejections) == [("dim_level", "out_of_range", False),
                                  ("colour", "unknown_state", False)]
    assert kept is not None and kept.values == {"on": True}
    empty = make_message(topic(channel="state"), Kind.STATE, {}, now)
    assert _codes(validate(empty, lamp, now)) == [(None, "empty", True)]


def test_acks_validate_their_state(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    ack = make_message(topic(channel="cmd/ack"), Kind.ACK, {"dim_level": 40}, now, ack="c-1",
                       ok=True)
    assert validate(ack, lamp, now) == []
    bare = make_message(topic(channel="cmd/ack"), Kind.ACK, {}, now, ack="c-2", ok=False,
                        error="busy")
    assert validate(bare, lamp, now) == [] and keep_valid(bare, []) is bare
    wrong = make_message(topic(channel="cmd/ack"), Kind.ACK, {"dim_level": "max"}, now,
                         ack="c-3", ok=True)
    kept, rejections = screen(wrong, lamp, now)
    assert _codes(rejections) == [("dim_level", "wrong_type", False)]
    assert kept is not None and kept.values == {} and kept.ack == "c-3"  # the ack survives


def test_heartbeats_only_check_time(topic: Topic, now: datetime, lamp: DeviceType) -> None:
    beat = make_message(topic(channel="heartbeat"), Kind.HEARTBEAT, {}, now)
    assert validate(beat, lamp, now) == []
    late = make_message(topic(channel="heartbeat"), Kind.HEARTBEAT, {}, now,
                        ts=now + timedelta(hours=1))
    assert validate(late, lamp, now)[0].code == "sensing.dead_letter.future_timestamp"


# --- identity ------------------------------------------------------------------------------


def test_derived_ids_depend_on_device_kind_time_and_content(now: datetime) -> None:
    base = derive_id("d1", "telemetry", now, {"a": 1, "b": 2})
    assert base == derive_id("d1", "telemetry", now, {"b": 2, "a": 1})
    variants = {
        derive_id("d2", "telemetry", now, {"a": 1, "b": 2}),
        derive_id("d1", "state", now, {"a": 1, "b": 2}),
        derive_id("d1", "telemetry", now + timedelta(microseconds=1), {"a": 1, "b": 2}),
        derive_id("d1", "telemetry", now, {"a": 1, "b": 3}),
        derive_id("d1", "telemetry", now, {"a": 1, "b": 2}, "smoke_alarm"),
    }
    assert base not in variants and len(variants) == 5
    assert re.fullmatch(r"h-[0-9a-f]{32}", base)


def test_device_ids_are_kept(topic: Topic, now: datetime) -> None:
    message = make_message(topic(), Kind.TELEMETRY, {"a": 1}, now, msg_id="42")
    assert message.id == "42" and not message.derived_id


# --- rejections ----------------------------------------------------------------------------


def test_oversized_payloads(now: datetime) -> None:
    assert check_size(b"x" * 100, 100) is None
    rejection = check_size(b"x" * 101, 100)
    assert rejection is not None and rejection.fatal
    assert rejection.code == "sensing.dead_letter.oversized"
    assert "101" in rejection.message("en") and "100" in rejection.message("zh-CN")


def test_rejections_render_in_both_languages(topic: Topic, now: datetime,
                                             lamp: DeviceType) -> None:
    [rejection] = validate(_telemetry(topic, now, {"voltage": 401}), lamp, now)
    record = rejection.as_dict()
    assert record["code"] == "sensing.dead_letter.out_of_range"
    assert record["field"] == "voltage" and record["fatal"] is False
    assert "401" in record["message"]["en"] and "400" in record["message"]["en"]
    assert "401" in record["message"]["zh-CN"] and "超出范围" in record["message"]["zh-CN"]
    error = rejection.to_error()
    assert isinstance(error, ShequError) and error.code == rejection.code


def test_every_sensing_code_has_both_languages() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "shequ" / "sensing"
    text = "\n".join(path.read_text(encoding="utf-8") for path in source.rglob("*.py"))
    codes = set(re.findall(r'"(sensing\.[a-z_]+\.[a-z_]+)"', text))
    codes |= {f"sensing.dead_letter.{reason}" for reason in
              ("wrong_type", "out_of_range", "not_allowed", "too_long", "too_many")}
    codes |= {f"sensing.dead_letter.topic_{reason}" for reason in
              ("wildcard", "reserved", "empty_level", "too_long", "segments", "prefix", "version",
               "community", "device", "channel", "group")}
    assert len(codes) > 30
    for code in sorted(codes):
        texts = i18n.both(code)
        assert texts["zh-CN"] != code and texts["en"] != code, code


# --- commands ------------------------------------------------------------------------------


def test_valid_commands_and_their_shadow_effects(lamp: DeviceType, catalogue: Catalogue) -> None:
    assert validate_command(lamp, "dim", {"level": 30}) == []
    assert desired_state(lamp, "dim", {"level": 30}) == {"dim_level": 30}
    assert desired_state(lamp, "switch_off", {}) == {"on": False}
    pa = catalogue.get("pa_speaker")
    params = {"source": "files/flood.mp3", "priority": "emergency", "zones": ["b1", "b2"]}
    assert validate_command(pa, "play", params) == []
    assert command_defaults(pa, "play", params)["repeat"] == 1
    assert desired_state(pa, "play", params) == {"playing": True, "priority": "emergency",
                                                 "program": "files/flood.mp3"}
    assert desired_state(pa, "play", {"source": "a.mp3"})["priority"] == "normal"  # default
    assert desired_state(catalogue.get("camera"), "capture", {}) == {}


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        ("explode", {}, [(None, "unknown", True)]),
        ("dim", {}, [("level", "missing_field", True)]),
        ("dim", {"level": 101}, [("level", "out_of_range", True)]),
        ("dim", {"level": 50.5}, [("level", "wrong_type", True)]),
        ("dim", {"level": 50, "fade_s": 3}, [("fade_s", "unknown_param", True)]),
    ],
)
def test_invalid_commands(lamp: DeviceType, command: str, params: dict[str, Any],
                          expected: list[Any]) -> None:
    assert _codes(validate_command(lamp, command, params)) == expected


def test_list_parameters(catalogue: Catalogue) -> None:
    pa = catalogue.get("pa_speaker")
    too_many = {"source": "a.mp3", "zones": [f"z{i}" for i in range(257)]}
    assert _codes(validate_command(pa, "play", too_many)) == [("zones", "too_many", True)]
    not_strings = {"source": "a.mp3", "zones": ["z1", 2]}
    assert _codes(validate_command(pa, "play", not_strings)) == [("zones", "wrong_type", True)]
    not_a_list = {"source": "a.mp3", "zones": "z1"}
    assert _codes(validate_command(pa, "play", not_a_list)) == [("zones", "wrong_type", True)]
