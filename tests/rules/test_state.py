"""Rule state survives a restart: snapshot, JSON round trip, restore, same outcomes."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from shequ.rules.definitions import Rule, builtin_rules
from shequ.rules.engine import Engine
from shequ.rules.outcomes import Clear, Outcome
from shequ.rules.places import DeviceContext
from shequ.rules.schema import RulesInvalid
from shequ.sensing.readings import Message
from tests.rules.helpers import at, ctx, event, rule, sample

DEVICES = {
    "smoke": ctx("SMK-1", "smoke_detector"),
    "heat": ctx("HT-1", "heat_detector"),
    "gas": ctx("GAS-1", "gas_leak_detector"),
    "water": ctx("WP-1", "water_pressure_sensor", room=None),
    "well": ctx("DW-1", "drainage_level_sensor", room=None, floor=None),
    "bin": ctx("BIN-1", "waste_bin_sensor", room=None, floor=None),
    "camera": ctx("CAM-1", "camera"),
    "fence": ctx("FENCE-1", "intrusion_detector", room=None, floor=None),
    "lamp": ctx("LAMP-1", "streetlight_controller", room=None, floor=None),
}
Step = tuple[str, Any]  # ("msg", (message, context)) or ("tick", seconds)


def extra_rules() -> list[Rule]:
    """Rules beyond the built-in ones: cool-down, schedule, a building key, a rate."""
    return [
        rule({"kind": "threshold", "metric": "concentration", "comparator": "gt",
              "warning": 10, "alarm": 25}, types=["gas_leak_detector"], rule_id="gas_cool",
             dedup={"key": "{rule}:{building}", "cooldown_s": 90}),
        rule({"kind": "event", "event": "loitering", "hold_s": 120}, types=["camera"],
             rule_id="night", schedule={"windows": [{"from": "16:30", "to": "17:00"}]}),
        rule({"kind": "rate", "metric": "temperature", "comparator": "gt", "warning": 3,
              "alarm": 8, "window_s": 60, "for_s": 30}, types=["heat_detector"],
             rule_id="heat_rise"),
    ]


def rules() -> list[Rule]:
    """The rule set of these tests."""
    return [*builtin_rules(), *extra_rules()]


def wave(rng: random.Random, step: int, low: float, high: float, period: int) -> float:
    """A value swinging between low and high, with noise, rounded."""
    phase = (math.sin(step * 2 * math.pi / period) + 1) / 2
    return round(low + (high - low) * phase + rng.uniform(-0.05, 0.05) * (high - low), 3)


def reading(rng: random.Random, name: str, step: int, seconds: float) -> Message:
    """A message of one device at one step of the stream."""
    device = DEVICES[name]
    if name == "smoke":
        if step % 23 == 0:
            return event(device, seconds, "smoke_alarm")
        return sample(device, seconds, smoke_density=wave(rng, step, 0, 14, 40))
    if name == "heat":
        return sample(device, seconds, temperature=wave(rng, step, 20, 75, 50))
    if name == "gas":
        return sample(device, seconds, concentration=wave(rng, step, 0, 40, 30))
    if name == "water":
        return sample(device, seconds, pressure=wave(rng, step, 0.1, 0.5, 60))
    if name == "well":
        return sample(device, seconds, water_level=wave(rng, step, 0.5, 2.6, 90))
    if name == "bin":
        return sample(device, seconds, fill_level=wave(rng, step, 20, 100, 70))
    if name == "camera":
        key = rng.choice(["loitering", "crowding", "fall", "face_detected", "ebike_in_lift"])
        return event(device, seconds, key, confidence=rng.choice([50, 70, 95]))
    if name == "fence":
        return event(device, seconds, "intrusion", zone="north")
    return event(device, seconds, "lamp_fault", fault="lamp")


def stream(seed: int = 11, steps: int = 1500) -> list[Step]:
    """A deterministic stream over about three hours: messages (some late) and ticks."""
    rng = random.Random(seed)
    out: list[Step] = []
    names = list(DEVICES)
    for step in range(steps):
        seconds = step * 7.0
        name = names[step % len(names)] if step % 5 else rng.choice(names)
        if name == "lamp" and step % 200:
            continue
        if name == "smoke" and 600 < step < 900:
            continue  # a silent spell: fire_sensor_silent fires
        late = rng.random() < 0.05
        message = reading(rng, name, step, seconds - (40 if late else 0))
        out.append(("msg", (message, DEVICES[name])))
        if step % 4 == 3:
            out.append(("tick", seconds))
    return out


def run(engine: Engine, steps: list[Step]) -> list[Outcome]:
    """Feed steps to an engine, collecting outcomes."""
    out: list[Outcome] = []
    for kind, item in steps:
        if kind == "msg":
            message, context = item
            out += engine.process(message, context)
        else:
            out += engine.tick(at(item))
    return out


@pytest.fixture(scope="module")
def steps() -> list[Step]:
    """The shared stream."""
    return stream()


@pytest.fixture(scope="module")
def uninterrupted(steps: list[Step]) -> list[Outcome]:
    """The outcomes of one engine over the whole stream."""
    engine = Engine(rules())
    for context in DEVICES.values():
        engine.track(context, at(0))
    return run(engine, steps)


def test_the_stream_exercises_every_outcome(uninterrupted: list[Outcome]) -> None:
    seen = {(o.kind, o.rule_id) for o in uninterrupted}
    assert {kind for kind, _ in seen} == {"raise", "repeat", "clear"}
    rule_ids = {rule_id for _, rule_id in seen}
    assert {"gas_cool", "night", "heat_rise", "fire_smoke_heat", "drainage_level",
            "intrusion_count", "fire_sensor_silent", "smoke_alarm"} <= rule_ids
    assert any(getattr(o, "escalated", False) for o in uninterrupted)


@pytest.mark.parametrize("cut", [1, 377, 800, 1211])
def test_restore_continues_as_if_never_stopped(steps: list[Step],
                                               uninterrupted: list[Outcome], cut: int) -> None:
    engine = Engine(rules())
    for context in DEVICES.values():
        engine.track(context, at(0))
    first = run(engine, steps[:cut])
    saved = json.loads(json.dumps(engine.snapshot()))
    resumed = Engine.restore(rules(), saved)
    assert resumed.take_pending() == []
    second = run(resumed, steps[cut:])
    assert [o.to_dict() for o in first + second] == [o.to_dict() for o in uninterrupted]
    assert first + second == uninterrupted


def test_the_snapshot_is_versioned_json(steps: list[Step]) -> None:
    engine = Engine(rules())
    run(engine, steps[:300])
    saved = engine.snapshot()
    assert saved["format"] == "shequ.rules.snapshot" and saved["version"] == 1
    assert json.loads(json.dumps(saved, allow_nan=False)) == saved
    gas_state = saved["rules"]["gas_concentration"]
    assert set(gas_state) == {"version", "fingerprint", "conditions", "subjects", "alarms",
                              "broken"}
    assert "c1/GAS-1" in gas_state["conditions"][0]


def open_gas_engine() -> tuple[Engine, DeviceContext]:
    """An engine with an open gas alarm."""
    gas = DEVICES["gas"]
    engine = Engine(rules())
    engine.process(sample(gas, 0, concentration=30), gas)
    return engine, gas


def test_restore_closes_alarms_of_changed_rules() -> None:
    engine, gas = open_gas_engine()
    saved = engine.snapshot()
    changed = [r if r.id != "gas_concentration" else rule(
        {"kind": "threshold", "metric": "concentration", "comparator": "gt", "alarm": 20},
        types=["gas_leak_detector"], rule_id="gas_concentration", version=2) for r in rules()]
    resumed = Engine.restore(changed, saved)
    pending = resumed.take_pending()
    assert [(o.rule_id, o.reason, o.device) for o in pending if isinstance(o, Clear)] == [
        ("gas_concentration", "rule_changed", "GAS-1")]
    assert resumed.take_pending() == []
    raised = resumed.process(sample(gas, 10, concentration=30), gas)
    assert [(o.kind, o.rule_id) for o in raised] == [("raise", "gas_concentration")]


def test_restore_closes_alarms_of_removed_rules_and_keeps_the_rest() -> None:
    engine, _ = open_gas_engine()
    engine.process(event(DEVICES["camera"], 0, "crowding", confidence=90), DEVICES["camera"])
    remaining = [r for r in rules() if r.id != "gas_concentration"]
    resumed = Engine.restore(remaining, json.loads(json.dumps(engine.snapshot())))
    pending = resumed.take_pending()
    assert [(o.rule_id, o.rule, o.reason) for o in pending if isinstance(o, Clear)] == [
        ("gas_concentration", None, "rule_removed")]
    cleared = resumed.tick(at(301))
    assert ("clear", "camera_crowding") in [(o.kind, o.rule_id) for o in cleared]


def test_a_corrupt_rule_state_is_dropped_not_fatal() -> None:
    engine, gas = open_gas_engine()
    saved = json.loads(json.dumps(engine.snapshot()))
    saved["rules"]["gas_concentration"]["conditions"][0]["c1/GAS-1"] = ["garbage"]
    resumed = Engine.restore(rules(), saved)
    assert [o.reason for o in resumed.take_pending() if isinstance(o, Clear)] == [
        "rule_changed"]
    assert [o.kind for o in resumed.process(sample(gas, 5, concentration=30), gas)] == ["raise"]


def test_broken_rules_stay_disabled_after_a_restore() -> None:
    gas = DEVICES["gas"]
    engine = Engine(rules())
    engine.process(sample(gas, 0, concentration="???"), gas)
    assert "gas_concentration" in engine.errors
    resumed = Engine.restore(rules(), json.loads(json.dumps(engine.snapshot())))
    assert resumed.errors["gas_concentration"] == engine.errors["gas_concentration"]
    assert all(o.rule_id != "gas_concentration"
               for o in resumed.process(sample(gas, 1, concentration=30), gas))


@pytest.mark.parametrize("snapshot", [{}, {"format": "other"}, [],
                                      {"format": "shequ.rules.snapshot", "version": 99}])
def test_foreign_snapshots_are_refused(snapshot: Any) -> None:
    with pytest.raises(RulesInvalid) as caught:
        Engine.restore(rules(), snapshot)
    assert caught.value.code == "rules.snapshot_invalid"
