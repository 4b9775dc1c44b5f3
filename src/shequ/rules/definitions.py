"""Rules as data (规则): JSON/YAML documents, checked against the device catalogue.

A rule document (see `builtin_rules/` for complete ones)::

    id: gas_concentration              # identifier, unique in a rule set
    version: 1                         # bump on every change
    name: {zh: 燃气浓度超限, en: Gas concentration over limit}
    enabled: true
    severity: critical                 # info | warning | major | critical
    scope:                             # every part optional; empty = every device
      device_types: [gas_leak_detector]
      community: demo
      place: {building: 3, floor: 41, room: 907, facility: 5, facility_category: gas,
              zone: north}
      device: GAS-0001
    match: any                         # any | all: how several conditions combine
    conditions:
      - {kind: threshold, metric: concentration, comparator: gt, warning: 10, alarm: 25,
         hysteresis: 1, for_s: 0}
    schedule:                          # optional: raise only inside these windows
      timezone: Asia/Shanghai
      windows: [{days: [mon, tue, wed, thu, fri], from: "22:00", to: "06:00"}]
    dedup: {key: "{rule}:{subject}", cooldown_s: 300}
    linkage: gas_leak                  # linkage template to fire, or null

Condition kinds (levels are pre-warning 预警 ``warning`` and alarm 报警 ``alarm``):

- ``threshold``: a metric against two tiers with a comparator (gt/ge/lt/le for numbers, eq/in
  for any kind); optional ``hysteresis`` (a level is left only once the value is beyond its
  threshold by that much) and ``for_s`` (the level must hold that long: "above X for 5 min").
- ``duration``: a threshold whose ``for_s`` is required.
- ``rate``: change of a metric per minute over ``window_s`` against two tiers; ``for_s`` too.
- ``no_data``: no sample of ``metric`` (or no message at all) received for ``after_s``.
- ``offline``: no message at all for ``after_s``, by default the type's heartbeat timeout.
- ``event``: a device event key with optional field filters (``where``); the alarm holds for
  ``hold_s`` after the last match, or until ``clear_event`` arrives.
- ``count``: at least N matching events within ``window_s`` (two tiers), per device or per
  place (``group_by``).
- ``composite``: every part (an event or a metric test on some device types) occurred within
  ``within_s`` among the devices of one place (``group_by``, default the room = flat 户).

Every problem is reported with its field path (`shequ.rules.schema`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shequ.cim.models import FacilityCategory
from shequ.rules.places import GROUP_LEVELS, PLACE_LEVELS, DeviceContext
from shequ.rules.schema import MISSING, Node, Problems, check_template, read_document
from shequ.sensing.catalogue import (
    NUMERIC_KINDS,
    SEVERITIES,
    Catalogue,
    DeviceType,
    ValueSpec,
    brief,
    check_value,
    default_catalogue,
)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_rules"

LEVELS: tuple[str, ...] = ("warning", "alarm")
RANK: Mapping[str, int] = {"warning": 1, "alarm": 2}
LEVEL_NAMES: tuple[str, str, str] = ("normal", "warning", "alarm")
ABOVE = ("gt", "ge")
BELOW = ("lt", "le")
ORDERED = (*ABOVE, *BELOW)
THRESHOLD_COMPARATORS = (*ORDERED, "eq", "in")
FILTER_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS = ("threshold", "duration", "rate", "no_data", "offline", "event", "count", "composite")
KEY_FIELDS = ("rule", "subject", "device", "device_type", "community", "building", "unit",
              "floor", "room", "facility", "facility_category", "zone")
DEFAULT_KEY = "{rule}:{subject}"
DEFAULT_HOLD_S = 300.0
DEFAULT_TIMEZONE = "Asia/Shanghai"
PLACE_IDS = ("building", "unit", "floor", "room", "facility")


# ---------------------------------------------------------------------------------------------
# The model


def compare(op: str, value: Any, bound: Any) -> bool:
    """Apply a comparator (gt ge lt le eq ne in) to a value and a bound."""
    if op == "gt":
        return bool(value > bound)
    if op == "ge":
        return bool(value >= bound)
    if op == "lt":
        return bool(value < bound)
    if op == "le":
        return bool(value <= bound)
    if op == "eq":
        return bool(value == bound)
    if op == "ne":
        return bool(value != bound)
    return value in bound


@dataclass(frozen=True)
class Scope:
    """Which devices a rule watches: types, community, place ids, or one device."""

    device_types: frozenset[str] = frozenset()
    community: str | None = None
    device: str | None = None
    building: int | None = None
    unit: int | None = None
    floor: int | None = None
    room: int | None = None
    facility: int | None = None
    facility_category: str | None = None
    zone: str | None = None

    @cached_property
    def place_tests(self) -> tuple[tuple[str, Any], ...]:
        """The (place attribute, required value) pairs."""
        names = (*PLACE_IDS, "facility_category", "zone")
        return tuple((name, getattr(self, name)) for name in names
                     if getattr(self, name) is not None)

    def matches(self, ctx: DeviceContext) -> bool:
        """Whether a device is in scope (its type is checked by the engine's index)."""
        if self.device is not None and ctx.device != self.device:
            return False
        if self.community is not None and ctx.community != self.community:
            return False
        place = ctx.place
        return all(getattr(place, name) == value for name, value in self.place_tests)


@dataclass(frozen=True)
class FieldFilter:
    """A test on one event field: ``field op value``."""

    field: str
    op: str
    value: Any

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether an event's data passes the test (a missing field fails it)."""
        found = values.get(self.field, MISSING)
        if found is MISSING:
            return False
        try:
            return compare(self.op, found, self.value)
        except TypeError:
            return False


def passes(filters: Sequence[FieldFilter], values: Mapping[str, Any]) -> bool:
    """Whether event data passes every filter."""
    return all(item.matches(values) for item in filters)


@dataclass(frozen=True, kw_only=True)
class Condition:
    """A condition of a rule; `group_by` is the subject it is evaluated per."""

    kind: str
    group_by: str = "device"


@dataclass(frozen=True, kw_only=True)
class Tiered(Condition):
    """A two-tier test (预警 warning / 报警 alarm) on a metric, optionally held for `for_s`."""

    metric: str
    comparator: str
    warning: Any = None
    alarm: Any = None
    for_s: float = 0.0

    @cached_property
    def tiers(self) -> tuple[tuple[int, Any], ...]:
        """(level, bound) pairs, the alarm tier first."""
        return tuple((level, bound) for level, bound in ((2, self.alarm), (1, self.warning))
                     if bound is not None)


@dataclass(frozen=True, kw_only=True)
class Threshold(Tiered):
    """A metric against two tiers, with hysteresis (and `for_s` for a duration)."""

    hysteresis: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Rate(Tiered):
    """The change of a metric per minute, measured over `window_s`, against two tiers."""

    window_s: float = 60.0


@dataclass(frozen=True, kw_only=True)
class NoData(Condition):
    """Nothing received (of one metric, or at all) for `after_s` (None: heartbeat timeout)."""

    metric: str | None = None
    after_s: float | None = None
    level: int = 2


@dataclass(frozen=True, kw_only=True)
class EventMatch(Condition):
    """A device event (optionally filtered); active `hold_s` after the last match."""

    event: str
    where: tuple[FieldFilter, ...] = ()
    level: int = 2
    hold_s: float = DEFAULT_HOLD_S
    clear_event: str | None = None


@dataclass(frozen=True, kw_only=True)
class Count(Condition):
    """At least N matching events within `window_s` (inclusive), two tiers."""

    events: tuple[str, ...]
    where: tuple[FieldFilter, ...] = ()
    window_s: float
    warning: int | None = None
    alarm: int | None = None


@dataclass(frozen=True)
class Part:
    """One part of a composite: an event, or a metric test, on some device types."""

    device_types: frozenset[str]
    event: str | None = None
    where: tuple[FieldFilter, ...] = ()
    metric: str | None = None
    comparator: str = "ge"
    value: Any = None


@dataclass(frozen=True, kw_only=True)
class Composite(Condition):
    """Every part occurred within `within_s` among the devices of one place (`group_by`)."""

    parts: tuple[Part, ...]
    within_s: float
    level: int = 2


@dataclass(frozen=True)
class Window:
    """A weekly time window in minutes of the day; `end` < `start` crosses midnight."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether a local weekday (0 = Monday) and minute of day fall in the window."""
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return weekday in self.days
        return minute < self.end and (weekday - 1) % 7 in self.days


@dataclass(frozen=True)
class Schedule:
    """When a rule may raise: weekly windows in a time zone (the day is the start's day)."""

    timezone: str
    windows: tuple[Window, ...]

    @cached_property
    def zone(self) -> ZoneInfo:
        """The time zone."""
        return ZoneInfo(self.timezone)

    def is_open(self, ts: float) -> bool:
        """Whether an epoch time falls inside a window."""
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        return any(window.contains(weekday, minute) for window in self.windows)


@dataclass(frozen=True)
class Dedup:
    """De-duplication (去重): the alarm key template and the cool-down after the condition ends."""

    key: str = DEFAULT_KEY
    cooldown_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One validated rule."""

    id: str
    version: int
    name_zh: str
    name_en: str
    enabled: bool = True
    severity: str = "major"
    scope: Scope = field(default_factory=Scope)
    conditions: tuple[Condition, ...]
    match: str = "any"
    schedule: Schedule | None = None
    dedup: Dedup = field(default_factory=Dedup)
    linkage: str | None = None
    source: str = ""
    fingerprint: str = ""

    def name(self, lang: str | None = None) -> str:
        """The display name in a language."""
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True)
class RuleSet:
    """The rules an engine runs, by id."""

    rules: tuple[Rule, ...] = ()

    @cached_property
    def by_id(self) -> Mapping[str, Rule]:
        """The rules by id."""
        return {rule.id: rule for rule in self.rules}

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        return self.by_id.get(rule_id)


# ---------------------------------------------------------------------------------------------
# Parsing


def fingerprint(doc: Any) -> str:
    """A stable digest of a rule document (changes whenever the document does)."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def level_rank(node: Node, default: str = "alarm") -> int:
    """A level name (warning/alarm) as its rank."""
    return RANK.get(node.choice(LEVELS, default) or default, 2)


class _RuleParser:
    """Parses one rule document against a catalogue, recording every problem."""

    def __init__(self, catalogue: Catalogue, linkages: Iterable[str] | None) -> None:
        self.catalogue = catalogue
        self.linkages = None if linkages is None else frozenset(linkages)

    # --- scope -------------------------------------------------------------------------------

    def scope(self, node: Node) -> Scope:
        if not node.present:
            return Scope()
        if not node.mapping((), ("device_types", "community", "place", "device")):
            return Scope()
        types_node = node.child("device_types")
        types = types_node.keys()
        for index, type_id in enumerate(types):
            if type_id not in self.catalogue:
                types_node.child(index).fail("unknown_device_type", value=type_id)
        place = self.place(node.child("place"))
        community = node.child("community").text(None, max_length=63)
        device = node.child("device").text(None, max_length=128)
        return Scope(device_types=frozenset(types), community=community, device=device, **place)

    @staticmethod
    def place(node: Node) -> dict[str, Any]:
        if not node.present:
            return {}
        if not node.mapping((), (*PLACE_IDS, "facility_category", "zone")):
            return {}
        out: dict[str, Any] = {key: node.child(key).integer(None) for key in PLACE_IDS}
        out["facility_category"] = node.child("facility_category").choice(
            [str(item) for item in FacilityCategory], None)
        out["zone"] = node.child("zone").text(None, max_length=64)
        if not node.value:
            node.fail("empty")
        return out

    # --- device types in scope --------------------------------------------------------------

    def types_for(self, scope: Scope, explicit: Iterable[str] = ()) -> list[DeviceType]:
        """The device types a condition applies to (explicit, else the scope's, else all)."""
        wanted = tuple(explicit) or tuple(sorted(scope.device_types))
        if not wanted:
            return list(self.catalogue)
        return [self.catalogue.types[t] for t in wanted if t in self.catalogue]

    def _declared(self, node: Node, types: list[DeviceType], explicit: bool, key: str,
                  what: str) -> list[DeviceType]:
        """The types declaring a metric/event; a problem when one (or all) do not."""
        index = "metric_index" if what == "metric" else "event_index"
        having = [dt for dt in types if key in getattr(dt, index)]
        if explicit:
            for device_type in types:
                if device_type not in having:
                    node.fail(f"unknown_{what}", value=key, device_type=device_type.id)
        elif not having:
            node.fail(f"no_type_has_{what}", value=key)
        return having

    def metric_specs(self, node: Node, scope: Scope, metric: str | None,
                     explicit: Iterable[str] | None = None) -> list[ValueSpec]:
        """The specs of a metric in the types of the scope that declare it.

        A condition needs every listed scope type to declare it; a composite part (`explicit`
        given) needs every type it lists, or, listing none, at least one scope type.
        """
        if metric is None:
            return []
        chosen = tuple(explicit or ())
        types = self.types_for(scope, chosen)
        strict = bool(chosen) if explicit is not None else bool(scope.device_types)
        having = self._declared(node, types, strict, metric, "metric")
        return [dt.metric_index[metric] for dt in having]

    def event_types(self, node: Node, scope: Scope, event: str | None,
                    explicit: Iterable[str] | None = None) -> list[DeviceType]:
        """The device types of the scope that declare an event (strictness as for metrics)."""
        if event is None:
            return []
        chosen = tuple(explicit or ())
        types = self.types_for(scope, chosen)
        strict = bool(chosen) if explicit is not None else bool(scope.device_types)
        return self._declared(node, types, strict, event, "event")

    # --- values ------------------------------------------------------------------------------

    @staticmethod
    def value(node: Node, specs: Sequence[ValueSpec], *, listed: bool = False) -> Any:
        """A literal checked against metric/field specs (a list of them when `listed`)."""
        if not node.present:
            return None
        raw = node.value
        if listed:
            if not isinstance(raw, list) or not raw:
                node.fail("not_list", value=brief(raw))
                return None
            items = [_RuleParser.value(node.child(i), specs) for i in range(len(raw))]
            return None if any(item is None for item in items) else tuple(items)
        for spec in specs:
            if check_value(spec, raw) is not None:
                node.fail("bad_value", value=brief(raw), target=spec.key)
                return None
        return raw

    def comparator(self, node: Node, specs: Sequence[ValueSpec], allowed: Sequence[str]) -> str:
        op = node.choice(allowed) or "ge"
        if op in ORDERED and any(spec.kind not in NUMERIC_KINDS for spec in specs):
            node.fail("not_numeric", comparator=op, kind=specs[0].kind if specs else "?")
        return op

    def tiers(self, node: Node, op: str, specs: Sequence[ValueSpec],
              numeric_only: bool = False) -> tuple[Any, Any]:
        """The warning and alarm bounds, checked against the metric and ordered."""
        listed = op == "in"
        pair = []
        for name in ("warning", "alarm"):
            child = node.child(name)
            if numeric_only:
                pair.append(child.number(None))
            else:
                pair.append(self.value(child, specs, listed=listed))
        warning, alarm = pair
        if not node.child("warning").present and not node.child("alarm").present:
            node.fail("no_tier")
        elif warning is not None and alarm is not None and op in ORDERED:
            wrong = warning > alarm if op in ABOVE else warning < alarm
            if wrong:
                node.child("alarm").fail("tier_order", warning=warning, alarm=alarm,
                                         comparator=op)
        return warning, alarm

    def filters(self, node: Node, types: Sequence[DeviceType],
                event: str | None) -> tuple[FieldFilter, ...]:
        """The ``where`` filters of an event, checked against its declared fields."""
        out = []
        for name, child in node.entries():
            specs = [dt.event_index[event].field_index[name] for dt in types
                     if event is not None and event in dt.event_index
                     and name in dt.event_index[event].field_index]
            if len(specs) < len(types) or not specs:
                child.fail("unknown_event_field", value=name, event=event or "?")
                continue
            out.append(self.one_filter(child, name, specs))
        return tuple(item for item in out if item is not None)

    def one_filter(self, node: Node, name: str, specs: Sequence[ValueSpec]) -> FieldFilter | None:
        raw = node.value
        if isinstance(raw, list):
            value = self.value(node, specs, listed=True)
            return None if value is None else FieldFilter(name, "in", value)
        if not isinstance(raw, dict):
            value = self.value(node, specs)
            return None if value is None else FieldFilter(name, "eq", value)
        if len(raw) != 1:
            node.fail("one_of", options=", ".join(FILTER_OPS))
            return None
        op_name = next(iter(raw))
        op = Node(op_name, node.path, node.problems).choice(FILTER_OPS)
        if op is None:
            return None
        if op in ORDERED and any(spec.kind not in NUMERIC_KINDS for spec in specs):
            node.fail("not_numeric", comparator=op, kind=specs[0].kind)
            return None
        value = self.value(node.child(op_name), specs, listed=op == "in")
        return None if value is None else FieldFilter(name, op, value)

    # --- conditions --------------------------------------------------------------------------

    def condition(self, node: Node, scope: Scope) -> Condition | None:
        if not isinstance(node.value, dict):
            node.fail("not_mapping", value=brief(node.value))
            return None
        kind = node.child("kind").choice(KINDS)
        if kind is None:
            return None
        parse = getattr(self, f"cond_{kind}")
        result: Condition | None = parse(node, scope)
        return result

    def _tiered(self, node: Node, scope: Scope, extra: Sequence[str],
                comparators: Sequence[str]) -> dict[str, Any] | None:
        keys = ("kind", "metric", "comparator", "warning", "alarm", "for_s", *extra)
        node.mapping(("kind", "metric", "comparator"), keys)
        metric = node.child("metric").key()
        specs = self.metric_specs(node.child("metric"), scope, metric)
        op = self.comparator(node.child("comparator"), specs, comparators)
        rate = "window_s" in extra
        warning, alarm = self.tiers(node, op, specs, numeric_only=rate)
        for_s = node.child("for_s").number(0.0, minimum=0)
        if metric is None:
            return None
        return {"metric": metric, "comparator": op, "warning": warning, "alarm": alarm,
                "for_s": for_s or 0.0}

    def cond_threshold(self, node: Node, scope: Scope, kind: str = "threshold") -> Threshold | None:
        parts = self._tiered(node, scope, ("hysteresis",), THRESHOLD_COMPARATORS)
        hysteresis = node.child("hysteresis").number(0.0, minimum=0) or 0.0
        if hysteresis and parts is not None and parts["comparator"] not in ORDERED:
            node.child("hysteresis").fail("not_for_comparator", comparator=parts["comparator"])
        if kind == "duration" and not node.child("for_s").present:
            node.child("for_s").fail("missing")
        elif kind == "duration" and parts is not None and not parts["for_s"]:
            node.child("for_s").fail("not_positive", value=0)
        if parts is None:
            return None
        return Threshold(kind=kind, hysteresis=hysteresis, **parts)

    def cond_duration(self, node: Node, scope: Scope) -> Threshold | None:
        return self.cond_threshold(node, scope, "duration")

    def cond_rate(self, node: Node, scope: Scope) -> Rate | None:
        parts = self._tiered(node, scope, ("window_s",), ORDERED)
        window = node.child("window_s").number(60.0, positive=True)
        if parts is None or window is None:
            return None
        return Rate(kind="rate", window_s=window, **parts)

    def cond_no_data(self, node: Node, scope: Scope, kind: str = "no_data") -> NoData | None:
        optional = ("kind", "after_s", "level") if kind == "offline" else \
            ("kind", "after_s", "level", "metric")
        node.mapping(("kind",) if kind == "offline" else ("kind", "after_s"), optional)
        metric = node.child("metric").key(None)
        self.metric_specs(node.child("metric"), scope, metric)
        after = node.child("after_s").number(None, positive=True)
        level = level_rank(node.child("level"))
        return NoData(kind=kind, metric=metric, after_s=after, level=level)

    def cond_offline(self, node: Node, scope: Scope) -> NoData | None:
        return self.cond_no_data(node, scope, "offline")

    def cond_event(self, node: Node, scope: Scope) -> EventMatch | None:
        node.mapping(("kind", "event"), ("kind", "event", "where", "level", "hold_s",
                                         "clear_event"))
        event = node.child("event").key()
        types = self.event_types(node.child("event"), scope, event)
        where = self.filters(node.child("where"), types, event)
        clear = node.child("clear_event").key(None)
        self.event_types(node.child("clear_event"), scope, clear)
        hold = node.child("hold_s").number(DEFAULT_HOLD_S, minimum=0)
        level = level_rank(node.child("level"))
        if event is None or hold is None:
            return None
        return EventMatch(kind="event", event=event, where=where, level=level, hold_s=hold,
                          clear_event=clear)

    def group_by(self, node: Node, default: str, levels: Sequence[str]) -> str:
        return node.choice(levels, default) or default

    def cond_count(self, node: Node, scope: Scope) -> Count | None:
        node.mapping(("kind", "window_s"), ("kind", "event", "events", "where", "window_s",
                                            "warning", "alarm", "group_by"))
        events = self.count_events(node)
        several = node.child("events").present
        where: tuple[FieldFilter, ...] = ()
        for index, event in enumerate(events):
            at = node.child("events").child(index) if several else node.child("event")
            where = self.filters(node.child("where"), self.event_types(at, scope, event), event)
        window = node.child("window_s").number(positive=True)
        warning = node.child("warning").integer(None)
        alarm = node.child("alarm").integer(None)
        if not node.child("warning").present and not node.child("alarm").present:
            node.fail("no_tier")
        if warning is not None and alarm is not None and warning > alarm:
            node.child("alarm").fail("tier_order", warning=warning, alarm=alarm, comparator="ge")
        group = self.group_by(node.child("group_by"), "device", GROUP_LEVELS)
        if not events or window is None:
            return None
        return Count(kind="count", events=events, where=where, window_s=window,
                     warning=warning, alarm=alarm, group_by=group)

    @staticmethod
    def count_events(node: Node) -> tuple[str, ...]:
        single, several = node.child("event"), node.child("events")
        if single.present == several.present:
            node.fail("one_of", options="event, events")
            return ()
        if single.present:
            key = single.key()
            return (key,) if key else ()
        return several.keys(required=True)

    def cond_composite(self, node: Node, scope: Scope) -> Composite | None:
        node.mapping(("kind", "all", "within_s"), ("kind", "all", "within_s", "level",
                                                   "group_by"))
        within = node.child("within_s").number(positive=True)
        group = self.group_by(node.child("group_by"), "room", PLACE_LEVELS)
        parts_node = node.child("all")
        parts = [self.part(item, scope) for item in parts_node.items(required=True)]
        if parts_node.present and len(parts) < 2:
            parts_node.fail("too_few_parts")
        level = level_rank(node.child("level"))
        if within is None or any(part is None for part in parts) or len(parts) < 2:
            return None
        return Composite(kind="composite", parts=tuple(p for p in parts if p is not None),
                         within_s=within, level=level, group_by=group)

    def part(self, node: Node, scope: Scope) -> Part | None:
        if not node.mapping((), ("device_types", "event", "where", "metric", "comparator",
                                 "value")):
            return None
        types_node = node.child("device_types")
        explicit = types_node.keys()
        for index, type_id in enumerate(explicit):
            if type_id not in self.catalogue:
                types_node.child(index).fail("unknown_device_type", value=type_id)
            elif scope.device_types and type_id not in scope.device_types:
                types_node.child(index).fail("outside_scope", value=type_id)
        event, metric = node.child("event").key(None), node.child("metric").key(None)
        if (event is None) == (metric is None):
            node.fail("one_of", options="event, metric")
            return None
        known = tuple(t for t in explicit if t in self.catalogue)
        if event is not None:
            types = self.event_types(node.child("event"), scope, event, known)
            where = self.filters(node.child("where"), types, event)
            return Part(frozenset(dt.id for dt in types), event=event, where=where)
        specs = self.metric_specs(node.child("metric"), scope, metric, known)
        op = self.comparator(node.child("comparator"), specs, THRESHOLD_COMPARATORS)
        value = self.value(node.child("value"), specs, listed=op == "in")
        if value is None:
            node.child("value").fail("missing")
            return None
        having = [t for t in (known or sorted(scope.device_types) or self.catalogue.types)
                  if t in self.catalogue and metric in self.catalogue.types[t].metric_index]
        return Part(frozenset(having), metric=metric, comparator=op, value=value)

    # --- schedule, dedup, the rule -------------------------------------------------------------

    def schedule(self, node: Node) -> Schedule | None:
        if not node.present or not node.mapping(("windows",), ("timezone", "windows")):
            return None
        zone = node.child("timezone").text(DEFAULT_TIMEZONE, max_length=64) or DEFAULT_TIMEZONE
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            node.child("timezone").fail("bad_timezone", value=zone)
        windows = [self.window(item) for item in node.child("windows").items(required=True)]
        if node.child("windows").present and not windows:
            node.child("windows").fail("empty")
        if any(window is None for window in windows):
            return None
        return Schedule(zone, tuple(w for w in windows if w is not None))

    def window(self, node: Node) -> Window | None:
        if not node.mapping(("from", "to"), ("days", "from", "to")):
            return None
        days_node = node.child("days")
        days = [WEEKDAYS.index(d) for d in (child.choice(WEEKDAYS) for child in
                                            days_node.items()) if d is not None]
        start, end = self.clock(node.child("from")), self.clock(node.child("to"), allow_24=True)
        if start is None or end is None:
            return None
        if start == end:
            node.fail("empty_window")
            return None
        return Window(frozenset(days) if days_node.present else frozenset(range(7)), start, end)

    @staticmethod
    def clock(node: Node, allow_24: bool = False) -> int | None:
        raw = node.text()
        if raw is None:
            return None
        hours, sep, minutes = raw.partition(":")
        if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
            node.fail("bad_time", value=brief(raw))
            return None
        total = int(hours) * 60 + int(minutes)
        if int(minutes) >= 60 or total > (1440 if allow_24 else 1439):
            node.fail("bad_time", value=brief(raw))
            return None
        return total

    @staticmethod
    def dedup(node: Node) -> Dedup:
        if not node.present or not node.mapping((), ("key", "cooldown_s")):
            return Dedup()
        key = node.child("key").text(DEFAULT_KEY, max_length=200) or DEFAULT_KEY
        check_template(node.child("key"), key, KEY_FIELDS)
        cooldown = node.child("cooldown_s").number(0.0, minimum=0) or 0.0
        return Dedup(key, cooldown)

    def linkage(self, node: Node) -> str | None:
        linkage = node.key(None)
        if linkage is not None and self.linkages is not None and linkage not in self.linkages:
            node.fail("unknown_linkage", value=linkage)
        return linkage

    def check_match(self, node: Node, match: str, conditions: Sequence[Condition]) -> None:
        if match == "all" and len({cond.group_by for cond in conditions}) > 1:
            node.fail("group_mismatch", expected=conditions[0].group_by)

    def rule(self, node: Node, source: str) -> Rule | None:
        required = ("id", "version", "name", "conditions")
        optional = ("enabled", "severity", "scope", "match", "schedule", "dedup", "linkage",
                    "description")
        before = len(node.problems.items)
        if not node.mapping(required, (*required, *optional)):
            return None
        rule_id = node.child("id").key()
        version = node.child("version").integer()
        names = node.child("name").names()
        node.child("description").text(None, max_length=2000)
        scope = self.scope(node.child("scope"))
        conditions_node = node.child("conditions")
        conditions = [self.condition(item, scope) for item in conditions_node.items(required=True)]
        if conditions_node.present and not conditions:
            conditions_node.fail("empty")
        match = node.child("match").choice(("any", "all"), "any") or "any"
        valid = [cond for cond in conditions if cond is not None]
        self.check_match(node.child("match"), match, valid)
        rule = Rule(
            id=rule_id or "", version=version or 0, name_zh=names[0] if names else "",
            name_en=names[1] if names else "",
            enabled=bool(node.child("enabled").boolean(True)),
            severity=node.child("severity").choice(SEVERITIES, "major") or "major",
            scope=scope, conditions=tuple(valid), match=match,
            schedule=self.schedule(node.child("schedule")), dedup=self.dedup(node.child("dedup")),
            linkage=self.linkage(node.child("linkage")), source=source,
            fingerprint=fingerprint(node.value),
        )
        return rule if len(node.problems.items) == before else None


def _parser(catalogue: Catalogue | None, linkages: Iterable[str] | None) -> _RuleParser:
    return _RuleParser(catalogue or default_catalogue(), linkages)


def parse_rule(doc: Any, *, catalogue: Catalogue | None = None,
               linkages: Iterable[str] | None = None, lang: str | None = None,
               source: str | None = None) -> Rule:
    """Validate one rule document; `RulesInvalid` lists every problem with its field path.

    `linkages` are the known linkage template ids (None: not checked).
    """
    problems = Problems(source, lang)
    rule = _parser(catalogue, linkages).rule(Node(doc, "", problems), source or "")
    problems.raise_if_any()
    assert rule is not None
    return rule


def _collect(parser: _RuleParser, docs: Iterable[tuple[Any, str, str]], lang: str | None,
             problems: Problems) -> RuleSet:
    rules: dict[str, Rule] = {}
    for doc, path, source in docs:
        local = Problems(source or None, lang)
        rule = parser.rule(Node(doc, path, local), source)
        problems.extend(local)
        if rule is None:
            continue
        if rule.id in rules:
            local.add(f"{path}.id" if path else "id", "duplicate_rule", value=rule.id,
                      other=rules[rule.id].source or "-")
            problems.items.append(local.items[-1])
            continue
        rules[rule.id] = rule
    return RuleSet(tuple(rules.values()))


def parse_rules(docs: Sequence[Any], *, catalogue: Catalogue | None = None,
                linkages: Iterable[str] | None = None, lang: str | None = None) -> RuleSet:
    """Validate a list of rule documents (paths ``[0].conditions...``) into a rule set."""
    problems = Problems(None, lang)
    if not isinstance(docs, list):
        problems.add("", "not_list", value=brief(docs))
        problems.raise_if_any()
    found = _collect(_parser(catalogue, linkages),
                     ((doc, f"[{i}]", "") for i, doc in enumerate(docs)), lang, problems)
    problems.raise_if_any()
    return found


def _file_docs(paths: Iterable[Path], problems: Problems) -> list[tuple[Any, str, str]]:
    docs: list[tuple[Any, str, str]] = []
    for path in paths:
        local = Problems(path.name, problems.lang)
        doc = read_document(path, local)
        problems.extend(local)
        if doc is MISSING:
            continue
        if isinstance(doc, list):
            docs.extend((item, f"[{i}]", path.name) for i, item in enumerate(doc))
        else:
            docs.append((doc, "", path.name))
    return docs


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory (``*.yaml``, ``*.yml``, ``*.json``), sorted."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def load_rules(sources: Iterable[str | Path] = (BUILTIN_DIR,), *,
               catalogue: Catalogue | None = None, linkages: Iterable[str] | None = None,
               lang: str | None = None) -> RuleSet:
    """Load and validate rule files and directories; problems name the file and the path."""
    problems = Problems(None, lang)
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            paths.extend(rule_files(source))
        elif source.is_file():
            paths.append(source)
        else:
            problems.add(str(source), "no_file")
    docs = _file_docs(paths, problems)
    found = _collect(_parser(catalogue, linkages), docs, lang, problems)
    problems.raise_if_any()
    return found


@lru_cache(maxsize=1)
def builtin_rules() -> RuleSet:
    """The built-in demo rules (`builtin_rules/`), checked against the built-in templates."""
    from shequ.rules.linkage import builtin_templates

    return load_rules(linkages=builtin_templates())
