"""The simulator, on a fake clock: every payload it produces decodes and validates against its
device type, at the guide's rates; it answers commands and plays scripted incidents."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from shequ.sensing.adapters import decode_payload
from shequ.sensing.catalogue import Catalogue, CatalogueError
from shequ.sensing.readings import Kind, validate
from shequ.sensing.simulator import Simulator, incidents, load_incidents
from shequ.sensing.topics import parse_topic


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _run(sim: Simulator, clock: Clock, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.now += step
        sim.tick()


def _check(sent: list[tuple[str, bytes]], formats: dict[str, str], catalogue: Catalogue,
           types: dict[str, str]) -> list[Any]:
    """Decode and validate every published payload; the decoded messages."""
    out = []
    for topic, payload in sent:
        info = parse_topic(topic)
        fmt = formats[info.device] if info.channel.value == "telemetry" else "native"
        decoded = decode_payload(fmt, info, payload, datetime.now(UTC), max_bytes=1 << 20)
        assert not decoded.rejections, (topic, payload[:200], decoded.rejections)
        kind = catalogue.get(types[info.device])
        for message in decoded.messages:
            assert validate(message, kind, datetime.now(UTC)) == [], (topic, message)
            out.append(message)
    return out


def test_every_type_produces_valid_messages(catalogue: Catalogue) -> None:
    clock, sent = Clock(), []
    devices = [(f"d-{t.id}", t.id, "sensorthings" if n % 5 == 0 else "native")
               for n, t in enumerate(catalogue)]
    sim = Simulator("c1", devices, lambda t, p: sent.append((t, p)), speed=60, wall=clock)
    sim.start_states()
    _run(sim, clock, 120)  # two simulated hours
    messages = _check(sent, {c: f for c, _, f in devices}, catalogue,
                      {c: t for c, t, _ in devices})
    telemetry_devices = {m.device for m in messages if m.kind is Kind.TELEMETRY}
    assert telemetry_devices == {c for c, t, _ in devices if any(
        m.kind != "string" for m in catalogue.get(t).metrics)}


def test_fire_detectors_sample_every_minute_and_send_twice_an_hour(catalogue: Catalogue) -> None:
    clock, sent = Clock(), []
    sim = Simulator("c1", [("smoke-1", "smoke_detector", "native")],
                    lambda t, p: sent.append((t, p)), speed=60, wall=clock)
    _run(sim, clock, 125)  # 125 simulated minutes
    batches = [orjson.loads(p) for t, p in sent if t.endswith("/telemetry")]
    assert len(batches) >= 4  # ≥ 2 transmissions an hour
    stamps = sorted(datetime.fromisoformat(item["ts"]) for batch in batches for item in batch)
    gaps = {round((b - a).total_seconds()) for a, b in itertools.pairwise(stamps)}
    assert len(stamps) >= 100 and gaps == {1}  # a sample a simulated minute (1 s at speed 60)


def test_commands_are_answered_with_their_state(catalogue: Catalogue) -> None:
    clock, sent = Clock(), []
    sim = Simulator("c1", [("lamp-1", "streetlight_controller", "native")],
                    lambda t, p: sent.append((t, p)), wall=clock)
    sim.commands.put(("shequ/v1/c1/lamp-1/cmd", orjson.dumps(
        {"id": "k1", "cmd": "dim", "params": {"level": 30}})))
    sim.commands.put(("shequ/v1/c1/lamp-1/cmd", orjson.dumps({"id": "k2", "cmd": "fly"})))
    _run(sim, clock, 2, 0.1)
    acks = {body["ack"]: body for t, body in ((t, orjson.loads(p)) for t, p in sent)
            if t.endswith("/cmd/ack")}
    assert acks["k1"]["ok"] is True and acks["k1"]["state"] == {"dim_level": 30}
    assert acks["k2"]["ok"] is False
    assert sim.devices["lamp-1"].state["dim_level"] == 30


@pytest.mark.parametrize("name", sorted(incidents()))
def test_every_incident_plays_valid_events(catalogue: Catalogue, name: str) -> None:
    incident = incidents()[name]
    clock, sent = Clock(), []
    code = f"dev-{name}"
    sim = Simulator("c1", [(code, incident.device_type, "native")],
                    lambda t, p: sent.append((t, p)), speed=60, wall=clock)
    assert sim.play(name) == code
    _run(sim, clock, 70)
    messages = _check(sent, {code: "native"}, catalogue, {code: incident.device_type})
    events = [m.event for m in messages if m.kind is Kind.EVENT]
    assert [e for e in events] == [s.event for s in incident.steps if s.event]


def test_a_broken_incident_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text("x:\n  name: {zh: 甲, en: X}\n  device_type: smoke_detector\n"
                    "  steps:\n    - {at: 0, metrics: {smoke_density: 900}}\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_incidents(path)
    assert "x.steps[0].metrics.smoke_density" in str(caught.value.params)
