"""The built-in demo rules do what their files say, through one engine."""

from __future__ import annotations

from typing import Any

import pytest

from shequ.rules.definitions import builtin_rules
from shequ.rules.engine import Engine
from shequ.rules.outcomes import Outcome
from shequ.rules.places import DeviceContext
from tests.rules.helpers import at, ctx, event, sample

MINUTE = 60.0


def run(device: DeviceContext, steps: list[tuple[float, str, dict[str, Any]]],
        until: float | None = None) -> list[Outcome]:
    """Feed (seconds, event key or "", values) steps of one device, then tick to `until`."""
    engine = Engine(builtin_rules())
    out: list[Outcome] = []
    for seconds, key, values in steps:
        message = event(device, seconds, key, **values) if key else \
            sample(device, seconds, **values)
        out += engine.process(message, device)
    if until is not None:
        out += engine.tick(at(until))
    return out


def raised(outcomes: list[Outcome], rule_id: str) -> list[str]:
    """The levels raised by one rule."""
    return [o.level for o in outcomes if o.rule_id == rule_id and o.kind == "raise"]


@pytest.mark.parametrize(("rule_id", "device_type", "steps", "until", "levels"), [
    ("smoke_alarm", "smoke_detector", [(0, "", {"smoke_density": 6}),
                                       (1, "", {"smoke_density": 11})], None,
     ["warning", "alarm"]),
    ("smoke_alarm", "smoke_detector", [(0, "smoke_alarm", {})], None, ["alarm"]),
    ("gas_concentration", "gas_leak_detector", [(0, "", {"concentration": 10}),
                                                (1, "", {"concentration": 10.5}),
                                                (2, "", {"concentration": 26})], None,
     ["warning", "alarm"]),
    ("water_pressure_low", "water_pressure_sensor", [(0, "", {"pressure": 0.1})], 59, []),
    ("water_pressure_low", "water_pressure_sensor", [(0, "", {"pressure": 0.1})], 60,
     ["alarm"]),
    ("drainage_level", "drainage_level_sensor", [(0, "", {"water_level": 1.6})], 300,
     ["warning"]),
    ("drainage_level", "drainage_level_sensor", [(0, "", {"water_level": 1.0}),
                                                 (60, "", {"water_level": 1.3})], None,
     ["warning"]),
    ("bin_fill", "waste_bin_sensor", [(0, "", {"fill_level": 80}),
                                      (1, "", {"fill_level": 96})], None, ["warning", "alarm"]),
    ("lamp_fault", "streetlight_controller", [(0, "lamp_fault", {"fault": "lamp"})], None,
     ["alarm"]),
    ("intrusion_count", "intrusion_detector", [(0, "intrusion", {}), (20, "intrusion", {}),
                                               (40, "intrusion", {})], None,
     ["warning", "alarm"]),
    ("lift_trapped", "lift_monitor", [(0, "trapped_person", {"floor": 3})], None, ["alarm"]),
    ("fire_sensor_silent", "smoke_detector", [(0, "", {"battery": 90})], 30 * MINUTE, []),
    ("fire_sensor_silent", "heat_detector", [(0, "", {"battery": 90})], 31 * MINUTE,
     ["warning"]),
    ("device_offline", "camera", [(0, "face_detected", {})], 121, ["warning"]),
    ("device_offline", "gas_meter", [(0, "", {"battery": 90})], 86_401, ["warning"]),
])
def test_builtin_rule(rule_id: str, device_type: str, steps: list[Any], until: float | None,
                      levels: list[str]) -> None:
    device = ctx("D-1", device_type)
    assert raised(run(device, steps, until), rule_id) == levels


CAMERA_EVENTS = [
    ("high_altitude_throwing", {"confidence": 90}, "alarm"),
    ("garbage_sorting_violation", {}, "warning"),
    ("face_detected", {}, "warning"),
    ("crowding", {"confidence": 90, "person_count": 40}, "alarm"),
    ("fall", {"confidence": 90}, "alarm"),
    ("watchlist_hit", {"list_kind": "blacklist", "similarity": 97}, "alarm"),
    ("restricted_area_intrusion", {"confidence": 90}, "alarm"),
    ("ebike_in_lift", {"lift_id": "L1"}, "alarm"),
    ("illegal_charging", {"place": "corridor"}, "alarm"),
]


@pytest.mark.parametrize(("key", "values", "level"), CAMERA_EVENTS)
def test_each_video_ai_event_raises_a_typed_alarm(key: str, values: dict[str, Any],
                                                  level: str) -> None:
    camera = ctx("CAM-1", "camera")
    out = [o for o in run(camera, [(0, key, {"snapshot": "s3://snap/1.jpg", **values})])
           if o.rule_id == f"camera_{key}"]
    assert [(o.kind, o.level) for o in out] == [("raise", level)]
    assert out[0].values["event"] == key and out[0].values["snapshot"] == "s3://snap/1.jpg"


def test_loitering_alarms_only_at_night() -> None:
    camera = ctx("CAM-1", "camera")  # T0 is 16:00 in Shanghai
    day = run(camera, [(0, "loitering", {"confidence": 90})])
    night = run(camera, [(7 * 3600, "loitering", {"confidence": 90})])
    assert raised(day, "camera_loitering") == []
    assert raised(night, "camera_loitering") == ["warning"]


def test_whitelist_hits_and_low_confidence_do_not_alarm() -> None:
    camera = ctx("CAM-1", "camera")
    out = run(camera, [(0, "watchlist_hit", {"list_kind": "whitelist"}),
                       (1, "fall", {"confidence": 40})])
    assert [o.rule_id for o in out] == []


def test_smoke_and_heat_in_one_flat_raise_the_composite() -> None:
    engine = Engine(builtin_rules())
    smoke, heat = ctx("SMK-1", "smoke_detector"), ctx("HT-1", "heat_detector")
    engine.process(event(smoke, 0, "smoke_alarm"), smoke)
    out = engine.process(sample(heat, 90, temperature=60), heat)
    assert [(o.rule_id, o.key) for o in out if o.kind == "raise"] == [
        ("fire_smoke_heat", "fire_smoke_heat:c1/room:101")]
