"""A device simulator: realistic telemetry at the guide's rates, answers to commands, scripted
incidents (`incidents.yaml`), published over MQTT like real devices.

Each simulated device follows its type: it samples every ``sample_interval_max_s`` (or the
default interval) and transmits every ``transmit_interval_max_s``, batching the samples taken
in between (fire detectors: a sample a minute, a transmission every 30 minutes, so ≥ 2 per
hour); it sends a heartbeat when it has been quiet for a third of its heartbeat timeout; it
answers every command with an acknowledgement carrying the state the command sets. Values
walk randomly inside a normal band (below any warning threshold); counters only grow.
`speed` compresses time: at speed 60 a minute of device life passes every second, while
timestamps stay real.
"""

from __future__ import annotations

import heapq
import itertools
import math
import queue
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import yaml

from shequ.sensing.catalogue import (
    Catalogue,
    CatalogueError,
    DeviceType,
    ValueSpec,
    check_value,
    default_catalogue,
)
from shequ.sensing.readings import desired_state, validate_command
from shequ.sensing.topics import Channel, format_topic, parse_topic

INCIDENTS_FILE = Path(__file__).resolve().parent / "incidents.yaml"
DEFAULT_INTERVAL_S = 60.0
Publish = Callable[[str, bytes], None]


# ---------------------------------------------------------------------------------------------
# Incidents as data


@dataclass(frozen=True)
class Step:
    """One moment of an incident: metric overrides, an event, or a return to normal."""

    at: float
    metrics: Mapping[str, Any] = field(default_factory=dict)
    event: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    reset: bool = False


@dataclass(frozen=True)
class Incident:
    """A scripted incident for one device type."""

    key: str
    name_zh: str
    name_en: str
    device_type: str
    steps: tuple[Step, ...]


def _fail(key: str, path: str, problem: str) -> CatalogueError:
    return CatalogueError("sensing.catalogue.bad_value", "incidents.yaml", f"{key}.{path}",
                          value=problem)


def _step(key: str, index: int, raw: Mapping[str, Any], kind: DeviceType) -> Step:
    where = f"steps[{index}]"
    metrics = dict(raw.get("metrics") or {})
    for metric, value in metrics.items():
        spec = kind.metric_index.get(metric)
        if spec is None or check_value(spec, value) is not None:
            raise _fail(key, f"{where}.metrics.{metric}", repr(value))
    event = raw.get("event") or {}
    if event and event.get("key") not in kind.event_index:
        raise _fail(key, f"{where}.event", repr(event.get("key")))
    data = dict(event.get("data") or {})
    if event:
        spec_index = kind.event_index[event["key"]].field_index
        for name, value in data.items():
            if name not in spec_index or check_value(spec_index[name], value) is not None:
                raise _fail(key, f"{where}.event.data.{name}", repr(value))
    return Step(float(raw.get("at", 0)), metrics, event.get("key"), data,
                bool(raw.get("reset", False)))


def load_incidents(path: Path = INCIDENTS_FILE, catalogue: Catalogue | None = None
                   ) -> dict[str, Incident]:
    """Load and check the scripted incidents against the device types."""
    catalogue = catalogue or default_catalogue()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for key, body in data.items():
        kind = catalogue.find(str(body.get("device_type")))
        if kind is None:
            raise _fail(key, "device_type", repr(body.get("device_type")))
        steps = tuple(_step(key, i, raw, kind) for i, raw in enumerate(body.get("steps", [])))
        out[key] = Incident(key, body["name"]["zh"], body["name"]["en"], kind.id, steps)
    return out


@lru_cache(maxsize=1)
def incidents() -> dict[str, Incident]:
    """The built-in incidents, loaded once."""
    return load_incidents()


# ---------------------------------------------------------------------------------------------
# Values


def _band(spec: ValueSpec) -> tuple[float, float]:
    """The normal band of a numeric value: inside its range, clear of alarm hints."""
    low = spec.minimum if spec.minimum is not None else 0.0
    high = spec.maximum if spec.maximum is not None else low + 1000.0
    hint = getattr(spec, "alarm_hint", None)
    if hint is not None and hint.warn_above is not None:
        high = min(high, low + (hint.warn_above - low) * 0.6)
    if hint is not None and hint.warn_below is not None:
        low = max(low, hint.warn_below + (high - hint.warn_below) * 0.3)
    if spec.minimum is not None and spec.maximum is not None and hint is None:
        span = spec.maximum - spec.minimum
        low, high = spec.minimum + span * 0.2, spec.minimum + span * 0.5
    return low, max(high, low)


def initial_value(spec: ValueSpec, rng: random.Random) -> Any:
    """A plausible first value of a metric or state key."""
    if spec.kind in ("number", "integer"):
        if spec.maximum is None:
            return float(rng.randint(100, 5000)) if spec.kind == "number" else rng.randint(
                100, 5000)
        low, high = _band(spec)
        value = rng.uniform(low, high)
        return round(value) if spec.kind == "integer" else round(value, 2)
    if spec.kind == "boolean":
        return False
    if spec.kind == "enum":
        return "normal" if "normal" in spec.allowed else spec.values[0]
    return None


def next_value(spec: ValueSpec, value: Any, rng: random.Random) -> Any:
    """The next value of a random walk (counters only grow)."""
    if spec.kind not in ("number", "integer") or value is None:
        return value
    if spec.maximum is None:
        step = abs(rng.gauss(1.0, 0.5))
        return value + (round(step) if spec.kind == "integer" else round(step, 3))
    low, high = _band(spec)
    width = max(high - low, 1e-6)
    moved = min(max(value + rng.gauss(0, width * 0.05), low), high)
    return round(moved) if spec.kind == "integer" else round(moved, 2)


# ---------------------------------------------------------------------------------------------
# Devices


@dataclass
class SimDevice:
    """One simulated device: values, pending samples, timers and an incident."""

    code: str
    kind: DeviceType
    payload_format: str
    sample_s: float
    transmit_s: float
    heartbeat_s: float
    values: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    next_sample: float = 0.0
    next_transmit: float = 0.0
    last_sent: float = 0.0

    def sample(self, wall: float, rng: random.Random) -> None:
        """Take a sample of every metric."""
        for spec in self.kind.metrics:
            if spec.kind == "string":
                continue
            current = self.values.get(spec.key)
            self.values[spec.key] = (initial_value(spec, rng) if current is None
                                     else next_value(spec, current, rng))
        reading = {k: v for k, v in {**self.values, **self.overrides}.items() if v is not None}
        if reading:
            self.samples.append((wall, reading))


def rates(kind: DeviceType, default_s: float = DEFAULT_INTERVAL_S) -> tuple[float, float, float]:
    """Sampling, transmission and heartbeat intervals of a type, in (simulated) seconds."""
    sample = float(kind.sample_interval_max_s or kind.transmit_interval_max_s or default_s)
    sample = min(sample, default_s) if kind.sample_interval_max_s is None else sample
    transmit = float(kind.transmit_interval_max_s or sample)
    return sample, max(transmit, sample), kind.heartbeat_timeout_s / 3.0


class Simulator:
    """Simulated devices of one community publishing through `publish(topic, payload)`."""

    def __init__(self, community: str, devices: Iterable[tuple[str, str, str]],
                 publish: Publish, *, speed: float = 1.0, seed: int = 0,
                 interval_s: float = DEFAULT_INTERVAL_S,
                 wall: Callable[[], float] = time.time) -> None:
        self.community = community
        self.publish_raw = publish
        self.speed = speed
        self.rng = random.Random(seed)
        self.wall = wall
        self.counts: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._agenda: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.commands: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        catalogue = default_catalogue()
        self.devices: dict[str, SimDevice] = {}
        for code, type_id, payload_format in devices:
            kind = catalogue.get(type_id)
            sample, transmit, heartbeat = rates(kind, interval_s)
            device = SimDevice(code, kind, payload_format, sample, transmit, heartbeat)
            device.next_sample = self.rng.uniform(0, sample)
            device.next_transmit = device.next_sample + transmit
            self.devices[code] = device
        self.started = self.wall()

    # -- time ----------------------------------------------------------------------------------

    def sim_now(self) -> float:
        """Simulated seconds since the start."""
        return (self.wall() - self.started) * self.speed

    def later(self, sim_at: float, action: Callable[[], None]) -> None:
        """Run an action at a simulated time."""
        heapq.heappush(self._agenda, (sim_at, next(self._order), action))

    # -- publishing ----------------------------------------------------------------------------

    def _send(self, device: SimDevice, channel: Channel, body: Any) -> None:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.publish_raw(format_topic(self.community, device.code, channel), payload)
        self.counts[channel.value] = self.counts.get(channel.value, 0) + 1
        device.last_sent = self.sim_now()

    def _msg_id(self, device: SimDevice) -> str:
        return f"{device.code}-{next(self._ids)}"

    def _iso(self, wall: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + (
            f".{int(wall * 1000) % 1000:03d}Z")

    def transmit(self, device: SimDevice) -> None:
        """Send the samples taken since the last transmission."""
        samples, device.samples = device.samples, []
        if not samples:
            return
        if device.payload_format == "sensorthings":
            self._send(device, Channel.TELEMETRY, [
                {"@iot.id": f"{self._msg_id(device)}-{metric}", "phenomenonTime":
                 self._iso(wall), "result": value, "Datastream": {"name": f"{device.code}/"
                                                                          f"{metric}"}}
                for wall, reading in samples for metric, value in reading.items()])
            return
        items = [{"id": self._msg_id(device), "ts": self._iso(wall), "metrics": reading}
                 for wall, reading in samples]
        self._send(device, Channel.TELEMETRY, items[0] if len(items) == 1 else items)

    def event(self, device: SimDevice, key: str, data: Mapping[str, Any]) -> None:
        """Raise an event now."""
        self._send(device, Channel.EVENT, {"id": self._msg_id(device),
                                           "ts": self._iso(self.wall()), "event": key,
                                           "data": dict(data)})

    def report_state(self, device: SimDevice) -> None:
        """Report the device's state keys."""
        if device.state:
            self._send(device, Channel.STATE, {"id": self._msg_id(device),
                                               "ts": self._iso(self.wall()),
                                               "state": dict(device.state)})

    # -- the loop -------------------------------------------------------------------------------

    def start_states(self) -> None:
        """Every device with state keys reports its initial state."""
        for device in self.devices.values():
            for spec in device.kind.state:
                value = initial_value(spec, self.rng)
                if value is not None:
                    device.state[spec.key] = value
            self.report_state(device)

    def tick(self) -> None:
        """Sample, transmit, beat, play the agenda and answer commands that are due."""
        now, wall = self.sim_now(), self.wall()
        for device in self.devices.values():
            while device.next_sample <= now:
                device.sample(wall, self.rng)
                device.next_sample += device.sample_s
            if device.next_transmit <= now:
                self.transmit(device)
                device.next_transmit += device.transmit_s
            elif now - device.last_sent >= device.heartbeat_s:
                self._send(device, Channel.HEARTBEAT, b"")
        while self._agenda and self._agenda[0][0] <= now:
            heapq.heappop(self._agenda)[2]()
        while True:
            try:
                topic, payload = self.commands.get_nowait()
            except queue.Empty:
                break
            self.answer(topic, payload)

    def run(self, stop: Callable[[], bool], every_s: float = 0.05) -> None:
        """Tick until `stop()` says so."""
        self.start_states()
        while not stop():
            self.tick()
            time.sleep(every_s)

    # -- commands and incidents -------------------------------------------------------------------

    def answer(self, topic: str, payload: bytes) -> None:
        """Acknowledge a command after a short, realistic delay; apply its state."""
        device = self.devices.get(parse_topic(topic).device)
        if device is None:
            return
        command = orjson.loads(payload)
        name, params = str(command.get("cmd")), dict(command.get("params") or {})
        ok = not validate_command(device.kind, name, params)
        state = desired_state(device.kind, name, params) if ok else {}

        def ack() -> None:
            """Apply the command's state and acknowledge it."""
            device.state.update(state)
            device.overrides.update({k: v for k, v in state.items()
                                     if k in device.kind.metric_index})
            self._send(device, Channel.CMD_ACK, {"id": self._msg_id(device), "ack":
                                                 command.get("id"), "ok": ok, "state": state,
                                                 **({} if ok else {"error": "bad_command"})})

        self.later(self.sim_now() + self.rng.uniform(0.02, 0.2) * self.speed, ack)

    def play(self, name: str, code: str | None = None) -> str:
        """Schedule an incident on a device (the first of the right type by default)."""
        incident = incidents()[name]
        candidates = [d for d in self.devices.values() if d.kind.id == incident.device_type
                      and (code is None or d.code == code)]
        if not candidates:
            raise LookupError(f"no {incident.device_type} device for incident {name}")
        device, start = candidates[0], self.sim_now()
        for step in incident.steps:
            self.later(start + step.at, lambda s=step: self._step(device, s))  # type: ignore[misc]
        return device.code

    def _step(self, device: SimDevice, step: Step) -> None:
        if step.reset:
            device.overrides.clear()
        device.overrides.update(step.metrics)
        if step.metrics:
            device.sample(self.wall(), self.rng)
            self.transmit(device)
        if step.event:
            self.event(device, step.event, step.data)


def expected_rate(kind: DeviceType, speed: float = 1.0) -> float:
    """Telemetry transmissions per real hour of one device of a type."""
    _, transmit, _ = rates(kind)
    return math.inf if transmit <= 0 else 3600.0 * speed / transmit
