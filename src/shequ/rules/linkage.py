"""Linkage templates as data (联动预案): what an alarm sets off, and planning it.

A template (one YAML file in `linkage_templates/`, id = file name)::

    id: fire
    name: {zh: 火警联动, en: Fire linkage}
    actions:
      - kind: broadcast                       # emergency broadcast, top priority
        levels: [alarm]                       # alarm levels it runs on (default: alarm)
        target: {at: building}
        text: {zh: "{place}发生火警，请沿疏散通道撤离", en: "Fire at {place}, evacuate"}
      - kind: camera_popup
        target: {nearest: 4, max_distance_m: 150, at: [floor, building]}
        roles: [security_operator]
      - {kind: open_case, case_type: alarm_order, category: fire, priority: urgent,
         text: {zh: "{rule}：{place}", en: "{rule}: {place}"}}

Action kinds: ``command`` (any device type and command of the catalogue, with params),
the command presets ``broadcast`` (PA ``play``, priority ``emergency``), ``screen``
(information screen ``show_message``), ``unlock_doors`` (access controller ``unlock``),
``lights_on`` (street light ``switch_on``), ``shut_gas_valve`` (valve ``close``),
``sound_light`` (sound-and-light alarm ``activate``), and the platform actions
``camera_popup`` (video on operators' consoles), ``locate`` (fly the CIM view to the alarm),
``notify`` (roles or people over inapp/sms/wechat), ``open_case`` (a case of a case type) and
``hook`` (a named call-out for packages not built yet, e.g. elderly care).

Targets are relative to the alarm's place: ``at`` is a level or a list of levels tried in
order (device, room, unit, floor, building, facility, zone, community) until one gives
devices; ``nearest: N`` takes the N nearest devices by distance when the alarm has
coordinates (then falls back to ``at``); ``zones`` names broadcast zones; ``tags`` keeps only
devices with all those tags (e.g. ``evacuation``), ``limit`` caps the count.

Texts and string parameters may use the placeholders {rule} {level} {device} {device_type}
{place} {building} {unit} {floor} {room} {facility} {zone} {key} {count} {time}.
Templates are checked at load (unknown device type, command, parameter, case type, category,
role or channel), each problem naming the file and the path inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shequ.kit.i18n import LANGUAGES, t
from shequ.rules.definitions import DEFAULT_TIMEZONE, LEVELS, rule_files
from shequ.rules.outcomes import Raise
from shequ.rules.places import PLACE_LEVELS, DeviceRef, PlaceIndex, place_id
from shequ.rules.schema import MISSING, Node, Problems, check_template, read_document, render
from shequ.sensing.catalogue import Catalogue, DeviceType, default_catalogue
from shequ.sensing.readings import command_defaults, validate_command

TEMPLATES_DIR = Path(__file__).resolve().parent / "linkage_templates"
CHANNELS = ("inapp", "sms", "wechat")
CASE_PRIORITIES = ("low", "normal", "high", "urgent")
TARGET_LEVELS = ("device", *PLACE_LEVELS)
TEXT_FIELDS = ("rule", "level", "device", "device_type", "place", "building", "unit", "floor",
               "room", "facility", "zone", "key", "count", "time")
SAMPLE = {name: "x" for name in TEXT_FIELDS}


@dataclass(frozen=True)
class Preset:
    """A device command kind with its device type, command, default parameters and rank."""

    device_type: str
    command: str
    params: Mapping[str, Any]
    text_param: str | None
    rank: int
    at: tuple[str, ...]


PRESETS: Mapping[str, Preset] = {
    "broadcast": Preset("pa_speaker", "play", {"source_kind": "tts", "priority": "emergency",
                                               "category": "evacuation"}, "source", 0,
                        ("building",)),
    "shut_gas_valve": Preset("gas_shutoff_valve", "close", {"reason": "leak_linkage"}, None, 0,
                             ("room", "floor", "building", "facility")),
    "screen": Preset("info_screen", "show_message", {"content_id": "{key}",
                                                     "content_type": "emergency",
                                                     "level": "emergency"}, "text", 1,
                     ("building",)),
    "sound_light": Preset("sound_light_alarm", "activate", {"mode": "sound_light"}, None, 1,
                          ("floor", "building")),
    "unlock_doors": Preset("access_controller", "unlock", {"reason": "evacuation"}, None, 1,
                           ("building",)),
    "lights_on": Preset("streetlight_controller", "switch_on", {}, None, 2, ("community",)),
}
PLATFORM_KINDS = ("camera_popup", "locate", "notify", "open_case", "hook")
KINDS = ("command", *PRESETS, *PLATFORM_KINDS)
RANKS: Mapping[str, int] = {"command": 2, "camera_popup": 1, "locate": 1, "notify": 2,
                            "open_case": 3, "hook": 3}


# ---------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True)
class Target:
    """Which devices an action reaches, relative to the alarm's place."""

    at: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    nearest: int | None = None
    max_distance_m: float | None = None
    tags: frozenset[str] = frozenset()
    limit: int | None = None


@dataclass(frozen=True, kw_only=True)
class ActionSpec:
    """One action of a template, as declared."""

    kind: str
    levels: tuple[str, ...] = ("alarm",)
    device_type: str | None = None
    command: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    text: Mapping[str, str] | None = None
    target: Target | None = None
    roles: tuple[str, ...] = ()
    people: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()
    case_type: str | None = None
    category: str | None = None
    priority: str | None = None
    hook: str | None = None
    rank: int = 2


@dataclass(frozen=True)
class LinkageTemplate:
    """A named list of actions an alarm sets off."""

    id: str
    name_zh: str
    name_en: str
    actions: tuple[ActionSpec, ...]
    source: str = ""


# ---------------------------------------------------------------------------------------------
# Planned actions


@dataclass(frozen=True, kw_only=True)
class Action:
    """A planned action: which template step made it, for which alarm, and its rank (0 first)."""

    template: str
    step: int
    kind: str
    alarm_key: str
    rank: int


@dataclass(frozen=True, kw_only=True)
class DeviceCommand(Action):
    """A command to one device (parameters validated and defaults filled)."""

    device: str
    device_type: str
    community: str
    command: str
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CameraPopup(Action):
    """Show these cameras' live video on the consoles of operators with these roles."""

    cameras: tuple[str, ...]
    roles: tuple[str, ...]
    community: str


@dataclass(frozen=True, kw_only=True)
class Locate(Action):
    """Fly the consoles' CIM view to the alarm's place and highlight the device."""

    device: str
    place: Mapping[str, Any]
    roles: tuple[str, ...]
    community: str


@dataclass(frozen=True, kw_only=True)
class Notify(Action):
    """A notification to roles (in the alarm's community) and people, over channels."""

    roles: tuple[str, ...]
    people: tuple[int, ...]
    channels: tuple[str, ...]
    text: Mapping[str, str]
    community: str


@dataclass(frozen=True, kw_only=True)
class OpenCase(Action):
    """Open a case of a case type for the alarm (device and place filled by the runtime)."""

    case_type: str
    category: str | None
    priority: str | None
    description: Mapping[str, str]
    device: str
    place: Mapping[str, Any]
    level: str
    community: str


@dataclass(frozen=True, kw_only=True)
class Hook(Action):
    """A named call-out for another package, with parameters."""

    name: str
    params: Mapping[str, Any]
    text: Mapping[str, str] | None
    device: str
    community: str


# ---------------------------------------------------------------------------------------------
# Loading and checking


@dataclass(frozen=True)
class Known:
    """What templates are checked against: the catalogue, case types with categories, roles."""

    catalogue: Catalogue
    case_types: Mapping[str, Collection[str]]
    roles: Collection[str]


def default_known() -> Known:
    """The built-in catalogue, case types and roles."""
    from shequ.cases.definitions import builtin_case_types
    from shequ.platform.permissions import builtin_roles

    cases = {key: tuple(option.key for option in case.categories)
             for key, case in builtin_case_types().items()}
    return Known(default_catalogue(), cases, tuple(builtin_roles()))


class _TemplateParser:
    """Parses one template document, recording every problem."""

    def __init__(self, known: Known, lang: str) -> None:
        self.known = known
        self.lang = lang

    def template(self, node: Node, stem: str | None, source: str) -> LinkageTemplate | None:
        before = len(node.problems.items)
        keys = ("id", "name", "actions")
        if not node.mapping(keys, (*keys, "description")):
            return None
        template_id = node.child("id").key()
        if stem is not None and template_id is not None and template_id != stem:
            node.child("id").fail("id_mismatch", value=template_id, stem=stem)
        names = node.child("name").names()
        node.child("description").text(None, max_length=2000)
        actions_node = node.child("actions")
        actions = [self.action(item) for item in actions_node.items(required=True)]
        if actions_node.present and not actions:
            actions_node.fail("empty")
        if len(node.problems.items) != before or names is None or template_id is None:
            return None
        return LinkageTemplate(template_id, names[0], names[1],
                               tuple(a for a in actions if a is not None), source)

    def action(self, node: Node) -> ActionSpec | None:
        if not isinstance(node.value, dict):
            node.fail("not_mapping", value=node.value)
            return None
        kind = node.child("kind").choice(KINDS)
        if kind is None:
            return None
        levels = node.child("levels").keys() or ("alarm",)
        for index, level in enumerate(levels):
            if level not in LEVELS:
                node.child("levels").child(index).fail("not_allowed", value=level,
                                                       allowed=", ".join(LEVELS))
        if kind == "command" or kind in PRESETS:
            return self.device_action(node, kind, levels)
        build: Callable[[Node, tuple[str, ...]], ActionSpec | None] = getattr(self, kind)
        return build(node, levels)

    # --- parts -------------------------------------------------------------------------------

    def text(self, node: Node, required: bool) -> dict[str, str] | None:
        if not node.present:
            if required:
                node.fail("no_text")
            return None
        names = node.names()
        if names is None:
            return None
        for lang, value in zip(("zh", "en"), names, strict=True):
            check_template(node.child(lang), value, TEXT_FIELDS)
        return {"zh-CN": names[0], "en": names[1]}

    def roles(self, node: Node) -> tuple[str, ...]:
        roles = node.keys()
        for index, role in enumerate(roles):
            if role not in self.known.roles:
                node.child(index).fail("unknown_role", value=role)
        return roles

    def target(self, node: Node, default: tuple[str, ...]) -> Target:
        if not node.present:
            return Target(at=default)
        if not node.mapping((), ("at", "zones", "nearest", "max_distance_m", "tags", "limit")):
            return Target(at=default)
        at_node = node.child("at")
        if isinstance(at_node.value, str):
            level = at_node.choice(TARGET_LEVELS)
            at: tuple[str, ...] = (level,) if level else ()
        else:
            at = tuple(level for level in (item.choice(TARGET_LEVELS) for item in
                                           at_node.items()) if level)
        zones = tuple(z for z in (item.text(max_length=64) for item in
                                  node.child("zones").items()) if z)
        nearest = node.child("nearest").integer(None)
        if not (at or zones or nearest):
            node.fail("no_target")
        return Target(at=at, zones=zones, nearest=nearest,
                      max_distance_m=node.child("max_distance_m").number(None, positive=True),
                      tags=frozenset(node.child("tags").keys()),
                      limit=node.child("limit").integer(None))

    # --- action kinds -------------------------------------------------------------------------

    def device_action(self, node: Node, kind: str, levels: tuple[str, ...]) -> ActionSpec | None:
        preset = PRESETS.get(kind)
        node.mapping(() if preset else ("device_type", "command"),
                     ("kind", "levels", "device_type", "command", "params", "text", "target"))
        device_type = node.child("device_type").key(preset.device_type if preset else MISSING)
        command = node.child("command").key(preset.command if preset else MISSING)
        text = self.text(node.child("text"), bool(preset and preset.text_param))
        params = dict(preset.params) if preset else {}
        params_node = node.child("params")
        if params_node.present and not isinstance(params_node.value, dict):
            params_node.fail("not_mapping", value=params_node.value)
        elif params_node.present:
            params.update(params_node.value)
        target = self.target(node.child("target"), preset.at if preset else ("device",))
        if device_type is None or command is None:
            return None
        if not self.check_command(node, device_type, command, params, preset, text):
            return None
        return ActionSpec(kind=kind, levels=levels, device_type=device_type, command=command,
                          params=params, text=text, target=target,
                          rank=preset.rank if preset else RANKS["command"])

    def check_command(self, node: Node, device_type: str, command: str, params: dict[str, Any],
                      preset: Preset | None, text: Mapping[str, str] | None) -> bool:
        spec = self.known.catalogue.find(device_type)
        if spec is None:
            node.child("device_type").fail("unknown_device_type", value=device_type)
            return False
        if command not in spec.command_index:
            node.child("command").fail("unknown_command", value=command, device_type=device_type)
            return False
        for key, value in params.items():
            if isinstance(value, str):
                check_template(node.child("params").child(key), value, TEXT_FIELDS)
        sample = _render_params(params, SAMPLE)
        if preset is not None and preset.text_param and text is not None:
            sample[preset.text_param] = render(text["zh-CN"], SAMPLE)
        ok = True
        for rejection in validate_command(spec, command, sample):
            where = node.child("params").child(rejection.field) if rejection.field else node
            where.fail("bad_param", detail=t(rejection.code, self.lang, **rejection.params))
            ok = False
        return ok

    def camera_popup(self, node: Node, levels: tuple[str, ...]) -> ActionSpec | None:
        node.mapping((), ("kind", "levels", "device_type", "target", "roles"))
        device_type = node.child("device_type").key("camera")
        if device_type is not None and device_type not in self.known.catalogue:
            node.child("device_type").fail("unknown_device_type", value=device_type)
        target = self.target(node.child("target"), ("floor", "building"))
        if not node.child("target").present:
            target = Target(at=target.at, nearest=4)
        roles = self.roles(node.child("roles")) or ("security_operator",)
        return ActionSpec(kind="camera_popup", levels=levels, device_type=device_type,
                          target=target, roles=roles, rank=RANKS["camera_popup"])

    def locate(self, node: Node, levels: tuple[str, ...]) -> ActionSpec | None:
        node.mapping((), ("kind", "levels", "roles"))
        roles = self.roles(node.child("roles")) or ("security_operator",)
        return ActionSpec(kind="locate", levels=levels, roles=roles, rank=RANKS["locate"])

    def notify(self, node: Node, levels: tuple[str, ...]) -> ActionSpec | None:
        node.mapping(("text",), ("kind", "levels", "roles", "people", "channels", "text"))
        roles = self.roles(node.child("roles"))
        people = tuple(p for p in (item.integer() for item in node.child("people").items())
                       if p is not None)
        if not roles and not people:
            node.child("roles").fail("missing")
        channels = tuple(c for c in (item.choice(CHANNELS) for item in
                                     node.child("channels").items()) if c) or ("inapp",)
        text = self.text(node.child("text"), True)
        return ActionSpec(kind="notify", levels=levels, roles=roles, people=people,
                          channels=channels, text=text, rank=RANKS["notify"])

    def open_case(self, node: Node, levels: tuple[str, ...]) -> ActionSpec | None:
        node.mapping(("case_type",), ("kind", "levels", "case_type", "category", "priority",
                                      "text"))
        case_type = node.child("case_type").key()
        category = node.child("category").key(None)
        if case_type is not None and case_type not in self.known.case_types:
            node.child("case_type").fail("unknown_case_type", value=case_type)
        elif case_type is not None and category is not None and \
                category not in self.known.case_types[case_type]:
            node.child("category").fail("unknown_category", value=category, case_type=case_type)
        priority = node.child("priority").choice(CASE_PRIORITIES, None)
        text = self.text(node.child("text"), True)
        return ActionSpec(kind="open_case", levels=levels, case_type=case_type,
                          category=category, priority=priority, text=text,
                          rank=RANKS["open_case"])

    def hook(self, node: Node, levels: tuple[str, ...]) -> ActionSpec | None:
        node.mapping(("name",), ("kind", "levels", "name", "params", "text"))
        name = node.child("name").key()
        params = node.child("params").value if node.child("params").present else {}
        if not isinstance(params, dict):
            node.child("params").fail("not_mapping", value=params)
            params = {}
        text = self.text(node.child("text"), False)
        return ActionSpec(kind="hook", levels=levels, hook=name, params=params, text=text,
                          rank=RANKS["hook"])


def parse_template(doc: Any, *, known: Known | None = None, lang: str | None = None,
                   source: str | None = None, stem: str | None = None) -> LinkageTemplate:
    """Validate one template document; `RulesInvalid` lists every problem with its path."""
    problems = Problems(source, lang, code="rules.linkage.invalid")
    parser = _TemplateParser(known or default_known(), problems.lang)
    template = parser.template(Node(doc, "", problems), stem, source or "")
    problems.raise_if_any()
    assert template is not None
    return template


def load_templates(sources: Iterable[str | Path] = (TEMPLATES_DIR,), *,
                   known: Known | None = None,
                   lang: str | None = None) -> dict[str, LinkageTemplate]:
    """Load and check template files (id = file name); problems name the file and path."""
    problems = Problems(None, lang, code="rules.linkage.invalid")
    parser = _TemplateParser(known or default_known(), problems.lang)
    found: dict[str, LinkageTemplate] = {}
    for source in map(Path, sources):
        paths = rule_files(source) if source.is_dir() else [source]
        for path in paths:
            local = Problems(path.name, problems.lang, code=problems.code)
            doc = read_document(path, local) if path.is_file() else MISSING
            if not path.is_file():
                local.add(str(path), "no_file")
            template = None if doc is MISSING else \
                parser.template(Node(doc, "", local), path.stem, path.name)
            if template is not None and template.id in found:
                local.add("id", "duplicate_template", value=template.id,
                          other=found[template.id].source)
            elif template is not None:
                found[template.id] = template
            problems.extend(local)
    problems.raise_if_any()
    return found


@lru_cache(maxsize=1)
def builtin_templates() -> Mapping[str, LinkageTemplate]:
    """The built-in, editable templates of `linkage_templates/`."""
    return load_templates()


# ---------------------------------------------------------------------------------------------
# Planning


def _render_params(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: render(value, dict(values)) if isinstance(value, str) else value
            for key, value in params.items()}


def text_values(alarm: Raise, index: PlaceIndex, lang: str) -> dict[str, Any]:
    """The placeholder values of an alarm, in a language."""
    place = alarm.place
    local = alarm.ts.astimezone(ZoneInfo(DEFAULT_TIMEZONE))
    values: dict[str, Any] = {
        "rule": alarm.rule.name(lang) if alarm.rule else alarm.rule_id,
        "level": t(f"rules.level.{alarm.level}", lang), "device": alarm.device,
        "device_type": alarm.device_type, "place": index.describe(place, lang),
        "key": alarm.key, "count": alarm.count, "time": local.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for level in ("building", "unit", "floor", "room", "facility", "zone"):
        ident = getattr(place, level)
        values[level] = "" if ident is None else ident
    return values


def _texts(text: Mapping[str, str] | None, values: Mapping[str, Mapping[str, Any]]) -> dict[
        str, str]:
    return {lang: render(text[lang], dict(values[lang])) for lang in LANGUAGES} if text else {}


def resolve(target: Target, device_type: str, alarm: Raise, index: PlaceIndex) -> list[DeviceRef]:
    """The devices of a type an action reaches for an alarm."""
    community, place = alarm.community, alarm.place
    found: list[DeviceRef] = []
    if target.zones:
        for zone in target.zones:
            found.extend(index.devices_at(community, device_type, "zone", zone))
    elif target.nearest and place.lon is not None and place.lat is not None:
        found = list(index.devices_near(community, device_type, place.lon, place.lat,
                                        limit=target.nearest,
                                        max_distance_m=target.max_distance_m))
    if not found:
        for level in target.at:
            found = _at_level(level, device_type, alarm, index)
            if target.tags:
                found = [ref for ref in found if target.tags <= ref.tags]
            if found:
                break
    if target.tags:
        found = [ref for ref in found if target.tags <= ref.tags]
    unique = list({ref.device: ref for ref in found}.values())
    return unique[:target.limit] if target.limit else unique


def _at_level(level: str, device_type: str, alarm: Raise, index: PlaceIndex) -> list[DeviceRef]:
    if level == "device":
        if alarm.device_type != device_type:
            return []
        return [DeviceRef(alarm.device, alarm.device_type, alarm.community, alarm.place)]
    ident = place_id(alarm.place, alarm.community, level)
    if ident is None:
        return []
    return list(index.devices_at(alarm.community, device_type, level, ident))


class _Planner:
    """Turns a template's steps into actions for one alarm."""

    def __init__(self, template: LinkageTemplate, alarm: Raise, index: PlaceIndex,
                 lang: str, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.template = template
        self.alarm = alarm
        self.index = index
        self.lang = lang
        self.values = {code: text_values(alarm, index, code) for code in LANGUAGES}

    def base(self, step: int, spec: ActionSpec) -> dict[str, Any]:
        return {"template": self.template.id, "step": step, "kind": spec.kind,
                "alarm_key": self.alarm.key, "rank": spec.rank}

    def device_commands(self, step: int, spec: ActionSpec) -> list[Action]:
        assert spec.device_type is not None and spec.command is not None
        device_type = self.catalogue.get(spec.device_type)
        params = _render_params(spec.params, self.values[self.lang])
        preset = PRESETS.get(spec.kind)
        if preset is not None and preset.text_param and spec.text:
            params[preset.text_param] = render(spec.text[self.lang], self.values[self.lang])
        _fit(device_type, spec.command, params)
        full = command_defaults(device_type, spec.command, params)
        targets = resolve(spec.target or Target(), spec.device_type, self.alarm, self.index)
        return [DeviceCommand(**self.base(step, spec), device=ref.device,
                              device_type=ref.device_type, community=ref.community or
                              self.alarm.community, command=spec.command, params=dict(full))
                for ref in targets]

    def camera_popup(self, step: int, spec: ActionSpec) -> list[Action]:
        cameras = resolve(spec.target or Target(), spec.device_type or "camera", self.alarm,
                          self.index)
        if not cameras:
            return []
        return [CameraPopup(**self.base(step, spec), cameras=tuple(c.device for c in cameras),
                            roles=spec.roles, community=self.alarm.community)]

    def locate(self, step: int, spec: ActionSpec) -> list[Action]:
        return [Locate(**self.base(step, spec), device=self.alarm.device,
                       place=self.alarm.place.to_dict(), roles=spec.roles,
                       community=self.alarm.community)]

    def notify(self, step: int, spec: ActionSpec) -> list[Action]:
        return [Notify(**self.base(step, spec), roles=spec.roles, people=spec.people,
                       channels=spec.channels, text=_texts(spec.text, self.values),
                       community=self.alarm.community)]

    def open_case(self, step: int, spec: ActionSpec) -> list[Action]:
        assert spec.case_type is not None
        return [OpenCase(**self.base(step, spec), case_type=spec.case_type,
                         category=spec.category, priority=spec.priority,
                         description=_texts(spec.text, self.values), device=self.alarm.device,
                         place=self.alarm.place.to_dict(), level=self.alarm.level,
                         community=self.alarm.community)]

    def hook(self, step: int, spec: ActionSpec) -> list[Action]:
        assert spec.hook is not None
        return [Hook(**self.base(step, spec), name=spec.hook, params=dict(spec.params),
                     text=_texts(spec.text, self.values) or None, device=self.alarm.device,
                     community=self.alarm.community)]

    def plan(self, step: int, spec: ActionSpec) -> list[Action]:
        if spec.kind == "command" or spec.kind in PRESETS:
            return self.device_commands(step, spec)
        build: Callable[[int, ActionSpec], list[Action]] = getattr(self, spec.kind)
        return build(step, spec)


def _fit(device_type: DeviceType, command: str, params: dict[str, Any]) -> None:
    """Shorten rendered texts to their parameters' length limits."""
    spec = device_type.command_index[command]
    for key, value in params.items():
        param = spec.param_index.get(key)
        if isinstance(value, str) and param is not None and len(value) > param.max_length:
            params[key] = value[: param.max_length]


def runs_on(spec: ActionSpec, alarm: Raise) -> bool:
    """Whether a step runs for a raise: its level is listed, and not already run before."""
    if alarm.level not in spec.levels:
        return False
    return not (alarm.escalated and alarm.previous_level in spec.levels)


def plan_actions(template: LinkageTemplate, alarm: Raise, place_index: PlaceIndex, *,
                 lang: str = "zh-CN", catalogue: Catalogue | None = None) -> list[Action]:
    """The actions a raised (or escalated) alarm sets off, the most urgent first.

    `lang` is the language of texts sent to devices (broadcast speech, screens); notifications
    and case descriptions carry every language.
    """
    planner = _Planner(template, alarm, place_index, lang, catalogue or default_catalogue())
    actions: list[Action] = []
    for step, spec in enumerate(template.actions):
        if runs_on(spec, alarm):
            actions.extend(planner.plan(step, spec))
    return sorted(actions, key=lambda action: action.rank)
