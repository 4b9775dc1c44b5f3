"""Case types (案件类型) as data, their loader, and the pure rules of the case engine.

A case type is one YAML file in `case_types/` (or in an extra directory): its categories,
fields, states, transitions with the roles allowed to take them, SLA per priority, dispatch
mode, and optional payment, return visit (回访) and rating steps. Adding a kind of case is
dropping a file; every file is checked at load and each problem names the file and the path
inside it.

A file holds (see `case_types/complaint.yaml` for a complete one):

- `id` (= file name), `zh`, `en`, `family` (monitoring/governance/management/services),
  `clauses` (requirement ids served), `report_roles` (who may open one), `default_priority`;
- `categories`: `{key, zh, en}`; `fields`: `{key, zh, en, type, required, report, max_length,
  pattern, min, max, values, default, after, max_items}` where `report: false` marks a field
  filled by a step rather than at report time;
- `states`: `{key, zh, en, terminal, accepted, closed}` and `initial`;
- `transitions`: `{key, zh, en, from, to, roles, required, optional, assigns, records}`; no
  `to` means the step stays in its state (progress notes, reassignment); `roles` may name the
  pseudo-roles `reporter` and `assignee`; every step may carry a `note`, and `records` enables
  the built-in step fields `time_spent`, `materials`, `photos` (`assignee` comes with
  `assigns`);
- `sla`: `warn` fraction and `{accept, close}` durations for low/normal/high/urgent;
- `dispatch: {mode: assign|grab|round_robin, team_roles}`, and optional
  `payment: {state, field, skip_to}`, `return_visit: {state}`, `rating: {states, by}`.

The engine rules below are pure functions over a `CaseType` and plain values: the service
layer reads the case, asks `check_transition()` for a `TransitionPlan`, and writes it.

Field values are returned JSON-ready: dates and datetimes as ISO 8601 text (datetimes must
carry a UTC offset), money as a decimal string with two places (元), ids as integers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import yaml

from shequ.kit.errors import Conflict, Forbidden, ValidationFailed
from shequ.kit.i18n import current_language, t
from shequ.platform.permissions import builtin_roles

CASE_TYPES_DIR = Path(__file__).resolve().parent / "case_types"

FAMILIES = ("monitoring", "governance", "management", "services")
PRIORITIES = ("low", "normal", "high", "urgent")
DISPATCH_MODES = ("assign", "grab", "round_robin")
RECORDS = ("time_spent", "materials", "photos")
FIELD_TYPES = (
    "string", "text", "integer", "number", "boolean", "date", "datetime", "enum",
    "photo_list", "materials", "money", "place", "person", "device", "alarm",
)
STAR_RANGE = (1, 5)


# ---------------------------------------------------------------------------------------------
# Labels


@dataclass(frozen=True)
class Text:
    """A label in Chinese and English; in message templates write `{x:zh}` or `{x:en}`."""

    zh: str
    en: str

    def get(self, lang: str | None = None) -> str:
        """The label in a language (the current request's language by default)."""
        return self.en if (lang or current_language()) == "en" else self.zh

    def __format__(self, spec: str) -> str:
        return self.get({"zh": "zh-CN", "en": "en"}.get(spec))

    def __str__(self) -> str:
        return self.get()


@dataclass(frozen=True)
class TextList:
    """Several labels joined in the message's language."""

    items: tuple[Text, ...]

    def __format__(self, spec: str) -> str:
        lang = {"zh": "zh-CN", "en": "en"}.get(spec) or current_language()
        if not self.items:
            return "无" if lang != "en" else "none"
        return ("、" if lang != "en" else ", ").join(item.get(lang) for item in self.items)

    def __str__(self) -> str:
        return format(self, "")


PSEUDO_ROLES: dict[str, Text] = {
    "reporter": Text("上报人本人", "the reporter"),
    "assignee": Text("当前处理人", "the assignee"),
}


def role_label(code: str) -> Text:
    """The label of a built-in role or pseudo-role (the code itself when unknown)."""
    if code in PSEUDO_ROLES:
        return PSEUDO_ROLES[code]
    spec = builtin_roles().get(code)
    return Text(spec.zh, spec.en) if spec else Text(code, code)


# ---------------------------------------------------------------------------------------------
# The data model


@dataclass(frozen=True)
class Option:
    """A category or an enum value: a key with its labels."""

    key: str
    name: Text


@dataclass(frozen=True)
class FieldSpec:
    """A field of a case type (or a built-in step field) and its constraints."""

    key: str
    name: Text
    type: str
    required: bool = False
    report: bool = True
    max_length: int | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[Option, ...] = ()
    default: Any = None
    after: str | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class StateSpec:
    """A state; `accepted`/`closed` say how it counts for mean time to accept/close."""

    key: str
    name: Text
    terminal: bool = False
    accepted: bool = False
    closed: bool = False


@dataclass(frozen=True)
class Transition:
    """A step from one of `sources` to `target` (None: stay in the current state)."""

    key: str
    name: Text
    sources: tuple[str, ...]
    target: str | None
    roles: tuple[str, ...]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    assigns: str | None = None
    records: frozenset[str] = frozenset()

    def allows(self, actor_roles: Iterable[str], is_reporter: bool, is_assignee: bool) -> bool:
        """Whether an actor with these roles (and relation to the case) may take this step."""
        return _may(self.roles, actor_roles, is_reporter, is_assignee)


@dataclass(frozen=True)
class SlaLimits:
    """Accept-within and close-within durations of one priority, and the warning fraction."""

    priority: str
    accept: dt.timedelta
    close: dt.timedelta
    warn: float


@dataclass(frozen=True)
class Dispatch:
    """How a case finds its handler: assign, grab (抢单) or round robin among team roles."""

    mode: str
    team_roles: tuple[str, ...]


@dataclass(frozen=True)
class Payment:
    """An optional payment step: the state waiting for payment and the money field."""

    state: str
    field: str
    skip_to: str | None = None


@dataclass(frozen=True)
class RatingSpec:
    """Satisfaction rating (1–5 stars): in which states, by whom."""

    states: tuple[str, ...]
    by: tuple[str, ...]
    comment_max_length: int = 500


@dataclass(frozen=True)
class CaseType:
    """One kind of case, as loaded and checked from its YAML file."""

    id: str
    name: Text
    family: str
    source: str
    clauses: tuple[str, ...]
    report_roles: tuple[str, ...]
    default_priority: str
    categories: tuple[Option, ...]
    fields: tuple[FieldSpec, ...]
    states: tuple[StateSpec, ...]
    initial: str
    transitions: tuple[Transition, ...]
    sla: tuple[SlaLimits, ...]
    dispatch: Dispatch | None = None
    payment: Payment | None = None
    return_visit: str | None = None
    rating: RatingSpec | None = None

    @cached_property
    def state_map(self) -> dict[str, StateSpec]:
        """States by key."""
        return {s.key: s for s in self.states}

    @cached_property
    def transition_map(self) -> dict[str, Transition]:
        """Transitions by key."""
        return {tr.key: tr for tr in self.transitions}

    @cached_property
    def field_map(self) -> dict[str, FieldSpec]:
        """Fields by key."""
        return {f.key: f for f in self.fields}

    @cached_property
    def report_fields(self) -> dict[str, FieldSpec]:
        """The fields asked when the case is reported."""
        return {f.key: f for f in self.fields if f.report}

    @cached_property
    def terminal_states(self) -> frozenset[str]:
        """Keys of the terminal states."""
        return frozenset(s.key for s in self.states if s.terminal)

    def sla_for(self, priority: str) -> SlaLimits:
        """The SLA limits of a priority."""
        for limits in self.sla:
            if limits.priority == priority:
                return limits
        raise FieldsInvalid(errors=[_error("priority", Text("优先级", "Priority"), "enum")])


# ---------------------------------------------------------------------------------------------
# Errors raised to users (HTTP status by class) and to developers (the loader)


class UnknownState(Conflict):
    """The case is in a state its type no longer declares."""

    code = "cases.unknown_state"


class CaseClosed(Conflict):
    """The case is in a terminal state and cannot change."""

    code = "cases.closed"


class IllegalTransition(Conflict):
    """The step is not possible from the current state; `extra` lists what is."""

    code = "cases.illegal_transition"


class TransitionForbidden(Forbidden):
    """The actor's roles do not allow the step."""

    code = "cases.transition_forbidden"


class ReportForbidden(Forbidden):
    """The actor's roles may not open a case of this type."""

    code = "cases.report_forbidden"


class FieldsInvalid(ValidationFailed):
    """Field values are missing or invalid; `errors` has one entry per field."""

    code = "cases.fields_invalid"


class RatingNotOpen(Conflict):
    """The case cannot be rated in its current state, or was rated already."""

    code = "cases.rating_not_open"


class RatingForbidden(Forbidden):
    """The actor may not rate this case."""

    code = "cases.rating_forbidden"


class LoadProblem(NamedTuple):
    """One problem in a case-type file: where it is, what kind, and what is wrong."""

    file: str
    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message} [{self.kind}]"


class CaseTypeError(ValueError):
    """Case-type files failed their checks; `problems` lists every one."""

    def __init__(self, problems: Sequence[LoadProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid case types:\n" + "\n".join(f"  {p}" for p in self.problems))

    @property
    def kinds(self) -> set[str]:
        """The kinds of problem found."""
        return {p.kind for p in self.problems}


# ---------------------------------------------------------------------------------------------
# Field values


class _Invalid(Exception):
    def __init__(self, code: str, suffix: str = "", **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.suffix = suffix
        self.params = params


_TYPE_LABELS = {
    "string": Text("文本", "text"), "text": Text("文本", "text"),
    "integer": Text("整数", "an integer"), "number": Text("数字", "a number"),
    "boolean": Text("是/否", "true or false"), "date": Text("日期", "a date"),
    "datetime": Text("带时区的时间", "a date-time with offset"),
    "enum": Text("选项", "an option"), "photo_list": Text("照片列表", "a list of photos"),
    "materials": Text("材料清单", "a list of materials"), "money": Text("金额", "an amount"),
    "place": Text("位置", "a place"), "person": Text("人员编号", "a person id"),
    "device": Text("设备编号", "a device id"), "alarm": Text("告警编号", "an alarm id"),
}
_DEFAULT_MAX_LENGTH = {"string": 200, "text": 4000}
_DEFAULT_MAX_ITEMS = {"photo_list": 9, "materials": 100}
_MONEY_LIMIT = Decimal("10000000000")
_CENT = Decimal("0.01")


def _wrong(spec: FieldSpec) -> _Invalid:
    return _Invalid("type", expected=_TYPE_LABELS[spec.type])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(spec: FieldSpec, value: float | Decimal, suffix: str = "") -> None:
    if spec.min is not None and value < spec.min:
        raise _Invalid("min", suffix, limit=spec.min)
    if spec.max is not None and value > spec.max:
        raise _Invalid("max", suffix, limit=spec.max)


def _clean_string(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong(spec)
    text = value.strip()
    limit = spec.max_length or _DEFAULT_MAX_LENGTH[spec.type]
    if len(text) > limit:
        raise _Invalid("max_length", limit=limit)
    if spec.pattern and not re.fullmatch(spec.pattern, text):
        raise _Invalid("pattern")
    return text


def _clean_integer(spec: FieldSpec, value: Any) -> int:
    if not _is_int(value) or abs(value) > 2**62:
        raise _wrong(spec)
    _bounds(spec, value)
    return int(value)


def _clean_number(spec: FieldSpec, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _wrong(spec)
    if not math.isfinite(value):
        raise _wrong(spec)
    _bounds(spec, value)
    return value if isinstance(value, int) else float(value)


def _clean_boolean(spec: FieldSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _wrong(spec)
    return value


def _parse_date(spec: FieldSpec, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _wrong(spec)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _wrong(spec) from None


def _parse_datetime(spec: FieldSpec, value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        try:
            value = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise _wrong(spec) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Invalid("naive_datetime")
    return value


def _clean_date(spec: FieldSpec, value: Any) -> str:
    return _parse_date(spec, value).isoformat()


def _clean_datetime(spec: FieldSpec, value: Any) -> str:
    return _parse_datetime(spec, value).isoformat()


def _clean_enum(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str) or value not in {v.key for v in spec.values}:
        raise _Invalid("enum", allowed=", ".join(v.key for v in spec.values))
    return value


def _clean_photos(spec: FieldSpec, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _wrong(spec)
    limit = spec.max_items or _DEFAULT_MAX_ITEMS["photo_list"]
    if len(value) > limit:
        raise _Invalid("max_items", limit=limit)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not 0 < len(item.strip()) <= 500:
            raise _Invalid("photo", f"[{index}]")
    return [item.strip() for item in value]


def _money(value: Any, suffix: str = "") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _Invalid("type", suffix, expected=_TYPE_LABELS["money"])
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid("type", suffix, expected=_TYPE_LABELS["money"]) from None
    if not amount.is_finite() or amount < 0 or amount >= _MONEY_LIMIT:
        raise _Invalid("money", suffix)
    if amount != amount.quantize(_CENT):
        raise _Invalid("money_precision", suffix)
    return amount.quantize(_CENT)


def _clean_money(spec: FieldSpec, value: Any) -> str:
    amount = _money(value)
    _bounds(spec, amount)
    return str(amount)


_MATERIAL_KEYS = {"name", "quantity", "unit", "unit_price"}


def _clean_material(index: int, item: Any) -> dict[str, Any]:
    where = f"[{index}]"
    if not isinstance(item, dict) or set(item) - _MATERIAL_KEYS:
        raise _Invalid("material", where)
    name, quantity = item.get("name"), item.get("quantity")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
        raise _Invalid("material", f"{where}.name")
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) \
            or not math.isfinite(quantity) or quantity <= 0:
        raise _Invalid("material", f"{where}.quantity")
    cleaned: dict[str, Any] = {"name": name.strip(), "quantity": quantity}
    unit = item.get("unit")
    if unit is not None:
        if not isinstance(unit, str) or len(unit) > 20:
            raise _Invalid("material", f"{where}.unit")
        cleaned["unit"] = unit.strip()
    if item.get("unit_price") is not None:
        cleaned["unit_price"] = str(_money(item["unit_price"], f"{where}.unit_price"))
    return cleaned


def _clean_materials(spec: FieldSpec, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        raise _wrong(spec)
    limit = spec.max_items or _DEFAULT_MAX_ITEMS["materials"]
    if len(value) > limit:
        raise _Invalid("max_items", limit=limit)
    return [_clean_material(index, item) for index, item in enumerate(value)]


_PLACE_KEYS = {"kind", "id", "lon", "lat", "address"}


def _coordinate(value: Any, limit: float, suffix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or abs(value) > limit:
        raise _Invalid("place", suffix)
    return float(value)


def _clean_place(spec: FieldSpec, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - _PLACE_KEYS:
        raise _Invalid("place")
    cleaned: dict[str, Any] = {}
    if value.get("kind") is not None or value.get("id") is not None:
        if not isinstance(value.get("kind"), str) or not _KEY.match(value["kind"]):
            raise _Invalid("place", ".kind")
        if not _is_int(value.get("id")) or value["id"] <= 0:
            raise _Invalid("place", ".id")
        cleaned.update(kind=value["kind"], id=value["id"])
    if value.get("lon") is not None or value.get("lat") is not None:
        cleaned["lon"] = _coordinate(value.get("lon"), 180, ".lon")
        cleaned["lat"] = _coordinate(value.get("lat"), 90, ".lat")
    address = value.get("address")
    if address is not None:
        if not isinstance(address, str) or not 0 < len(address.strip()) <= 200:
            raise _Invalid("place", ".address")
        cleaned["address"] = address.strip()
    if not cleaned:
        raise _Invalid("place")
    return cleaned


def _clean_id(spec: FieldSpec, value: Any) -> int:
    if not _is_int(value) or not 0 < value < 2**63:
        raise _wrong(spec)
    return int(value)


_CLEANERS: dict[str, Callable[[FieldSpec, Any], Any]] = {
    "string": _clean_string, "text": _clean_string, "integer": _clean_integer,
    "number": _clean_number, "boolean": _clean_boolean, "date": _clean_date,
    "datetime": _clean_datetime, "enum": _clean_enum, "photo_list": _clean_photos,
    "materials": _clean_materials, "money": _clean_money, "place": _clean_place,
    "person": _clean_id, "device": _clean_id, "alarm": _clean_id,
}


def clean_value(spec: FieldSpec, value: Any) -> Any:
    """Check one value against its field; return it JSON-ready or raise `FieldsInvalid`."""
    try:
        return _CLEANERS[spec.type](spec, value)
    except _Invalid as exc:
        raise FieldsInvalid(errors=[_error(spec.key + exc.suffix, spec.name, exc.code,
                                           **exc.params)]) from None


def _error(path: str, label: Text, code: str, **params: Any) -> dict[str, Any]:
    key = f"cases.field.{code}"
    return {"field": path, "code": key, "message": t(key, field=label, **params)}


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def _clean_fields(
    specs: Mapping[str, FieldSpec], required: Iterable[str], data: Mapping[str, Any], *,
    partial: bool, fill_defaults: bool, code: str = FieldsInvalid.code, **params: Any,
) -> dict[str, Any]:
    """Check a mapping of values against field specs; one error per bad field."""
    need = set(required)
    errors = [_error(key, Text(key, key), "unknown") for key in data if key not in specs]
    cleaned: dict[str, Any] = {}
    for key, spec in specs.items():
        if key not in data:
            if fill_defaults and spec.default is not None:
                cleaned[key] = spec.default
            elif key in need and not partial:
                errors.append(_error(key, spec.name, "required"))
            continue
        if _blank(data[key]):
            if key in need:
                errors.append(_error(key, spec.name, "required"))
            else:
                cleaned[key] = None
            continue
        try:
            cleaned[key] = _CLEANERS[spec.type](spec, data[key])
        except _Invalid as exc:
            errors.append(_error(key + exc.suffix, spec.name, exc.code, **exc.params))
    errors += _order_errors(specs, cleaned)
    if errors:
        raise FieldsInvalid(code=code, errors=errors, **params)
    return cleaned


def _order_errors(specs: Mapping[str, FieldSpec],
                  cleaned: Mapping[str, Any]) -> list[dict[str, Any]]:
    errors = []
    for key, spec in specs.items():
        other = spec.after
        if other is None or cleaned.get(key) is None or cleaned.get(other) is None:
            continue
        parse = dt.date.fromisoformat if spec.type == "date" else dt.datetime.fromisoformat
        if parse(cleaned[key]) <= parse(cleaned[other]):
            errors.append(_error(key, spec.name, "after", other=specs[other].name))
    return errors


# ---------------------------------------------------------------------------------------------
# Built-in step fields: every step may carry a note; others when the transition enables them


STEP_FIELDS: dict[str, FieldSpec] = {
    "note": FieldSpec("note", Text("处理说明", "Note"), "text", max_length=2000),
    "assignee": FieldSpec("assignee", Text("处理人", "Assignee"), "person"),
    "time_spent": FieldSpec("time_spent", Text("耗时（分钟）", "Time spent (minutes)"),
                            "integer", min=0, max=100_000),
    "materials": FieldSpec("materials", Text("使用材料", "Materials used"), "materials"),
    "photos": FieldSpec("photos", Text("处理照片", "Photos"), "photo_list"),
}


def step_fields(case_type: CaseType, transition: Transition) -> dict[str, FieldSpec]:
    """The fields a step accepts: its own, the note, and the records and assignee it enables."""
    keys = ["note", *transition.required, *transition.optional, *sorted(transition.records)]
    if transition.assigns in ("assign", "round_robin"):
        keys.append("assignee")
    return {key: case_type.field_map.get(key) or STEP_FIELDS[key] for key in dict.fromkeys(keys)}


def _step_required(transition: Transition) -> set[str]:
    need = set(transition.required)
    if transition.assigns == "assign":
        need.add("assignee")
    return need


# ---------------------------------------------------------------------------------------------
# Engine rules


@dataclass(frozen=True)
class Actor:
    """Who acts: user id, role codes, and whether they are the case's reporter or assignee."""

    id: int
    roles: frozenset[str] = frozenset()
    is_reporter: bool = False
    is_assignee: bool = False


@dataclass(frozen=True)
class Assignment:
    """Who handles the case after a step; `assignee_id` None means pick by round robin."""

    mode: str
    assignee_id: int | None
    team_roles: tuple[str, ...]


@dataclass(frozen=True)
class TransitionPlan:
    """What a checked step does: the target state, clean data, assignment and flags."""

    case_type: str
    transition: str
    from_state: str
    to_state: str
    data: dict[str, Any]
    assignment: Assignment | None
    records: frozenset[str]
    closes: bool
    accepted: bool
    awaits_payment: bool
    opens_rating: bool


@dataclass(frozen=True)
class ReportPlan:
    """A checked new case: initial state, category, priority and clean field values."""

    case_type: str
    state: str
    category: str | None
    priority: str
    data: dict[str, Any]


class SlaDue(NamedTuple):
    """When a case must be accepted and closed, and when to warn that closing is near."""

    accept_due: dt.datetime
    close_due: dt.datetime
    warn_at: dt.datetime


@dataclass(frozen=True)
class Rating:
    """A checked satisfaction rating."""

    stars: int
    comment: str | None


def _may(roles: Iterable[str], actor_roles: Iterable[str], is_reporter: bool,
         is_assignee: bool) -> bool:
    allowed = set(roles)
    if allowed & (set(actor_roles) - set(PSEUDO_ROLES)):
        return True
    return ("reporter" in allowed and is_reporter) or ("assignee" in allowed and is_assignee)


def _state(case_type: CaseType, state: str) -> StateSpec:
    spec = case_type.state_map.get(state)
    if spec is None:
        raise UnknownState(f"{case_type.id}: unknown state {state!r}", state=state,
                           case_type=case_type.name)
    return spec


def check_editable(case_type: CaseType, state: str) -> None:
    """Refuse any change (edit or step) to a case in a terminal state (409)."""
    spec = _state(case_type, state)
    if spec.terminal:
        raise CaseClosed(f"{case_type.id} case is {state}", state=spec.name,
                         extra={"state": state})


def allowed_transitions(
    case_type: CaseType, state: str, actor_roles: Iterable[str],
    is_reporter: bool = False, is_assignee: bool = False,
) -> list[Transition]:
    """The steps this actor may take from a state, in declaration order."""
    if _state(case_type, state).terminal:
        return []
    roles = tuple(actor_roles)
    return [tr for tr in case_type.transitions
            if state in tr.sources and tr.allows(roles, is_reporter, is_assignee)]


def _illegal(case_type: CaseType, state: str, key: str, actor: Actor) -> IllegalTransition:
    allowed = allowed_transitions(case_type, state, actor.roles, actor.is_reporter,
                                  actor.is_assignee)
    available = [tr for tr in case_type.transitions if state in tr.sources]
    known = case_type.transition_map.get(key)
    return IllegalTransition(
        f"{case_type.id}: {key!r} not possible from {state!r}",
        transition=known.name if known else Text(key, key),
        state=case_type.state_map[state].name,
        allowed=TextList(tuple(tr.name for tr in allowed)),
        extra={"state": state, "transition": key,
               "allowed": [tr.key for tr in allowed],
               "available": [tr.key for tr in available]},
    )


def _forbidden(transition: Transition) -> TransitionForbidden:
    return TransitionForbidden(
        f"roles {transition.roles} required for {transition.key!r}",
        transition=transition.name,
        roles=TextList(tuple(role_label(r) for r in transition.roles)),
        extra={"transition": transition.key, "required_roles": list(transition.roles)},
    )


def _assignment(case_type: CaseType, transition: Transition, actor: Actor,
                data: Mapping[str, Any]) -> Assignment | None:
    if transition.assigns is None:
        return None
    team = case_type.dispatch.team_roles if case_type.dispatch else ()
    if transition.assigns == "grab":
        return Assignment("grab", actor.id, team)
    return Assignment(transition.assigns, data.get("assignee"), team)


def _target(case_type: CaseType, transition: Transition, state: str,
            data: Mapping[str, Any]) -> str:
    target = transition.target or state
    payment = case_type.payment
    if payment is not None and target == payment.state and payment.skip_to is not None:
        amount = data.get(payment.field)
        if amount is not None and Decimal(amount) == 0:
            return payment.skip_to
    return target


def check_transition(
    case_type: CaseType, state: str, transition_key: str, actor: Actor,
    data: Mapping[str, Any] | None = None,
) -> TransitionPlan:
    """Check a step (state, role, step fields) and return what to write.

    Raises `CaseClosed` (409) from a terminal state, `IllegalTransition` (409, with the
    allowed keys in `extra`) when the step does not leave this state, `TransitionForbidden`
    (403) for the wrong role, and `FieldsInvalid` (422, per-field errors) for bad data.
    """
    check_editable(case_type, state)
    transition = case_type.transition_map.get(transition_key)
    if transition is None or state not in transition.sources:
        raise _illegal(case_type, state, transition_key, actor)
    if not transition.allows(actor.roles, actor.is_reporter, actor.is_assignee):
        raise _forbidden(transition)
    cleaned = _clean_fields(
        step_fields(case_type, transition), _step_required(transition),
        data or {}, partial=False, fill_defaults=False, code="cases.step_invalid",
        transition=transition.name,
    )
    target = _target(case_type, transition, state, cleaned)
    target_spec = case_type.state_map[target]
    return TransitionPlan(
        case_type=case_type.id, transition=transition.key, from_state=state, to_state=target,
        data=cleaned, assignment=_assignment(case_type, transition, actor, cleaned),
        records=transition.records, closes=target_spec.terminal,
        accepted=target_spec.accepted or target_spec.closed,
        awaits_payment=case_type.payment is not None and target == case_type.payment.state,
        opens_rating=case_type.rating is not None and target in case_type.rating.states,
    )


def validate_fields(case_type: CaseType, data: Mapping[str, Any],
                    partial: bool = False) -> dict[str, Any]:
    """Check report-time fields; `partial` for edits (only given keys, no defaults)."""
    return _clean_fields(case_type.report_fields,
                         [f.key for f in case_type.report_fields.values() if f.required],
                         data, partial=partial, fill_defaults=not partial)


def check_report(
    case_type: CaseType, actor_roles: Iterable[str], data: Mapping[str, Any], *,
    category: str | None = None, priority: str | None = None, system: bool = False,
) -> ReportPlan:
    """Check a new case: who may open it (unless opened by the system), category, fields."""
    if not system and not set(actor_roles) & set(case_type.report_roles):
        raise ReportForbidden(case_type=case_type.name,
                              extra={"allowed_roles": list(case_type.report_roles)})
    errors = _report_header_errors(case_type, category, priority)
    try:
        cleaned = validate_fields(case_type, data)
    except FieldsInvalid as exc:
        errors += exc.errors
    if errors:
        raise FieldsInvalid(errors=errors)
    return ReportPlan(case_type.id, case_type.initial, category,
                      priority or case_type.default_priority, cleaned)


def _report_header_errors(case_type: CaseType, category: str | None,
                          priority: str | None) -> list[dict[str, Any]]:
    errors = []
    label = Text("分类", "Category")
    if case_type.categories and category is None:
        errors.append(_error("category", label, "required"))
    elif category is not None and category not in {c.key for c in case_type.categories}:
        errors.append(_error("category", label, "enum",
                             allowed=", ".join(c.key for c in case_type.categories)))
    if priority is not None and priority not in PRIORITIES:
        errors.append(_error("priority", Text("优先级", "Priority"), "enum",
                             allowed=", ".join(PRIORITIES)))
    return errors


def sla_due(case_type: CaseType, priority: str, created_at: dt.datetime) -> SlaDue:
    """Accept and close deadlines and the warning time, in calendar time from creation."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    limits = case_type.sla_for(priority)
    return SlaDue(created_at + limits.accept, created_at + limits.close,
                  created_at + limits.close * limits.warn)


def sla_status(case_type: CaseType, priority: str, created_at: dt.datetime,
               now: dt.datetime, accepted_at: dt.datetime | None = None,
               closed_at: dt.datetime | None = None) -> str:
    """`ok`, `warning` or `overdue` (accept or close deadline passed) for an SLA timer."""
    due = sla_due(case_type, priority, created_at)
    accept_by = accepted_at or closed_at or now
    close_by = closed_at or now
    if accept_by > due.accept_due or close_by > due.close_due:
        return "overdue"
    return "warning" if closed_at is None and now >= due.warn_at else "ok"


def check_rating(case_type: CaseType, state: str, actor: Actor, stars: Any,
                 comment: str | None = None, already_rated: bool = False) -> Rating:
    """Check a 1–5 star rating: the right state, the right person, once."""
    spec = case_type.rating
    _state(case_type, state)
    if spec is None or state not in spec.states or already_rated:
        raise RatingNotOpen(state=case_type.state_map[state].name,
                            extra={"state": state, "already_rated": already_rated})
    if not _may(spec.by, actor.roles, actor.is_reporter, actor.is_assignee):
        raise RatingForbidden(roles=TextList(tuple(role_label(r) for r in spec.by)))
    specs = {
        "stars": FieldSpec("stars", Text("评分", "Stars"), "integer", min=STAR_RANGE[0],
                           max=STAR_RANGE[1]),
        "comment": FieldSpec("comment", Text("评价", "Comment"), "text",
                             max_length=spec.comment_max_length),
    }
    cleaned = _clean_fields(specs, ["stars"], {"stars": stars, "comment": comment},
                            partial=False, fill_defaults=False)
    return Rating(cleaned["stars"], cleaned.get("comment"))


def pick_round_robin(candidates: Iterable[int], last: int | None) -> int | None:
    """The next candidate after `last` in id order (wrapping); None when there is nobody."""
    ordered = sorted(set(candidates))
    if not ordered:
        return None
    if last is None:
        return ordered[0]
    return next((c for c in ordered if c > last), ordered[0])


# ---------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class StatisticsSpec:
    """Which states count as accepted (incl. closed ones) and closed for mean times."""

    accepted_states: frozenset[str]
    closed_states: frozenset[str]
    terminal_states: frozenset[str]


class CaseDurations(NamedTuple):
    """Time from creation to the first accepted state and to the first closed state."""

    to_accept: dt.timedelta | None
    to_close: dt.timedelta | None


def statistics(case_type: CaseType) -> StatisticsSpec:
    """The states that count for mean time to accept and to close.

    A case counts as accepted the first time it enters a state flagged `accepted` or
    `closed`, and as closed the first time it enters a `closed` state. Cases ending in a
    terminal state that is not `closed` (cancelled, dismissed) count in neither mean.
    """
    closed = frozenset(s.key for s in case_type.states if s.closed)
    accepted = frozenset(s.key for s in case_type.states if s.accepted) | closed
    return StatisticsSpec(accepted, closed, case_type.terminal_states)


def case_durations(case_type: CaseType, created_at: dt.datetime,
                   history: Iterable[tuple[str, dt.datetime]]) -> CaseDurations:
    """Durations of one case from its state history (state entered, when)."""
    spec = statistics(case_type)
    entered = sorted(history, key=lambda item: item[1])
    accepted = next((at for state, at in entered if state in spec.accepted_states), None)
    closed = next((at for state, at in entered if state in spec.closed_states), None)
    return CaseDurations(accepted - created_at if accepted else None,
                         closed - created_at if closed else None)


def mean_duration(values: Iterable[dt.timedelta | None]) -> dt.timedelta | None:
    """The mean of the known durations (None when there are none)."""
    known = [v for v in values if v is not None]
    return sum(known, dt.timedelta()) / len(known) if known else None


# ---------------------------------------------------------------------------------------------
# Loader


_KEY = re.compile(r"[a-z][a-z0-9_]*\Z")
_VALUE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?\Z")


def parse_duration(text: Any) -> dt.timedelta:
    """Parse a positive duration such as `30m`, `4h`, `2d` or `1d12h`; ValueError otherwise."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}: write e.g. 30m, 4h, 2d or 1d12h")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    value = dt.timedelta(days=days, hours=hours, minutes=minutes)
    if value <= dt.timedelta():
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return value


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):
    """A safe YAML loader that refuses a key written twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise _DuplicateKey(None, None, f"key {key!r} written twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Ctx:
    """Where the loader is (file) and what it found wrong so far."""

    def __init__(self, file: str, roles: frozenset[str]) -> None:
        self.file = file
        self.roles = roles
        self.problems: list[LoadProblem] = []
        self.states_broken = False

    def fail(self, path: str, kind: str, message: str) -> None:
        self.problems.append(LoadProblem(self.file, path, kind, message))

    def has(self, kind: str) -> bool:
        return any(p.kind == kind for p in self.problems)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _mapping(ctx: _Ctx, value: Any, path: str, required: Iterable[str],
             optional: Iterable[str] = ()) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        ctx.fail(path, "bad_type", f"expected a mapping, found {type(value).__name__}")
        return None
    need, may = set(required), set(optional)
    for key in value:
        if key not in need and key not in may:
            ctx.fail(_at(path, str(key)), "unknown_key", f"unknown key {key!r}")
    for key in sorted(need - set(value)):
        ctx.fail(path, "missing_key", f"missing key {key!r}")
    return value


def _list(ctx: _Ctx, value: Any, path: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        ctx.fail(path, "bad_type", f"expected a list, found {type(value).__name__}")
        return []
    return value


def _ident(ctx: _Ctx, value: Any, path: str, pattern: re.Pattern[str] = _KEY) -> str | None:
    if not isinstance(value, str) or not pattern.match(value):
        ctx.fail(path, "bad_value", f"{value!r} is not a valid key ({pattern.pattern})")
        return None
    return value


def _flag(ctx: _Ctx, m: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
    value = m.get(key, default)
    if not isinstance(value, bool):
        ctx.fail(_at(path, key), "bad_type", f"expected true or false, found {value!r}")
        return default
    return value


def _text(ctx: _Ctx, m: Mapping[str, Any], path: str) -> Text:
    parts = []
    for lang in ("zh", "en"):
        value = m.get(lang)
        if lang in m and (not isinstance(value, str) or not value.strip()):
            ctx.fail(_at(path, lang), "bad_value", f"{lang} label must be non-empty text")
        if not isinstance(value, str):
            value = ""
        parts.append(value)
    return Text(*parts)


def _choice(ctx: _Ctx, value: Any, path: str, choices: Sequence[str]) -> str:
    if value not in choices:
        ctx.fail(path, "bad_value", f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _duration(ctx: _Ctx, value: Any, path: str) -> dt.timedelta | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        ctx.fail(path, "bad_duration", str(exc))
        return None


def _role_list(ctx: _Ctx, value: Any, path: str, pseudo: bool) -> tuple[str, ...]:
    roles = []
    allowed = ctx.roles | (set(PSEUDO_ROLES) if pseudo else set())
    for index, role in enumerate(_list(ctx, value, path)):
        if role not in allowed:
            ctx.fail(_at(path, index), "unknown_role",
                     f"unknown role {role!r}; known: {', '.join(sorted(allowed))}")
        else:
            roles.append(role)
    if not roles and not any(p.path.startswith(path) for p in ctx.problems):
        ctx.fail(path, "bad_value", "at least one role is needed")
    return tuple(roles)


def _options(ctx: _Ctx, value: Any, path: str, pattern: re.Pattern[str]) -> tuple[Option, ...]:
    options: dict[str, Option] = {}
    for index, item in enumerate(_list(ctx, value, path)):
        where = _at(path, index)
        m = _mapping(ctx, item, where, ("key", "zh", "en"))
        if m is None:
            continue
        key = _ident(ctx, m.get("key"), _at(where, "key"), pattern)
        if key is not None and key in options:
            ctx.fail(_at(where, "key"), "duplicate_key", f"{key!r} declared twice")
        elif key is not None:
            options[key] = Option(key, _text(ctx, m, where))
    return tuple(options.values())


# Fields ----------------------------------------------------------------------------------------

_FIELD_OPTIONS = {
    "max_length": ("string", "text"), "pattern": ("string",),
    "min": ("integer", "number", "money"), "max": ("integer", "number", "money"),
    "values": ("enum",), "after": ("date", "datetime"), "max_items": ("photo_list", "materials"),
}
_FIELD_FLAGS = ("required", "report", "default")


def _field_options(ctx: _Ctx, m: Mapping[str, Any], path: str, ftype: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, types in _FIELD_OPTIONS.items():
        if name not in m:
            continue
        if ftype not in types:
            ctx.fail(_at(path, name), "bad_value", f"{name} does not apply to type {ftype}")
        elif name == "values":
            options[name] = _options(ctx, m[name], _at(path, name), _VALUE_KEY)
        else:
            options[name] = _field_option(ctx, name, m[name], _at(path, name))
    if ftype == "enum" and not options.get("values"):
        ctx.fail(path, "missing_key", "an enum field needs values")
    return options


def _field_option(ctx: _Ctx, name: str, value: Any, path: str) -> Any:
    if name in ("max_length", "max_items"):
        if not _is_int(value) or not 0 < value <= 100_000:
            ctx.fail(path, "bad_value", f"{name} must be a positive integer")
    elif name in ("min", "max"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.fail(path, "bad_value", f"{name} must be a number")
    elif name == "pattern":
        try:
            re.compile(value)
        except (re.error, TypeError) as exc:
            ctx.fail(path, "bad_value", f"bad regular expression: {exc}")
    elif name == "after" and not isinstance(value, str):
        ctx.fail(path, "bad_value", "after must name another field")
    return value


def _field_spec(ctx: _Ctx, m: Mapping[str, Any], path: str, key: str) -> FieldSpec | None:
    ftype = m.get("type")
    known = len(ctx.problems)
    if ftype not in FIELD_TYPES:
        ctx.fail(_at(path, "type"), "bad_field_type",
                 f"unknown field type {ftype!r}; known: {', '.join(FIELD_TYPES)}")
        return None
    options = _field_options(ctx, m, path, ftype)
    if options.get("min") is not None and options.get("max") is not None \
            and options["min"] > options["max"]:
        ctx.fail(_at(path, "min"), "bad_value", "min is greater than max")
    spec = FieldSpec(key=key, name=_text(ctx, m, path), type=ftype,
                     required=_flag(ctx, m, "required", path),
                     report=_flag(ctx, m, "report", path, True), **options)
    if m.get("default") is None or len(ctx.problems) > known:
        return spec
    try:
        default = _CLEANERS[ftype](spec, m["default"])
    except (_Invalid, re.error, TypeError) as exc:
        ctx.fail(_at(path, "default"), "bad_default",
                 f"default {m['default']!r} is not a valid {ftype} value ({exc})")
        return spec
    return replace(spec, default=default)


def _fields(ctx: _Ctx, value: Any) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for index, item in enumerate(_list(ctx, value, "fields")):
        where = _at("fields", index)
        m = _mapping(ctx, item, where, ("key", "zh", "en", "type"),
                     (*_FIELD_OPTIONS, *_FIELD_FLAGS))
        key = _ident(ctx, m.get("key"), _at(where, "key")) if m is not None else None
        if m is None or key is None:
            continue
        if key in STEP_FIELDS:
            ctx.fail(_at(where, "key"), "reserved_key",
                     f"{key!r} is a built-in step field ({', '.join(STEP_FIELDS)})")
        elif key in specs:
            ctx.fail(_at(where, "key"), "duplicate_key", f"field {key!r} declared twice")
        elif (spec := _field_spec(ctx, m, where, key)) is not None:
            specs[key] = spec
    _check_after(ctx, specs)
    return specs


def _check_after(ctx: _Ctx, specs: Mapping[str, FieldSpec]) -> None:
    for index, spec in enumerate(specs.values()):
        other = specs.get(spec.after or "")
        if spec.after is not None and (other is None or other.type != spec.type
                                       or other.key == spec.key):
            ctx.fail(f"fields[{index}].after", "unknown_field",
                     f"after: {spec.after!r} is not another {spec.type} field")


# States and transitions -------------------------------------------------------------------------


def _states(ctx: _Ctx, value: Any) -> dict[str, StateSpec]:
    states: dict[str, StateSpec] = {}
    for index, item in enumerate(_list(ctx, value, "states")):
        where = _at("states", index)
        m = _mapping(ctx, item, where, ("key", "zh", "en"), ("terminal", "accepted", "closed"))
        key = _ident(ctx, m.get("key"), _at(where, "key")) if m is not None else None
        if m is None or key is None:
            continue
        if key in states:
            ctx.fail(_at(where, "key"), "duplicate_key", f"state {key!r} declared twice")
            continue
        spec = StateSpec(key, _text(ctx, m, where), _flag(ctx, m, "terminal", where),
                         _flag(ctx, m, "accepted", where), _flag(ctx, m, "closed", where))
        if spec.closed and not spec.terminal:
            ctx.fail(_at(where, "closed"), "bad_value", "a closed state must be terminal")
        states[key] = spec
    return states


def _state_ref(ctx: _Ctx, states: Mapping[str, StateSpec], value: Any, path: str) -> str | None:
    if ctx.states_broken:
        return None
    if value not in states:
        ctx.fail(path, "unknown_state",
                 f"unknown state {value!r}; declared: {', '.join(states) or 'none'}")
        return None
    return str(value)


def _assigns(ctx: _Ctx, value: Any, path: str, dispatch: Dispatch | None) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return dispatch.mode if dispatch else None
    if value not in DISPATCH_MODES:
        ctx.fail(path, "bad_value", f"assigns must be true, false or one of {DISPATCH_MODES}")
        return None
    return str(value)


def _records(ctx: _Ctx, value: Any, path: str) -> frozenset[str]:
    items = _list(ctx, value, path)
    for index, item in enumerate(items):
        if item not in RECORDS:
            ctx.fail(_at(path, index), "bad_value",
                     f"cannot record {item!r}; choose from {', '.join(RECORDS)}")
    return frozenset(i for i in items if i in RECORDS)


_TRANSITION_OPTIONAL = ("to", "required", "optional", "assigns", "records")


def _transition(ctx: _Ctx, m: Mapping[str, Any], where: str, key: str,
                states: Mapping[str, StateSpec], dispatch: Dispatch | None) -> Transition:
    sources = [_state_ref(ctx, states, s, _at(_at(where, "from"), i))
               for i, s in enumerate(_list(ctx, m.get("from"), _at(where, "from")))]
    target = _state_ref(ctx, states, m["to"], _at(where, "to")) if "to" in m else None
    if not sources and "from" in m:
        ctx.fail(_at(where, "from"), "bad_value", "at least one source state is needed")
    tr = Transition(
        key=key, name=_text(ctx, m, where),
        sources=tuple(s for s in sources if s), target=target,
        roles=_role_list(ctx, m.get("roles", []), _at(where, "roles"), pseudo=True),
        required=tuple(_list(ctx, m.get("required", []), _at(where, "required"))),
        optional=tuple(_list(ctx, m.get("optional", []), _at(where, "optional"))),
        assigns=_assigns(ctx, m.get("assigns"), _at(where, "assigns"), dispatch),
        records=_records(ctx, m.get("records", []), _at(where, "records")),
    )
    if m.get("assigns") not in (None, False) and dispatch is None:
        ctx.fail(_at(where, "assigns"), "missing_key",
                 "a transition that assigns needs a dispatch section")
    return tr


def _transitions(ctx: _Ctx, value: Any, states: Mapping[str, StateSpec],
                 dispatch: Dispatch | None) -> dict[str, Transition]:
    result: dict[str, Transition] = {}
    for index, item in enumerate(_list(ctx, value, "transitions")):
        where = _at("transitions", index)
        m = _mapping(ctx, item, where, ("key", "zh", "en", "from", "roles"),
                     _TRANSITION_OPTIONAL)
        key = _ident(ctx, m.get("key"), _at(where, "key")) if m is not None else None
        if m is None or key is None:
            continue
        if key in result:
            ctx.fail(_at(where, "key"), "duplicate_key", f"transition {key!r} declared twice")
            continue
        result[key] = _transition(ctx, m, where, key, states, dispatch)
    return result


def _check_step_fields(ctx: _Ctx, transitions: Mapping[str, Transition],
                       fields: Mapping[str, FieldSpec]) -> None:
    for index, tr in enumerate(transitions.values()):
        enabled = {"note", *tr.records}
        if tr.assigns in ("assign", "round_robin"):
            enabled.add("assignee")
        seen: set[str] = set()
        for part in ("required", "optional"):
            for pos, key in enumerate(getattr(tr, part)):
                path = f"transitions[{index}].{part}[{pos}]"
                if key in seen:
                    ctx.fail(path, "duplicate_key", f"{key!r} listed twice in the step")
                elif key not in fields and key not in enabled:
                    ctx.fail(path, "unknown_field",
                             f"field {key!r} is not declared in fields (nor enabled by records)")
                seen.add(key)


# Graph checks -----------------------------------------------------------------------------------


def _reachable(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _check_graph(ctx: _Ctx, states: Mapping[str, StateSpec], initial: str | None,
                 transitions: Mapping[str, Transition]) -> None:
    terminal = {k for k, s in states.items() if s.terminal}
    if not terminal:
        ctx.fail("states", "no_terminal", "no state is marked terminal: a case could never end")
    if not any(s.closed for s in states.values()):
        ctx.fail("states", "no_closed_state", "no state is marked closed (for statistics)")
    forward: dict[str, set[str]] = {}
    backward: dict[str, set[str]] = {}
    for index, tr in enumerate(transitions.values()):
        for source in tr.sources:
            if source in terminal:
                ctx.fail(f"transitions[{index}].from", "terminal_has_exit",
                         f"{tr.key!r} leaves terminal state {source!r}")
            target = tr.target or source
            forward.setdefault(source, set()).add(target)
            backward.setdefault(target, set()).add(source)
    if initial is None:
        return
    reached = _reachable([initial], forward)
    for index, key in enumerate(states):
        if key not in reached:
            ctx.fail(f"states[{index}]", "unreachable_state",
                     f"state {key!r} cannot be reached from {initial!r}")
        elif terminal and key not in _reachable(terminal, backward):
            ctx.fail(f"states[{index}]", "dead_end",
                     f"no terminal state can be reached from {key!r}")


# Sections ---------------------------------------------------------------------------------------


def _sla(ctx: _Ctx, value: Any) -> tuple[SlaLimits, ...]:
    m = _mapping(ctx, value, "sla", PRIORITIES, ("warn",)) if value is not None else None
    if m is None:
        return ()
    default_warn = _warn(ctx, m.get("warn", 0.8), "sla.warn")
    limits = [limit for priority in PRIORITIES if priority in m
              and (limit := _sla_limit(ctx, priority, m[priority], default_warn))]
    if len(limits) == len(PRIORITIES):
        _check_sla_order(ctx, limits)
    return tuple(limits)


def _sla_limit(ctx: _Ctx, priority: str, value: Any, default_warn: float) -> SlaLimits | None:
    where = _at("sla", priority)
    item = _mapping(ctx, value, where, ("accept", "close"), ("warn",))
    if item is None:
        return None
    accept = _duration(ctx, item.get("accept"), _at(where, "accept"))
    close = _duration(ctx, item.get("close"), _at(where, "close"))
    warn = _warn(ctx, item.get("warn", default_warn), _at(where, "warn"))
    if accept is None or close is None:
        return None
    if accept > close:
        ctx.fail(_at(where, "accept"), "bad_value", "accept-within exceeds close-within")
    return SlaLimits(priority, accept, close, warn)


def _warn(ctx: _Ctx, value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        ctx.fail(path, "bad_value", f"warn must be a fraction between 0 and 1, found {value!r}")
        return 0.8
    return float(value)


def _check_sla_order(ctx: _Ctx, limits: Sequence[SlaLimits]) -> None:
    for lower, higher in itertools.pairwise(limits):
        if higher.close > lower.close or higher.accept > lower.accept:
            ctx.fail(_at("sla", higher.priority), "bad_value",
                     f"{higher.priority} allows more time than {lower.priority}")


def _dispatch(ctx: _Ctx, value: Any) -> Dispatch | None:
    if value is None:
        return None
    m = _mapping(ctx, value, "dispatch", ("mode", "team_roles"))
    if m is None:
        return None
    mode = _choice(ctx, m.get("mode"), "dispatch.mode", DISPATCH_MODES)
    return Dispatch(mode, _role_list(ctx, m.get("team_roles", []), "dispatch.team_roles",
                                     pseudo=False))


def _payment(ctx: _Ctx, value: Any, states: Mapping[str, StateSpec],
             fields: Mapping[str, FieldSpec]) -> Payment | None:
    m = _mapping(ctx, value, "payment", ("state", "field"), ("skip_to",)) if value else None
    if m is None:
        return None
    state = _state_ref(ctx, states, m.get("state"), "payment.state")
    skip = _state_ref(ctx, states, m["skip_to"], "payment.skip_to") if "skip_to" in m else None
    spec = fields.get(m.get("field", ""))
    if spec is None or spec.type != "money":
        ctx.fail("payment.field", "unknown_field",
                 f"payment field {m.get('field')!r} is not a declared money field")
        return None
    if state and states[state].terminal:
        ctx.fail("payment.state", "bad_value", "the payment state cannot be terminal")
    return Payment(state or "", str(m.get("field")), skip)


def _check_payment_entry(ctx: _Ctx, payment: Payment | None,
                         transitions: Mapping[str, Transition]) -> None:
    if payment is None:
        return
    for index, tr in enumerate(transitions.values()):
        if tr.target == payment.state and payment.field not in tr.required:
            ctx.fail(f"transitions[{index}].required", "unknown_field",
                     f"{tr.key!r} enters the payment state without requiring {payment.field!r}")


def _return_visit(ctx: _Ctx, value: Any, states: Mapping[str, StateSpec]) -> str | None:
    m = _mapping(ctx, value, "return_visit", ("state",)) if value else None
    if m is None:
        return None
    state = _state_ref(ctx, states, m.get("state"), "return_visit.state")
    if state and states[state].terminal:
        ctx.fail("return_visit.state", "bad_value", "the return-visit state cannot be terminal")
    return state


def _rating(ctx: _Ctx, value: Any, states: Mapping[str, StateSpec]) -> RatingSpec | None:
    m = _mapping(ctx, value, "rating", ("by",), ("states", "comment_max_length")) \
        if value else None
    if m is None:
        return None
    default = [k for k, s in states.items() if s.closed]
    found = [_state_ref(ctx, states, s, f"rating.states[{i}]")
             for i, s in enumerate(_list(ctx, m.get("states", default), "rating.states"))]
    limit = m.get("comment_max_length", 500)
    if not _is_int(limit) or limit <= 0:
        ctx.fail("rating.comment_max_length", "bad_value", "must be a positive integer")
        limit = 500
    by = _role_list(ctx, m.get("by", []), "rating.by", pseudo=True)
    return RatingSpec(tuple(s for s in found if s), by, limit)


_TOP_REQUIRED = ("id", "zh", "en", "family", "report_roles", "states", "initial",
                 "transitions", "sla")
_TOP_OPTIONAL = ("clauses", "default_priority", "categories", "fields", "dispatch", "payment",
                 "return_visit", "rating")


def _build(ctx: _Ctx, path: Path, root: Mapping[str, Any]) -> CaseType | None:
    type_id = _ident(ctx, root.get("id"), "id")
    if type_id is not None and type_id != path.stem:
        ctx.fail("id", "id_mismatch", f"id {type_id!r} differs from the file name {path.stem!r}")
    fields = _fields(ctx, root.get("fields", []))
    states = _states(ctx, root.get("states", []))
    ctx.states_broken = not states
    initial = _state_ref(ctx, states, root.get("initial"), "initial")
    if initial and states[initial].terminal:
        ctx.fail("initial", "bad_value", "the initial state cannot be terminal")
    dispatch = _dispatch(ctx, root.get("dispatch"))
    transitions = _transitions(ctx, root.get("transitions", []), states, dispatch)
    _check_step_fields(ctx, transitions, fields)
    if not ctx.states_broken and not ctx.has("unknown_state"):
        _check_graph(ctx, states, initial, transitions)
    payment = _payment(ctx, root.get("payment"), states, fields)
    _check_payment_entry(ctx, payment, transitions)
    case_type = CaseType(
        id=type_id or path.stem, name=_text(ctx, root, ""),
        family=_choice(ctx, root.get("family"), "family", FAMILIES), source=str(path),
        clauses=tuple(str(c) for c in _list(ctx, root.get("clauses", []), "clauses")),
        report_roles=_role_list(ctx, root.get("report_roles", []), "report_roles", False),
        default_priority=_choice(ctx, root.get("default_priority", "normal"),
                                 "default_priority", PRIORITIES),
        categories=_options(ctx, root.get("categories", []), "categories", _KEY),
        fields=tuple(fields.values()), states=tuple(states.values()), initial=initial or "",
        transitions=tuple(transitions.values()), sla=_sla(ctx, root.get("sla")),
        dispatch=dispatch, payment=payment,
        return_visit=_return_visit(ctx, root.get("return_visit"), states),
        rating=_rating(ctx, root.get("rating"), states),
    )
    return None if ctx.problems else case_type


def _read(ctx: _Ctx, path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except _DuplicateKey as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        ctx.fail(f"line {line}", "duplicate_key", str(exc.problem))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        ctx.fail("", "yaml", f"not valid YAML: {exc}")
    return None


def _load(path: Path, roles: frozenset[str]) -> tuple[CaseType | None, list[LoadProblem]]:
    ctx = _Ctx(str(path), roles)
    raw = _read(ctx, path)
    if ctx.problems:
        return None, ctx.problems
    root = _mapping(ctx, raw, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    return (_build(ctx, path, root) if root is not None else None), ctx.problems


def _known_roles(roles: Iterable[str] | None) -> frozenset[str]:
    return frozenset(roles) if roles is not None else frozenset(builtin_roles())


def load_case_type_file(path: str | Path, *, roles: Iterable[str] | None = None) -> CaseType:
    """Load and check one case-type file; `CaseTypeError` lists every problem."""
    case_type, problems = _load(Path(path), _known_roles(roles))
    if problems or case_type is None:
        raise CaseTypeError(problems)
    return case_type


def load_case_types(extra_dirs: Iterable[str | Path] = (), *,
                    roles: Iterable[str] | None = None) -> dict[str, CaseType]:
    """Load the built-in case types and those in `extra_dirs` (one `*.yaml` per type).

    Every file is checked; one `CaseTypeError` reports all problems of all files. A type id
    defined twice (also across directories) is an error, never a silent override.
    """
    known = _known_roles(roles)
    problems: list[LoadProblem] = []
    found: dict[str, CaseType] = {}
    for directory in (CASE_TYPES_DIR, *(Path(d) for d in extra_dirs)):
        if not directory.is_dir():
            problems.append(LoadProblem(str(directory), "", "missing_dir", "not a directory"))
            continue
        for path in sorted(directory.glob("*.yaml")):
            case_type, found_problems = _load(path, known)
            problems += found_problems
            if case_type is not None and case_type.id in found:
                problems.append(LoadProblem(str(path), "id", "duplicate_key",
                                            f"case type {case_type.id!r} is already defined "
                                            f"in {found[case_type.id].source}"))
            elif case_type is not None:
                found[case_type.id] = case_type
    if problems:
        raise CaseTypeError(problems)
    return dict(sorted(found.items()))


@lru_cache(maxsize=1)
def builtin_case_types() -> Mapping[str, CaseType]:
    """The case types shipped in `case_types/` (loaded once, read-only)."""
    return MappingProxyType(load_case_types())

