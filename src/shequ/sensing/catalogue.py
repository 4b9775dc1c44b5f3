"""Device types as data: one YAML file per type, loaded into frozen descriptors and checked.

A device type (设备类型) declares what a device of that kind reports and accepts: metrics,
events, commands, shadow state keys, heartbeat timeout, guide sampling/transmission rates, the
guide's quantitative indicators (Table 1) and, optionally, how foreign payloads (FIWARE Smart
Data Models) map onto its metrics. Adding a type is adding a file: every file is checked at load
against the unit table (`units.yaml`) and the Table 1 / Table 2 rows, and any mistake is reported
with the file and the path inside it, e.g. ``camera.yaml: metrics[2].unit: unknown unit 'Vx'``.

Files live in `device_types/`; a deployment adds types by passing extra directories to
`load_catalogue(extra_dirs=...)`. A type id must equal its file name and be unique across all
directories (a deployment cannot silently replace a built-in type).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, NoReturn

import yaml

from shequ.kit.errors import NotFound, ValidationFailed
from shequ.kit.i18n import t

HERE = Path(__file__).resolve().parent
TYPES_DIR = HERE / "device_types"
UNITS_FILE = HERE / "units.yaml"

# Table 1 groups (5.1-1) and the rows each contains.
GROUPS: Mapping[str, tuple[str, ...]] = {
    "infrastructure": (
        "T1.water", "T1.power", "T1.gas", "T1.streetlight", "T1.fire", "T1.sanitation",
    ),
    "smart_device": (
        "T1.pa", "T1.infoscreen", "T1.energy", "T1.firealarm", "T1.intrusion", "T1.video",
        "T1.access", "T1.patrol", "T1.intercom", "T1.parking",
    ),
    "network_storage": ("T1.network", "T1.localstore", "T1.cloud"),
}
ROW_GROUP: Mapping[str, str] = {row: group for group, rows in GROUPS.items() for row in rows}

# Table 2 "community IoT sensing data" rows a type may declare it serves.
TABLE2_IOT: frozenset[str] = frozenset({
    "T2.iot.building.equipment", "T2.iot.building.energy", "T2.iot.facility.water-supply",
    "T2.iot.facility.drainage", "T2.iot.facility.gas", "T2.iot.facility.heat",
    "T2.iot.facility.sanitation", "T2.iot.facility.road-lighting", "T2.iot.facility.waste",
    "T2.iot.env.rain", "T2.iot.env.temperature", "T2.iot.env.pressure", "T2.iot.env.humidity",
    "T2.iot.env.pm25", "T2.iot.env.pm10", "T2.iot.env.other", "T2.iot.security.video",
    "T2.iot.security.vehicle", "T2.iot.security.access", "T2.iot.security.person",
    "T2.iot.security.other",
})

METRIC_KINDS = ("number", "integer", "boolean", "enum", "string")
FIELD_KINDS = (*METRIC_KINDS, "list")
ITEM_KINDS = ("integer", "enum", "string")
NUMERIC_KINDS = ("number", "integer")
SEVERITIES = ("info", "warning", "major", "critical")
COMPARATORS: Mapping[str, str] = {
    "ge": "≥", "gt": ">", "le": "≤", "lt": "<", "eq": "=", "abs_le": "|x| ≤",
}
SOURCES = ("declared", "measured")
DEFAULT_MAX_LENGTH = 256
DEFAULT_RETENTION_DAYS = 90
"""Raw telemetry is kept at least this long unless a type declares `retention_days`."""
DEFAULT_MAX_ITEMS = 64

KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
REQUIREMENT_RE = re.compile(r"(T[123]\.[a-z0-9.\-]+|[1-6](\.[0-9]+)*(\.[a-z])?(-[0-9]+)?)")
ENTITY_TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class CatalogueError(ValidationFailed):
    """A device type file or the unit table is invalid; names the file and the path inside it."""

    code = "sensing.catalogue.invalid"

    def __init__(self, code: str, file: str, path: str, **params: Any) -> None:
        message = t(code, "en", file=file, path=path, **params)
        super().__init__(message, code=code, file=file, path=path, **params)
        self.file = file
        self.path = path


@dataclass(frozen=True)
class _At:
    """Where a value sits: the file and the path inside it (for error messages)."""

    file: str
    path: str = ""

    def sub(self, key: str | int) -> _At:
        """The location of a child value."""
        if isinstance(key, int):
            return _At(self.file, f"{self.path}[{key}]")
        return _At(self.file, f"{self.path}.{key}" if self.path else key)

    def fail(self, code: str, **params: Any) -> NoReturn:
        """Raise a catalogue error at this location."""
        raise CatalogueError(f"sensing.catalogue.{code}", self.file, self.path or "(top)", **params)


# ---------------------------------------------------------------------------------------------
# Descriptors


@dataclass(frozen=True)
class Unit:
    """One allowed unit symbol with its zh/en names and physical quantity."""

    symbol: str
    name_zh: str
    name_en: str
    quantity: str


@dataclass(frozen=True, kw_only=True)
class ValueSpec:
    """A typed value: kind, unit, valid range or enumeration, length limits."""

    key: str
    name_zh: str
    name_en: str
    kind: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH
    item_kind: str | None = None
    max_items: int = DEFAULT_MAX_ITEMS

    @cached_property
    def allowed(self) -> frozenset[str]:
        """The enumeration values as a set (for fast membership tests)."""
        return frozenset(self.values)


@dataclass(frozen=True)
class AlarmHint:
    """Default two-tier thresholds (pre-warning 预警 / alarm 报警) a rule may start from."""

    warn_above: float | None = None
    alarm_above: float | None = None
    warn_below: float | None = None
    alarm_below: float | None = None
    warn_on: tuple[Any, ...] = ()
    alarm_on: tuple[Any, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MetricSpec(ValueSpec):
    """One telemetry metric of a device type."""

    alarm_hint: AlarmHint | None = None


@dataclass(frozen=True, kw_only=True)
class ParamSpec(ValueSpec):
    """A command parameter or an event payload field."""

    required: bool = False
    default: Any = None


@dataclass(frozen=True, kw_only=True)
class StateSpec(ValueSpec):
    """A device shadow key: reported by the device, desired by the platform when writable."""

    writable: bool = False


@dataclass(frozen=True)
class EventSpec:
    """An event a device may raise, with its severity and payload fields."""

    key: str
    name_zh: str
    name_en: str
    severity: str
    fields: tuple[ParamSpec, ...] = ()

    @cached_property
    def field_index(self) -> Mapping[str, ParamSpec]:
        """The payload fields by key."""
        return {spec.key: spec for spec in self.fields}

    @cached_property
    def required_fields(self) -> tuple[str, ...]:
        """The keys of the fields every event must carry."""
        return tuple(spec.key for spec in self.fields if spec.required)


@dataclass(frozen=True)
class StateEffect:
    """What a command does to one desired-state key: a constant or a parameter's value."""

    key: str
    value: Any = None
    param: str | None = None


@dataclass(frozen=True)
class CommandSpec:
    """A command the platform may send, with parameters, ack timeout and shadow effects."""

    key: str
    name_zh: str
    name_en: str
    ack_timeout_s: float
    params: tuple[ParamSpec, ...] = ()
    sets: tuple[StateEffect, ...] = ()

    @cached_property
    def param_index(self) -> Mapping[str, ParamSpec]:
        """The parameters by key."""
        return {spec.key: spec for spec in self.params}

    @property
    def changes_state(self) -> bool:
        """Whether the command changes the device shadow's desired state."""
        return bool(self.sets)

    @property
    def state_keys(self) -> tuple[str, ...]:
        """The shadow keys the command changes."""
        return tuple(effect.key for effect in self.sets)


@dataclass(frozen=True)
class IndicatorSpec:
    """A quantitative indicator (Table 1) a device must meet: property, comparator, threshold."""

    key: str
    name_zh: str
    name_en: str
    comparator: str
    threshold: Any
    unit: str | None = None
    source: str = "declared"
    requirement: str | None = None


@dataclass(frozen=True)
class AttributeMap:
    """How one foreign attribute (or a path inside it) becomes a metric value."""

    path: tuple[str | int, ...]
    metric: str
    scale: float = 1.0
    offset: float = 0.0
    values: Mapping[str, Any] = field(default_factory=dict)
    unit_codes: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FiwareMapping:
    """A FIWARE entity type's mapping onto one device type's metrics."""

    entity_type: str
    device_type: str
    timestamp: tuple[str, ...]
    attributes: tuple[AttributeMap, ...]


@dataclass(frozen=True)
class DeviceType:
    """One kind of device, as declared by its YAML file."""

    id: str
    name_zh: str
    name_en: str
    group: str
    row: str | None
    heartbeat_timeout_s: int
    metrics: tuple[MetricSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    commands: tuple[CommandSpec, ...] = ()
    state: tuple[StateSpec, ...] = ()
    indicators: tuple[IndicatorSpec, ...] = ()
    sample_interval_max_s: int | None = None
    transmit_interval_max_s: int | None = None
    rate_requirements: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    table2: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    fiware: tuple[FiwareMapping, ...] = ()
    source: str = ""
    retention_days: int = DEFAULT_RETENTION_DAYS

    @cached_property
    def metric_index(self) -> Mapping[str, MetricSpec]:
        """The metrics by key."""
        return {spec.key: spec for spec in self.metrics}

    @cached_property
    def event_index(self) -> Mapping[str, EventSpec]:
        """The events by key."""
        return {spec.key: spec for spec in self.events}

    @cached_property
    def command_index(self) -> Mapping[str, CommandSpec]:
        """The commands by key."""
        return {spec.key: spec for spec in self.commands}

    @cached_property
    def state_index(self) -> Mapping[str, StateSpec]:
        """The shadow state keys by key."""
        return {spec.key: spec for spec in self.state}

    def name(self, lang: str = "zh-CN") -> str:
        """The type's display name in a language."""
        return self.name_en if lang == "en" else self.name_zh

    def all_indicators(self) -> tuple[IndicatorSpec, ...]:
        """Declared indicators plus those implied by the guide sampling/transmission rates."""
        derived: list[IndicatorSpec] = []
        requirement = ", ".join(self.rate_requirements) or None
        if self.sample_interval_max_s is not None:
            derived.append(IndicatorSpec(
                "sample_interval_s", "采样间隔", "Sampling interval", "le",
                self.sample_interval_max_s, "s", "measured", requirement,
            ))
        if self.transmit_interval_max_s is not None:
            derived.append(IndicatorSpec(
                "transmit_interval_s", "传输间隔", "Transmission interval", "le",
                self.transmit_interval_max_s, "s", "measured", requirement,
            ))
        return self.indicators + tuple(derived)


# ---------------------------------------------------------------------------------------------
# Value checks (shared by the loader and by message validation)

Problem = tuple[str, dict[str, Any]]


def brief(value: Any, limit: int = 64) -> str:
    """A short printable form of a value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _range_problem(spec: ValueSpec, value: float) -> Problem | None:
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        low = "-∞" if spec.minimum is None else spec.minimum
        high = "+∞" if spec.maximum is None else spec.maximum
        return "out_of_range", {"value": brief(value), "min": low, "max": high}
    return None


def _wrong_type(spec: ValueSpec, value: Any, kind: str | None = None) -> Problem:
    return "wrong_type", {"expected": kind or spec.kind, "value": brief(value)}


def _check_number(spec: ValueSpec, value: Any) -> Problem | None:
    if value.__class__ not in (int, float) or not math.isfinite(value):
        return _wrong_type(spec, value)
    return _range_problem(spec, value)


def _check_integer(spec: ValueSpec, value: Any) -> Problem | None:
    cls = value.__class__
    if not (cls is int or (cls is float and math.isfinite(value) and value.is_integer())):
        return _wrong_type(spec, value)
    return _range_problem(spec, value)


def _check_boolean(spec: ValueSpec, value: Any) -> Problem | None:
    return None if value is True or value is False else _wrong_type(spec, value)


def _check_enum(spec: ValueSpec, value: Any) -> Problem | None:
    if value.__class__ is not str:
        return _wrong_type(spec, value)
    if value not in spec.allowed:
        return "not_allowed", {"value": brief(value), "allowed": ", ".join(spec.values)}
    return None


def _check_string(spec: ValueSpec, value: Any) -> Problem | None:
    if value.__class__ is not str:
        return _wrong_type(spec, value)
    if len(value) > spec.max_length:
        return "too_long", {"length": len(value), "limit": spec.max_length}
    return None


def _check_list(spec: ValueSpec, value: Any) -> Problem | None:
    if value.__class__ is not list:
        return _wrong_type(spec, value)
    if len(value) > spec.max_items:
        return "too_many", {"count": len(value), "limit": spec.max_items}
    check = _CHECKS[spec.item_kind or "string"]
    for item in value:
        problem = check(spec, item)
        if problem is not None:
            return problem
    return None


_CHECKS: Mapping[str, Callable[[ValueSpec, Any], Problem | None]] = {
    "number": _check_number,
    "integer": _check_integer,
    "boolean": _check_boolean,
    "enum": _check_enum,
    "string": _check_string,
    "list": _check_list,
}


def check_value(spec: ValueSpec, value: Any) -> Problem | None:
    """Check a value against its spec: None when valid, else (reason, params)."""
    return _CHECKS[spec.kind](spec, value)


# ---------------------------------------------------------------------------------------------
# YAML reading helpers


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe YAML loader (libyaml when available) that rejects duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        _At(path.name).fail("yaml_syntax", problem=" ".join(str(exc).split()))


def _mapping(
    value: Any, at: _At, required: Iterable[str], optional: Iterable[str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        at.fail("wrong_type", expected="mapping", value=brief(value))
    required = tuple(required)
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            at.sub(str(key)).fail("unknown_field", field=key)
    for key in required:
        if key not in value:
            at.fail("missing", field=key)
    return value


def _list(value: Any, at: _At) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        at.fail("wrong_type", expected="list", value=brief(value))
    return value


def _key(value: Any, at: _At) -> str:
    if not isinstance(value, str) or not KEY_RE.fullmatch(value):
        at.fail("bad_key", value=brief(value))
    return value


def _number(value: Any, at: _At, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        at.fail("wrong_type", expected="number", value=brief(value))
    if positive and value <= 0:
        at.fail("not_positive", value=brief(value))
    return value


def _opt_number(value: Any, at: _At) -> float | None:
    return None if value is None else _number(value, at)


def _int(value: Any, at: _At) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        at.fail("wrong_type", expected="positive integer", value=brief(value))
    return value


def _bool(value: Any, at: _At) -> bool:
    if not isinstance(value, bool):
        at.fail("wrong_type", expected="boolean", value=brief(value))
    return value


def _names(data: Mapping[str, Any], at: _At) -> tuple[str, str]:
    names = data.get("name")
    if not isinstance(names, dict):
        at.sub("name").fail("missing_name", lang="zh/en")
    for lang in ("zh", "en"):
        text = names.get(lang)
        if not isinstance(text, str) or not text.strip():
            at.sub("name").fail("missing_name", lang=lang)
    _mapping(names, at.sub("name"), ("zh", "en"), ())
    return names["zh"], names["en"]


def _requirement(value: Any, at: _At) -> str:
    if not isinstance(value, str) or not REQUIREMENT_RE.fullmatch(value):
        at.fail("bad_requirement", value=brief(value))
    return value


def _unique(items: Iterable[Any], at: _At, what: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = item.key
        if key in seen:
            at.sub(index).sub("key").fail("duplicate", what=what, key=key)
        seen.add(key)


# ---------------------------------------------------------------------------------------------
# Parsing device type files

_VALUE_FIELDS = ("key", "name", "kind", "unit", "range", "values", "max_length", "items",
                 "max_items")


class _Parser:
    """Parses one device type file, raising CatalogueError at the first problem."""

    def __init__(self, units: Mapping[str, Unit]) -> None:
        self.units = units

    def unit(self, value: Any, at: _At) -> str | None:
        """A unit symbol from the unit table, or None."""
        if value is None:
            return None
        if not isinstance(value, str) or value not in self.units:
            at.fail("unknown_unit", unit=brief(value))
        return value

    def value_fields(self, data: dict[str, Any], at: _At, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The common fields of a typed value."""
        key = _key(data.get("key"), at.sub("key"))
        name_zh, name_en = _names(data, at)
        kind = data.get("kind")
        if kind not in kinds:
            at.sub("kind").fail("bad_kind", kind=brief(kind), allowed=", ".join(kinds))
        out: dict[str, Any] = {"key": key, "name_zh": name_zh, "name_en": name_en, "kind": kind}
        out["unit"] = self.unit(data.get("unit"), at.sub("unit"))
        if kind in NUMERIC_KINDS and out["unit"] is None:
            at.fail("missing", field="unit")
        elif kind not in NUMERIC_KINDS and kind != "list" and out["unit"] is not None:
            at.sub("unit").fail("unit_not_numeric", kind=kind)
        item_kind = kind
        if kind == "list":
            item_kind = data.get("items", "string")
            if item_kind not in ITEM_KINDS:
                at.sub("items").fail("bad_kind", kind=brief(item_kind),
                                     allowed=", ".join(ITEM_KINDS))
            out["item_kind"] = item_kind
            if "max_items" in data:
                out["max_items"] = _int(data["max_items"], at.sub("max_items"))
        elif "items" in data or "max_items" in data:
            at.sub("items").fail("not_for_kind", field="items", kind=kind)
        self._limits(data, at, item_kind, out)
        return out

    def _limits(self, data: dict[str, Any], at: _At, kind: str, out: dict[str, Any]) -> None:
        if "range" in data:
            if kind not in NUMERIC_KINDS:
                at.sub("range").fail("not_for_kind", field="range", kind=kind)
            bounds = data["range"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                at.sub("range").fail("wrong_type", expected="[min, max]", value=brief(bounds))
            low = _opt_number(bounds[0], at.sub("range").sub(0))
            high = _opt_number(bounds[1], at.sub("range").sub(1))
            if low is not None and high is not None and low > high:
                at.sub("range").fail("bad_range", min=low, max=high)
            out["minimum"], out["maximum"] = low, high
        if kind == "enum":
            values = _list(data.get("values"), at.sub("values"))
            if not values or not all(isinstance(v, str) and v for v in values):
                at.sub("values").fail("bad_enum")
            if len(set(values)) != len(values):
                at.sub("values").fail("duplicate", what="value", key=brief(values))
            out["values"] = tuple(values)
        elif "values" in data:
            at.sub("values").fail("not_for_kind", field="values", kind=kind)
        if "max_length" in data:
            if kind != "string":
                at.sub("max_length").fail("not_for_kind", field="max_length", kind=kind)
            out["max_length"] = _int(data["max_length"], at.sub("max_length"))

    def metric(self, data: Any, at: _At) -> MetricSpec:
        """One entry of `metrics`."""
        data = _mapping(data, at, ("key", "name", "kind"), (*_VALUE_FIELDS, "alarm_hint"))
        fields = self.value_fields(data, at, METRIC_KINDS)
        spec = MetricSpec(**fields)
        if data.get("alarm_hint") is not None:
            spec = MetricSpec(**fields, alarm_hint=self.alarm_hint(data["alarm_hint"], spec,
                                                                   at.sub("alarm_hint")))
        return spec

    def alarm_hint(self, data: Any, spec: MetricSpec, at: _At) -> AlarmHint:
        """A metric's `alarm_hint`: thresholds for numbers, value lists otherwise."""
        numeric = ("warn_above", "alarm_above", "warn_below", "alarm_below")
        listed = ("warn_on", "alarm_on")
        data = _mapping(data, at, (), (*numeric, *listed))
        if spec.kind in NUMERIC_KINDS:
            for key in listed:
                if key in data:
                    at.sub(key).fail("not_for_kind", field=key, kind=spec.kind)
            bounds = {key: _opt_number(data.get(key), at.sub(key)) for key in numeric}
            for key, bound in bounds.items():
                if bound is not None and _range_problem(spec, bound):
                    at.sub(key).fail("hint_out_of_range", value=bound)
            _ordered(bounds["warn_above"], bounds["alarm_above"], at)
            _ordered(bounds["alarm_below"], bounds["warn_below"], at)
            return AlarmHint(bounds["warn_above"], bounds["alarm_above"], bounds["warn_below"],
                             bounds["alarm_below"])
        if spec.kind not in ("boolean", "enum"):
            at.fail("not_for_kind", field="alarm_hint", kind=spec.kind)
        for key in numeric:
            if key in data:
                at.sub(key).fail("not_for_kind", field=key, kind=spec.kind)
        found = {key: tuple(_list(data.get(key), at.sub(key))) for key in listed}
        for key, values in found.items():
            for index, value in enumerate(values):
                if check_value(spec, value) is not None:
                    at.sub(key).sub(index).fail("bad_value", value=brief(value))
        return AlarmHint(warn_on=found["warn_on"], alarm_on=found["alarm_on"])

    def param(self, data: Any, at: _At) -> ParamSpec:
        """A command parameter or an event field."""
        data = _mapping(data, at, ("key", "name", "kind"), (*_VALUE_FIELDS, "required",
                                                             "default"))
        fields = self.value_fields(data, at, FIELD_KINDS)
        required = _bool(data.get("required", False), at.sub("required"))
        spec = ParamSpec(**fields, required=required, default=data.get("default"))
        if spec.default is not None and check_value(spec, spec.default) is not None:
            at.sub("default").fail("bad_value", value=brief(spec.default))
        return spec

    def state(self, data: Any, at: _At) -> StateSpec:
        """One entry of `state`."""
        data = _mapping(data, at, ("key", "name", "kind"), (*_VALUE_FIELDS, "writable"))
        fields = self.value_fields(data, at, METRIC_KINDS)
        return StateSpec(**fields, writable=_bool(data.get("writable", False), at.sub("writable")))

    def event(self, data: Any, at: _At) -> EventSpec:
        """One entry of `events`."""
        data = _mapping(data, at, ("key", "name", "severity"), ("fields",))
        key = _key(data["key"], at.sub("key"))
        name_zh, name_en = _names(data, at)
        if data["severity"] not in SEVERITIES:
            at.sub("severity").fail("bad_value", value=brief(data["severity"]))
        fields_at = at.sub("fields")
        fields = tuple(self.param(item, fields_at.sub(i))
                       for i, item in enumerate(_list(data.get("fields"), fields_at)))
        _unique(fields, fields_at, "field")
        return EventSpec(key, name_zh, name_en, data["severity"], fields)

    def command(self, data: Any, at: _At, state: Mapping[str, StateSpec]) -> CommandSpec:
        """One entry of `commands`, checked against the state keys it sets."""
        data = _mapping(data, at, ("key", "name", "ack_timeout_s"), ("params", "sets"))
        key = _key(data["key"], at.sub("key"))
        name_zh, name_en = _names(data, at)
        timeout = _number(data["ack_timeout_s"], at.sub("ack_timeout_s"), positive=True)
        params_at = at.sub("params")
        params = tuple(self.param(item, params_at.sub(i))
                       for i, item in enumerate(_list(data.get("params"), params_at)))
        _unique(params, params_at, "parameter")
        index = {spec.key: spec for spec in params}
        sets = self.effects(data.get("sets") or {}, at.sub("sets"), state, index)
        return CommandSpec(key, name_zh, name_en, timeout, params, sets)

    def effects(self, data: Any, at: _At, state: Mapping[str, StateSpec],
                params: Mapping[str, ParamSpec]) -> tuple[StateEffect, ...]:
        """A command's `sets`: constants or parameter references per writable state key."""
        if not isinstance(data, dict):
            at.fail("wrong_type", expected="mapping", value=brief(data))
        effects = []
        for key, value in data.items():
            spec = state.get(key)
            if spec is None or not spec.writable:
                at.sub(str(key)).fail("unknown_reference", what="writable state key", key=key)
            if isinstance(value, dict):
                _mapping(value, at.sub(key), ("param",), ())
                param = params.get(value["param"])
                if param is None:
                    at.sub(key).fail("unknown_reference", what="parameter", key=value["param"])
                if not _compatible(param, spec):
                    at.sub(key).fail("incompatible", param=param.key, key=key)
                effects.append(StateEffect(key, param=param.key))
            else:
                if check_value(spec, value) is not None:
                    at.sub(key).fail("bad_value", value=brief(value))
                effects.append(StateEffect(key, value=value))
        return tuple(effects)

    def indicator(self, data: Any, at: _At) -> IndicatorSpec:
        """One entry of `indicators`."""
        data = _mapping(data, at, ("key", "name", "comparator", "threshold"),
                        ("unit", "source", "requirement"))
        key = _key(data["key"], at.sub("key"))
        name_zh, name_en = _names(data, at)
        comparator = data["comparator"]
        if comparator not in COMPARATORS:
            at.sub("comparator").fail("bad_value", value=brief(comparator))
        threshold = data["threshold"]
        if comparator != "eq":
            threshold = _number(threshold, at.sub("threshold"))
        elif not isinstance(threshold, bool | int | float | str):
            at.sub("threshold").fail("bad_value", value=brief(threshold))
        source = data.get("source", "declared")
        if source not in SOURCES:
            at.sub("source").fail("bad_value", value=brief(source))
        requirement = data.get("requirement")
        if requirement is not None:
            requirement = _requirement(requirement, at.sub("requirement"))
        unit = self.unit(data.get("unit"), at.sub("unit"))
        return IndicatorSpec(key, name_zh, name_en, comparator, threshold, unit, source,
                             requirement)


def _within(inner: ValueSpec, outer: ValueSpec) -> bool:
    """Whether every value of `inner`'s range lies inside `outer`'s range."""
    low, high = outer.minimum, outer.maximum
    low_ok = low is None or (inner.minimum is not None and inner.minimum >= low)
    high_ok = high is None or (inner.maximum is not None and inner.maximum <= high)
    return low_ok and high_ok


def _compatible(param: ParamSpec, state: StateSpec) -> bool:
    """Whether every valid value of a parameter is a valid value of the state key it sets."""
    if param.kind != state.kind and not (param.kind == "integer" and state.kind == "number"):
        return False
    if state.kind == "enum":
        return set(param.values) <= state.allowed
    if state.kind == "string":
        return param.max_length <= state.max_length
    return state.kind not in NUMERIC_KINDS or _within(param, state)


def _ordered(low: float | None, high: float | None, at: _At) -> None:
    if low is not None and high is not None and low > high:
        at.fail("bad_range", min=low, max=high)


_TYPE_FIELDS = (
    "id", "name", "category", "heartbeat_timeout_s", "metrics", "events", "commands", "state",
    "indicators", "sample_interval_max_s", "transmit_interval_max_s", "rate_requirements",
    "requirements", "table2", "tags", "fiware", "retention_days",
)


def _category(data: Any, at: _At) -> tuple[str, str | None]:
    data = _mapping(data, at, ("group", "row"), ())
    group, row = data["group"], data["row"]
    if group not in GROUPS:
        at.sub("group").fail("unknown_group", group=brief(group), allowed=", ".join(GROUPS))
    if row is None:
        return group, None
    if row not in ROW_GROUP:
        at.sub("row").fail("unknown_row", row=brief(row))
    if ROW_GROUP[row] != group:
        at.sub("row").fail("row_group", row=row, group=group, expected=ROW_GROUP[row])
    return group, row


def _strings(value: Any, at: _At, check: Callable[[Any, _At], str]) -> tuple[str, ...]:
    items = tuple(check(item, at.sub(i)) for i, item in enumerate(_list(value, at)))
    if len(set(items)) != len(items):
        at.fail("duplicate", what="entry", key=brief(items))
    return items


def _table2(value: Any, at: _At) -> str:
    if value not in TABLE2_IOT:
        at.fail("unknown_table2", row=brief(value))
    return str(value)


def _tag(value: Any, at: _At) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_.\-]{0,63}", value):
        at.fail("bad_key", value=brief(value))
    return value


def _sections(parser: _Parser, data: dict[str, Any], at: _At) -> dict[str, Any]:
    """Parse the list sections of a type: metrics, state, events, commands, indicators."""
    out: dict[str, Any] = {}
    simple: tuple[tuple[str, Callable[[Any, _At], Any], str], ...] = (
        ("metrics", parser.metric, "metric"), ("state", parser.state, "state key"),
        ("events", parser.event, "event"), ("indicators", parser.indicator, "indicator"),
    )
    for name, parse, what in simple:
        section = at.sub(name)
        out[name] = tuple(parse(item, section.sub(i))
                          for i, item in enumerate(_list(data.get(name), section)))
        _unique(out[name], section, what)
    state_index = {spec.key: spec for spec in out["state"]}
    section = at.sub("commands")
    out["commands"] = tuple(parser.command(item, section.sub(i), state_index)
                            for i, item in enumerate(_list(data.get("commands"), section)))
    _unique(out["commands"], section, "command")
    return out


def _rates(data: dict[str, Any], at: _At) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("sample_interval_max_s", "transmit_interval_max_s"):
        out[key] = None if data.get(key) is None else _int(data[key], at.sub(key))
    out["rate_requirements"] = _strings(data.get("rate_requirements"),
                                        at.sub("rate_requirements"), _requirement)
    return out


def _parse_type(data: Any, at: _At, stem: str, parser: _Parser) -> DeviceType:
    data = _mapping(data, at, ("id", "name", "category", "heartbeat_timeout_s"), _TYPE_FIELDS)
    type_id = _key(data["id"], at.sub("id"))
    if type_id != stem:
        at.sub("id").fail("id_mismatch", id=type_id, stem=stem)
    name_zh, name_en = _names(data, at)
    group, row = _category(data["category"], at.sub("category"))
    table2 = _strings(data.get("table2"), at.sub("table2"), _table2)
    if row is None and not table2:
        at.sub("category").sub("row").fail("no_row")
    sections = _sections(parser, data, at)
    if not (sections["metrics"] or sections["events"] or sections["state"]):
        at.fail("empty_type")
    device_type = DeviceType(
        id=type_id, name_zh=name_zh, name_en=name_en, group=group, row=row,
        heartbeat_timeout_s=_int(data["heartbeat_timeout_s"], at.sub("heartbeat_timeout_s")),
        requirements=_strings(data.get("requirements"), at.sub("requirements"), _requirement),
        table2=table2, tags=_strings(data.get("tags"), at.sub("tags"), _tag),
        source=at.file, **sections, **_rates(data, at),
        retention_days=_int(data.get("retention_days", DEFAULT_RETENTION_DAYS),
                            at.sub("retention_days")),
    )
    fiware = _fiware(data.get("fiware"), at.sub("fiware"), device_type)
    return replace(device_type, fiware=fiware) if fiware else device_type


# ---------------------------------------------------------------------------------------------
# FIWARE mappings (declared in the device type file under `fiware:`)


def _path(value: Any, at: _At) -> tuple[str | int, ...]:
    if not isinstance(value, str) or not value or any(not part for part in value.split(".")):
        at.fail("bad_value", value=brief(value))
    return tuple(int(part) if part.isdigit() else part for part in value.split("."))


def _attribute(source: str, data: Any, at: _At, device_type: DeviceType) -> AttributeMap:
    if isinstance(data, str):
        data = {"metric": data}
    data = _mapping(data, at, ("metric",), ("scale", "offset", "values", "unit_codes"))
    spec = device_type.metric_index.get(data["metric"])
    if spec is None:
        at.sub("metric").fail("unknown_reference", what="metric", key=brief(data["metric"]))
    if ("scale" in data or "offset" in data or "unit_codes" in data) and \
            spec.kind not in NUMERIC_KINDS:
        at.fail("not_for_kind", field="scale", kind=spec.kind)
    values = data.get("values") or {}
    if not isinstance(values, dict):
        at.sub("values").fail("wrong_type", expected="mapping", value=brief(values))
    for key, value in values.items():
        if check_value(spec, value) is not None:
            at.sub("values").sub(str(key)).fail("bad_value", value=brief(value))
    codes = data.get("unit_codes") or {}
    if not isinstance(codes, dict):
        at.sub("unit_codes").fail("wrong_type", expected="mapping", value=brief(codes))
    factors = {str(code): _number(factor, at.sub("unit_codes").sub(str(code)), positive=True)
               for code, factor in codes.items()}
    return AttributeMap(
        path=_path(source, at), metric=spec.key,
        scale=_number(data.get("scale", 1.0), at.sub("scale"), positive=True),
        offset=_number(data.get("offset", 0.0), at.sub("offset")),
        values={str(key): value for key, value in values.items()}, unit_codes=factors,
    )


def _fiware(data: Any, at: _At, device_type: DeviceType) -> tuple[FiwareMapping, ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        at.fail("wrong_type", expected="mapping", value=brief(data))
    mappings = []
    for entity_type, raw in data.items():
        here = at.sub(str(entity_type))
        if not isinstance(entity_type, str) or not ENTITY_TYPE_RE.fullmatch(entity_type):
            here.fail("bad_value", value=brief(entity_type))
        body = _mapping(raw, here, ("attributes",), ("timestamp",))
        stamps = tuple(str(_path(item, here.sub("timestamp").sub(i))[0]) for i, item in
                       enumerate(_list(body.get("timestamp"), here.sub("timestamp"))))
        attrs_at = here.sub("attributes")
        attrs = body["attributes"]
        if not isinstance(attrs, dict) or not attrs:
            attrs_at.fail("wrong_type", expected="mapping", value=brief(attrs))
        mapped = tuple(_attribute(str(source), spec, attrs_at.sub(str(source)), device_type)
                       for source, spec in attrs.items())
        mappings.append(FiwareMapping(entity_type, device_type.id, stamps, mapped))
    return tuple(mappings)


# ---------------------------------------------------------------------------------------------
# Units, the catalogue and loading


def load_units(path: Path = UNITS_FILE) -> dict[str, Unit]:
    """Load the table of allowed units."""
    data = _read_yaml(path)
    at = _At(path.name)
    if not isinstance(data, dict) or not data:
        at.fail("wrong_type", expected="mapping", value=brief(data))
    units = {}
    for symbol, raw in data.items():
        here = at.sub(str(symbol))
        body = _mapping(raw, here, ("zh", "en", "quantity"), ())
        for key in ("zh", "en", "quantity"):
            if not isinstance(body[key], str) or not body[key]:
                here.sub(key).fail("bad_value", value=brief(body[key]))
        units[str(symbol)] = Unit(str(symbol), body["zh"], body["en"], body["quantity"])
    return units


def load_device_type(path: Path, units: Mapping[str, Unit] | None = None) -> DeviceType:
    """Load and check one device type file."""
    units = load_units() if units is None else units
    return _parse_type(_read_yaml(path), _At(path.name), path.stem, _Parser(units))


@dataclass(frozen=True)
class Catalogue:
    """Every loaded device type, by id, with the unit table and FIWARE mappings."""

    types: Mapping[str, DeviceType]
    units: Mapping[str, Unit]
    fiware: Mapping[str, FiwareMapping] = field(default_factory=dict)

    def __iter__(self) -> Iterator[DeviceType]:
        return iter(self.types.values())

    def __len__(self) -> int:
        return len(self.types)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self.types

    def find(self, type_id: str) -> DeviceType | None:
        """The device type with this id, or None."""
        return self.types.get(type_id)

    def get(self, type_id: str) -> DeviceType:
        """The device type with this id; NotFound when unknown."""
        found = self.types.get(type_id)
        if found is None:
            raise NotFound(f"unknown device type {type_id!r}", code="sensing.device_type.unknown",
                           id=type_id)
        return found

    def in_group(self, group: str) -> list[DeviceType]:
        """The types of one Table 1 group (infrastructure, smart_device, network_storage)."""
        return [device_type for device_type in self if device_type.group == group]

    def for_row(self, row: str) -> list[DeviceType]:
        """The types serving one Table 1 row, e.g. T1.fire."""
        return [device_type for device_type in self if device_type.row == row]


def _type_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        _At(str(directory)).fail("no_dir", dir=str(directory))
    return sorted(directory.glob("*.yaml"))


def _fiware_index(types: Mapping[str, DeviceType]) -> dict[str, FiwareMapping]:
    index: dict[str, FiwareMapping] = {}
    for device_type in types.values():
        for mapping in device_type.fiware:
            other = index.get(mapping.entity_type)
            if other is not None:
                _At(device_type.source, f"fiware.{mapping.entity_type}").fail(
                    "duplicate_type", id=mapping.entity_type, other=other.device_type)
            index[mapping.entity_type] = mapping
    return index


def load_catalogue(extra_dirs: Iterable[str | Path] = ()) -> Catalogue:
    """Load the built-in device types plus those in extra directories; check every file."""
    units = load_units()
    parser = _Parser(units)
    types: dict[str, DeviceType] = {}
    for directory in (TYPES_DIR, *map(Path, extra_dirs)):
        for path in _type_files(directory):
            device_type = _parse_type(_read_yaml(path), _At(path.name), path.stem, parser)
            other = types.get(device_type.id)
            if other is not None:
                _At(path.name, "id").fail("duplicate_type", id=device_type.id, other=other.source)
            types[device_type.id] = device_type
    return Catalogue(types=types, units=units, fiware=_fiware_index(types))


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The built-in catalogue, loaded once."""
    return load_catalogue()


# ---------------------------------------------------------------------------------------------
# Compliance with Table 1 indicators


@dataclass(frozen=True)
class Shortfall:
    """A device property that misses, lacks or has an unusable value for an indicator."""

    device_type: str
    indicator: str
    reason: str
    comparator: str
    threshold: Any
    unit: str | None
    actual: Any
    requirement: str | None

    @property
    def code(self) -> str:
        """The message key of this shortfall."""
        return f"sensing.compliance.{self.reason}"

    def message(self, lang: str | None = None) -> str:
        """The shortfall in words, in a language."""
        return t(self.code, lang, indicator=self.indicator, actual=brief(self.actual),
                 expected=f"{COMPARATORS[self.comparator]} {self.threshold}",
                 unit=self.unit or "", requirement=self.requirement or "-")


def _meets(spec: IndicatorSpec, value: Any) -> bool | None:
    """Whether a value meets an indicator; None when it cannot be compared."""
    if spec.comparator == "eq":
        return value == spec.threshold and type(value) is type(spec.threshold)
    if value.__class__ not in (int, float) or not math.isfinite(value):
        return None
    threshold = spec.threshold
    return {
        "ge": value >= threshold, "gt": value > threshold, "le": value <= threshold,
        "lt": value < threshold, "abs_le": abs(value) <= threshold,
    }[spec.comparator]


def compliance(device_type: DeviceType, properties: Mapping[str, Any]) -> list[Shortfall]:
    """Evaluate a device's properties against its type's indicators; list what falls short.

    A property absent from `properties` is a shortfall with reason ``missing`` (compliance not
    demonstrated); one that cannot be compared is ``invalid``; one that misses the threshold is
    ``below``. Callers that only want proven failures filter on ``reason == "below"``.
    """
    shortfalls = []
    for spec in device_type.all_indicators():
        if spec.key not in properties:
            reason = "missing"
        else:
            met = _meets(spec, properties[spec.key])
            if met:
                continue
            reason = "invalid" if met is None else "below"
        shortfalls.append(Shortfall(
            device_type.id, spec.key, reason, spec.comparator, spec.threshold, spec.unit,
            properties.get(spec.key), spec.requirement,
        ))
    return shortfalls
