"""Rule state that survives a restart: condition states, subjects, open alarms, as a snapshot.

Snapshot format (JSON-able; ``version`` is bumped on any incompatible change)::

    {"format": "shequ.rules.snapshot", "version": 1,
     "clock": 1714550400.0,                       # last tick time (epoch s) or null
     "devices": {"c1/SMK-1": {"device": "SMK-1", "type": "smoke_detector",
                              "community": "c1", "place": {"building": 3, "room": 907}}},
     "rules": {"smoke_alarm": {
         "version": 1, "fingerprint": "9f0c…",     # digest of the rule document
         "conditions": [{"c1/SMK-1": [due, …state…]}, …],   # one mapping per condition
         "subjects": {"c1/SMK-1": [[levels per condition], "c1/SMK-1", key, values]},
         "alarms": {key: [{subject: level}, raised level, count, device, values, opened, due]},
         "broken": null}},                        # or the error that disabled the rule
    }

On restore, a rule's state is taken over only when the rule still exists with the same
fingerprint; otherwise its open alarms are reported as `Clear` (reason ``rule_changed`` or
``rule_removed``) and its state is dropped. Timers are rebuilt from the states' due times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shequ.rules.conditions import Evaluator, State, evaluator
from shequ.rules.definitions import DEFAULT_KEY, Rule
from shequ.rules.outcomes import RuleError
from shequ.rules.places import DeviceContext
from shequ.rules.schema import RulesInvalid
from shequ.rules.schema import render as render_text

FORMAT = "shequ.rules.snapshot"
VERSION = 1


class Subject:
    """One subject's levels per condition, their combination and what last triggered them."""

    __slots__ = ("combined", "device", "key", "levels", "values")

    def __init__(self, conditions: int, device: str, key: str) -> None:
        self.levels = [0] * conditions
        self.combined = 0
        self.device = device
        self.key = key
        self.values: dict[str, Any] | None = None


class Alarm:
    """One de-duplicated alarm: its active subjects, raised level, count and cool-down timer."""

    __slots__ = ("count", "device", "due", "key", "opened", "queued", "raised", "subjects",
                 "values")

    def __init__(self, key: str) -> None:
        self.key = key
        self.subjects: dict[str, int] = {}
        self.raised = 0
        self.count = 0
        self.device = ""
        self.values: dict[str, Any] | None = None
        self.opened: float | None = None
        self.due: float | None = None
        self.queued: float | None = None


class RuleRuntime:
    """A rule with its evaluators and all its state (per condition, subject and alarm)."""

    __slots__ = ("alarms", "broken", "cooldown", "evaluators", "match_all", "rule", "schedule",
                 "states", "subjects")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.evaluators: tuple[Evaluator, ...] = tuple(evaluator(c) for c in rule.conditions)
        self.states: list[dict[str, State]] = []
        self.subjects: dict[str, Subject] = {}
        self.alarms: dict[str, Alarm] = {}
        self.broken: RuleError | None = None
        self.reset()
        self.match_all = rule.match == "all"
        self.cooldown = rule.dedup.cooldown_s
        self.schedule = rule.schedule

    def reset(self) -> None:
        """Forget every state, subject, alarm and error."""
        self.states = [{} for _ in self.rule.conditions]
        self.subjects = {}
        self.alarms = {}
        self.broken = None

    def gate(self, ts: float) -> bool:
        """Whether the rule may raise at a time (inside its schedule)."""
        return self.schedule is None or self.schedule.is_open(ts)

    def alarm_key(self, subject: str, ctx: DeviceContext | None) -> str:
        """The de-duplication key of a subject, from the rule's template."""
        template = self.rule.dedup.key
        if template == DEFAULT_KEY or ctx is None:
            return f"{self.rule.id}:{subject}"
        place = ctx.place
        fields = {"rule": self.rule.id, "subject": subject, "device": ctx.device,
                  "device_type": ctx.device_type, "community": ctx.community,
                  **{name: "" if value is None else value
                     for name, value in place.to_dict().items()}}
        return render_text(template, fields)

    def adopt(self, other: RuleRuntime) -> None:
        """Take over the state of the same rule from a previous rule set."""
        self.states, self.subjects, self.alarms = other.states, other.subjects, other.alarms
        self.broken = other.broken


@dataclass
class Restored:
    """What a snapshot gave back: devices, clock, and the alarms of rules that changed."""

    contexts: dict[str, DeviceContext] = field(default_factory=dict)
    clock: float | None = None
    dropped: list[tuple[str, Rule | None, Alarm, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Dump


def _dump_rule(rt: RuleRuntime) -> dict[str, Any]:
    return {
        "version": rt.rule.version,
        "fingerprint": rt.rule.fingerprint,
        "conditions": [{subject: ev.dump(st) for subject, st in states.items()}
                       for ev, states in zip(rt.evaluators, rt.states, strict=True)],
        "subjects": {subject: [list(s.levels), s.device, s.key, s.values]
                     for subject, s in rt.subjects.items()},
        "alarms": {key: [dict(a.subjects), a.raised, a.count, a.device, a.values, a.opened,
                         a.due] for key, a in rt.alarms.items()},
        "broken": rt.broken.to_dict() if rt.broken else None,
    }


def dump(rules: Mapping[str, RuleRuntime], contexts: Mapping[str, DeviceContext],
         clock: float | None) -> dict[str, Any]:
    """The snapshot of every rule's state, the known devices and the clock."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": clock,
        "devices": {key: ctx.to_dict() for key, ctx in contexts.items()},
        "rules": {rule_id: _dump_rule(rt) for rule_id, rt in rules.items()},
    }


# ---------------------------------------------------------------------------------------------
# Load


def _error(data: Mapping[str, Any] | None) -> RuleError | None:
    if not data:
        return None
    at = data.get("at")
    return RuleError(data["rule"], data["version"], data["error"],
                     datetime.fromisoformat(at) if at else None)


def _alarm(key: str, data: list[Any]) -> Alarm:
    alarm = Alarm(key)
    subjects, alarm.raised, alarm.count, alarm.device, alarm.values, alarm.opened, alarm.due = \
        data
    alarm.subjects = dict(subjects)
    return alarm


def _load_rule(rt: RuleRuntime, data: Mapping[str, Any]) -> None:
    conditions = data["conditions"]
    if len(conditions) != len(rt.evaluators):
        raise ValueError("condition count differs")
    rt.states = [{subject: ev.load(list(raw), None) for subject, raw in states.items()}
                 for ev, states in zip(rt.evaluators, conditions, strict=True)]
    for subject, (levels, device, key, values) in data["subjects"].items():
        item = Subject(len(rt.evaluators), device, key)
        item.levels = list(levels)
        item.combined = min(levels) if rt.match_all else max(levels)
        item.values = values
        rt.subjects[subject] = item
    rt.alarms = {key: _alarm(key, raw) for key, raw in data["alarms"].items()}
    rt.broken = _error(data.get("broken"))


def _dropped(rule_id: str, rule: Rule | None, data: Any, reason: str) -> list[
        tuple[str, Rule | None, Alarm, str]]:
    try:
        alarms = [_alarm(key, raw) for key, raw in data["alarms"].items()]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []
    return [(rule_id, rule, alarm, reason) for alarm in alarms if alarm.raised]


def check_header(snapshot: Any) -> None:
    """Refuse a value that is not a snapshot of a known format version."""
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != FORMAT:
        raise RulesInvalid("not a rule-engine snapshot", code="rules.snapshot_invalid",
                           reason="format")
    if snapshot.get("version") != VERSION:
        raise RulesInvalid("unsupported snapshot version", code="rules.snapshot_invalid",
                           reason=f"version {snapshot.get('version')!r}")


def load(snapshot: Mapping[str, Any], rules: Mapping[str, RuleRuntime]) -> Restored:
    """Load a snapshot into fresh rule runtimes; tolerant of rules that changed or vanished."""
    check_header(snapshot)
    out = Restored(clock=snapshot.get("clock"))
    for key, raw in (snapshot.get("devices") or {}).items():
        out.contexts[key] = DeviceContext.from_dict(raw)
    for rule_id, data in (snapshot.get("rules") or {}).items():
        rt = rules.get(rule_id)
        if rt is None:
            out.dropped += _dropped(rule_id, None, data, "rule_removed")
            continue
        if data.get("fingerprint") != rt.rule.fingerprint:
            out.dropped += _dropped(rule_id, rt.rule, data, "rule_changed")
            continue
        try:
            _load_rule(rt, data)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            rt.reset()
            out.dropped += _dropped(rule_id, rt.rule, data, "rule_changed")
    return out


def epoch(value: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(value, UTC)
