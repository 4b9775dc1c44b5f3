"""Throughput of the rule engine: messages per second with 1,000 active rules on one core.

Run: ``python bench/rules_engine.py [--quick] [--messages N]``. Prints one JSON object with
`msgs_per_s` (the issue 6 alarm-latency benchmark builds on this engine once it is wired into
the ingest pipeline).

The 1,000 rules are the 21 built-in ones plus rules generated per building (50 buildings):
two-tier thresholds from every metric's catalogue alarm hint, duration and rate variants,
event matches, counts and a smoke+heat composite. Messages come from 2,000 devices of 12 types
spread over the buildings (telemetry with every metric of the type, and events), with a
tick every 1,000 messages.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shequ.rules.definitions import builtin_rules, parse_rules
from shequ.rules.engine import Engine
from shequ.rules.places import DeviceContext, Place
from shequ.sensing.catalogue import default_catalogue
from shequ.sensing.readings import Kind, Message

TYPES = ("smoke_detector", "heat_detector", "gas_leak_detector", "water_pressure_sensor",
         "drainage_level_sensor", "waste_bin_sensor", "camera", "intrusion_detector",
         "streetlight_controller", "environment_station", "power_monitor", "lift_monitor")
BUILDINGS = 50
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def hinted(type_id: str) -> list[tuple[str, float, float, str]]:
    """(metric, warning, alarm, comparator) from a type's alarm hints."""
    out = []
    for spec in default_catalogue().types[type_id].metrics:
        hint = spec.alarm_hint
        if hint is None:
            continue
        if hint.warn_above is not None and hint.alarm_above is not None:
            out.append((spec.key, hint.warn_above, hint.alarm_above, "ge"))
        if hint.warn_below is not None and hint.alarm_below is not None:
            out.append((spec.key, hint.warn_below, hint.alarm_below, "le"))
    return out


def generated(count: int) -> list[dict[str, Any]]:
    """Rule documents scoped per building until `count` rules exist."""
    docs: list[dict[str, Any]] = []
    building = 0
    while len(docs) < count:
        building = building % BUILDINGS + 1
        for type_id in TYPES:
            for metric, warning, alarm, op in hinted(type_id):
                n = len(docs)
                cond: dict[str, Any] = {"kind": "threshold", "metric": metric, "comparator": op,
                                        "warning": warning, "alarm": alarm}
                if n % 3 == 1:
                    cond["for_s"] = 120
                if n % 5 == 2:
                    cond = {"kind": "rate", "metric": metric, "comparator": "gt",
                            "warning": 1.0, "alarm": 5.0, "window_s": 120}
                docs.append(doc(n, type_id, building, [cond]))
        docs.append(doc(len(docs), "intrusion_detector", building, [
            {"kind": "count", "event": "intrusion", "window_s": 60, "warning": 1, "alarm": 3}]))
        docs.append(doc(len(docs), "camera", building, [
            {"kind": "event", "event": "loitering", "hold_s": 120}]))
        docs.append(doc(len(docs), None, building, [
            {"kind": "composite", "within_s": 120, "group_by": "floor", "all": [
                {"device_types": ["smoke_detector"], "event": "smoke_alarm"},
                {"device_types": ["heat_detector"], "metric": "temperature",
                 "comparator": "ge", "value": 57}]}], ["smoke_detector", "heat_detector"]))
    return docs[:count]


def doc(n: int, type_id: str | None, building: int, conditions: list[dict[str, Any]],
        types: list[str] | None = None) -> dict[str, Any]:
    """One generated rule document."""
    return {"id": f"gen_{n}", "version": 1, "name": {"zh": f"规则{n}", "en": f"Rule {n}"},
            "scope": {"device_types": types or [type_id], "place": {"building": building}},
            "conditions": conditions, "dedup": {"cooldown_s": 60}}


def devices(count: int, rng: random.Random) -> list[DeviceContext]:
    """Devices of the benchmark types spread over the buildings."""
    out = []
    for n in range(count):
        building = n % BUILDINGS + 1
        place = Place(building=building, floor=building * 100 + n % 20,
                      room=building * 10000 + n % 200)
        out.append(DeviceContext(f"D{n:05d}", TYPES[n % len(TYPES)], "c1", place))
    return out


def message(ctx: DeviceContext, n: int, rng: random.Random) -> Message:
    """A telemetry sample of every metric (values around the hints) or an event."""
    device_type = default_catalogue().types[ctx.device_type]
    ts = T0 + timedelta(milliseconds=100 * n)
    if device_type.events and (n % 7 == 0 or not device_type.metrics):
        event = device_type.events[n % len(device_type.events)]
        return Message(id=f"m{n}", community="c1", device=ctx.device, kind=Kind.EVENT, ts=ts,
                       received_at=ts, values={"confidence": 80} if ctx.device_type == "camera"
                       else {}, event=event.key)
    values: dict[str, Any] = {}
    for spec in device_type.metrics:
        if spec.kind in ("number", "integer"):
            low = spec.minimum if spec.minimum is not None else 0
            high = spec.maximum if spec.maximum is not None else 100
            values[spec.key] = round(rng.uniform(low, high), 2)
        elif spec.kind == "boolean":
            values[spec.key] = rng.random() < 0.5
        elif spec.kind == "enum":
            values[spec.key] = spec.values[0]
    return Message(id=f"m{n}", community="c1", device=ctx.device, kind=Kind.TELEMETRY, ts=ts,
                   received_at=ts, values=values)


def main(total: int = 50_000) -> None:
    """Build the engine, feed `total` messages, print the rate."""
    rng = random.Random(7)
    builtin = list(builtin_rules())
    rules = builtin + list(parse_rules(generated(1000 - len(builtin))))
    engine = Engine(rules)
    fleet = devices(2000, rng)
    stream = [(message(fleet[i % len(fleet)], i, rng), fleet[i % len(fleet)])
              for i in range(total)]
    metrics = sum(len(m.values) for m, _ in stream if m.kind is Kind.TELEMETRY)
    outcomes = 0
    start = time.perf_counter()
    for i, (msg, ctx) in enumerate(stream):
        outcomes += len(engine.process(msg, ctx))
        if i % 1000 == 999:
            outcomes += len(engine.tick(msg.ts))
    elapsed = time.perf_counter() - start
    print(json.dumps({"bench": "rules.engine", "rules": len(rules), "devices": len(fleet),
                      "messages": total, "metric_values": metrics, "outcomes": outcomes,
                      "seconds": round(elapsed, 3),
                      "messages_per_s": round(total / elapsed),
                      "snapshot_bytes": len(json.dumps(engine.snapshot()))}))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 messages")
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    main(20_000 if args.quick else args.messages)
