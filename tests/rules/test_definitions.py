"""Rules as data: parsing, validation against the catalogue, errors with field paths."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import t
from shequ.rules.definitions import (
    Composite,
    Condition,
    Count,
    EventMatch,
    NoData,
    Rate,
    Schedule,
    Threshold,
    Window,
    builtin_rules,
    load_rules,
    parse_rule,
    parse_rules,
)
from shequ.rules.linkage import builtin_templates
from shequ.rules.schema import RulesInvalid
from tests.rules.helpers import rule

NAME = {"zh": "规则", "en": "Rule"}
GUIDE_VIDEO_EVENTS = {  # 5.3.6.c, as keyed in the camera device type
    "high_altitude_throwing", "garbage_sorting_violation", "face_detected", "crowding", "fall",
    "loitering", "watchlist_hit", "restricted_area_intrusion", "ebike_in_lift",
    "illegal_charging",
}


def doc(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A rule document around conditions."""
    return {"id": "r1", "version": 1, "name": NAME, "conditions": list(conditions), **extra}


def problems(document: Any, lang: str = "en", **kwargs: Any) -> dict[str, dict[str, Any]]:
    """The validation problems of a document, by field path."""
    with pytest.raises(RulesInvalid) as caught:
        parse_rule(document, lang=lang, **kwargs)
    return {item["field"]: item for item in caught.value.errors}


# ---------------------------------------------------------------------------------------------
# Built-in rules


def test_builtin_rules_load_and_reference_builtin_templates() -> None:
    rules = builtin_rules()
    assert len(rules) >= 21
    templates = builtin_templates()
    for item in rules:
        assert item.linkage is None or item.linkage in templates, item.id
        assert item.source.endswith(".yaml")


def test_builtin_rules_cover_every_guide_video_event() -> None:
    covered = {cond.event for item in builtin_rules() for cond in item.conditions
               if isinstance(cond, EventMatch) and "camera" in item.scope.device_types}
    assert covered == GUIDE_VIDEO_EVENTS


def test_builtin_rules_use_every_condition_kind() -> None:
    used = {cond.kind for item in builtin_rules() for cond in item.conditions}
    assert used == {"threshold", "duration", "rate", "no_data", "offline", "event", "count",
                    "composite"}


# ---------------------------------------------------------------------------------------------
# Parsing each kind


@pytest.mark.parametrize(("condition", "cls"), [
    ({"kind": "threshold", "metric": "concentration", "comparator": "gt", "warning": 10,
      "alarm": 25, "hysteresis": 1}, Threshold),
    ({"kind": "duration", "metric": "concentration", "comparator": "ge", "alarm": 25,
      "for_s": 300}, Threshold),
    ({"kind": "rate", "metric": "concentration", "comparator": "gt", "warning": 2,
      "window_s": 120}, Rate),
    ({"kind": "no_data", "after_s": 1800, "metric": "concentration"}, NoData),
    ({"kind": "offline"}, NoData),
    ({"kind": "event", "event": "leak_alarm", "hold_s": 60, "clear_event": "alarm_cleared",
      "where": {"concentration": {"ge": 20}}}, EventMatch),
    ({"kind": "count", "event": "leak_alarm", "window_s": 60, "alarm": 3}, Count),
])
def test_each_kind_parses(condition: dict[str, Any], cls: type[Condition]) -> None:
    parsed = rule(condition, types=["gas_leak_detector"])
    assert isinstance(parsed.conditions[0], cls)
    assert parsed.conditions[0].kind == condition["kind"]


def test_a_complete_document_parses() -> None:
    parsed = parse_rule(doc(
        {"kind": "threshold", "metric": "status", "comparator": "in", "warning": ["fault"],
         "alarm": ["alarm"]},
        scope={"device_types": ["smoke_detector"], "community": "demo",
               "place": {"building": 3, "floor": 41, "facility_category": "fire",
                         "zone": "north"}, "device": "SMK-1"},
        severity="critical", enabled=False, match="any", linkage="fire",
        schedule={"timezone": "Asia/Shanghai",
                  "windows": [{"days": ["mon", "fri"], "from": "22:00", "to": "06:00"}]},
        dedup={"key": "{rule}:{building}", "cooldown_s": 30},
    ), linkages=["fire"])
    assert parsed.scope.building == 3 and parsed.scope.facility_category == "fire"
    assert isinstance(parsed.conditions[0], Threshold)
    assert parsed.conditions[0].alarm == ("alarm",)
    assert parsed.schedule is not None and parsed.schedule.windows[0].days == {0, 4}
    assert parsed.dedup.key == "{rule}:{building}" and parsed.dedup.cooldown_s == 30
    assert not parsed.enabled


def test_composite_parts_default_to_the_scope() -> None:
    parsed = rule({"kind": "composite", "within_s": 120, "all": [
        {"event": "smoke_alarm"},
        {"device_types": ["heat_detector"], "metric": "temperature", "comparator": "ge",
         "value": 57}]}, types=["smoke_detector", "heat_detector"])
    cond = parsed.conditions[0]
    assert isinstance(cond, Composite) and cond.group_by == "room"
    assert cond.parts[0].device_types == {"smoke_detector"}
    assert cond.parts[1].device_types == {"heat_detector"}


def test_all_types_scope_accepts_a_metric_some_types_declare() -> None:
    parsed = rule({"kind": "threshold", "metric": "battery", "comparator": "lt", "alarm": 10})
    assert not parsed.scope.device_types
    assert "no_type_has_metric" in problems(doc(
        {"kind": "threshold", "metric": "warp_speed", "comparator": "gt", "alarm": 9},
    ))["conditions[0].metric"]["code"]


def test_the_fingerprint_follows_the_document() -> None:
    first = parse_rule(doc({"kind": "offline"}))
    same = parse_rule(json.loads(json.dumps(doc({"kind": "offline"}))))
    changed = parse_rule(doc({"kind": "offline", "after_s": 60}))
    assert first.fingerprint == same.fingerprint != changed.fingerprint


# ---------------------------------------------------------------------------------------------
# Invalid rules, with field paths in both languages


BAD_THRESHOLD = doc(
    {"kind": "threshold", "metric": "concentration", "comparator": "gt", "warning": 30,
     "alarm": "high"},
    {"kind": "threshold", "metric": "smoke_density", "comparator": "gt", "alarm": 10},
    {"kind": "event", "event": "earthquake"},
    scope={"device_types": ["gas_leak_detector", "teleporter"],
           "place": {"building": "B3", "facility_category": "volcano", "flat": 2}},
)


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(BAD_THRESHOLD)
    assert found["conditions[0].alarm"]["code"] == "rules.bad_value"
    assert found["conditions[1].metric"]["code"] == "rules.unknown_metric"
    assert found["conditions[2].event"]["code"] == "rules.unknown_event"
    assert found["scope.device_types[1]"]["code"] == "rules.unknown_device_type"
    assert found["scope.place.building"]["code"] == "rules.not_integer"
    assert found["scope.place.facility_category"]["code"] == "rules.not_allowed"
    assert found["scope.place.flat"]["code"] == "rules.unknown_field"


def test_problems_read_in_english_and_chinese() -> None:
    english = problems(BAD_THRESHOLD, "en")["conditions[1].metric"]["message"]
    chinese = problems(BAD_THRESHOLD, "zh-CN")["conditions[1].metric"]["message"]
    assert english == ("conditions[1].metric: device type gas_leak_detector declares no metric "
                       "smoke_density")
    assert chinese == "conditions[1].metric：设备类型 gas_leak_detector 没有指标 smoke_density"
    item = problems(BAD_THRESHOLD, "en")["scope.place.building"]
    assert t(item["code"], "zh-CN", field=item["field"], **item["params"]) == \
        "scope.place.building：应为整数，实际为 'B3'"


def test_the_error_is_a_422_validation_failure() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_rule(BAD_THRESHOLD, lang="en")
    error = caught.value
    assert error.status == 422 and error.code == "rules.invalid"
    assert error.params["count"] == len(error.errors) >= 7
    assert error.user_message("en").startswith("Invalid rule (")
    assert error.user_message("zh-CN").startswith("规则无效")


@pytest.mark.parametrize(("condition", "path", "code"), [
    ({"kind": "threshold", "metric": "concentration", "comparator": "gt", "warning": 30,
      "alarm": 10}, "conditions[0].alarm", "tier_order"),
    ({"kind": "threshold", "metric": "concentration", "comparator": "lt", "warning": 10,
      "alarm": 30}, "conditions[0].alarm", "tier_order"),
    ({"kind": "threshold", "metric": "concentration", "comparator": "gt"},
     "conditions[0]", "no_tier"),
    ({"kind": "threshold", "metric": "concentration", "comparator": "gt", "alarm": 150},
     "conditions[0].alarm", "bad_value"),
    ({"kind": "threshold", "metric": "status", "comparator": "gt", "alarm": "high_alarm"},
     "conditions[0].comparator", "not_numeric"),
    ({"kind": "threshold", "metric": "status", "comparator": "in", "alarm": ["boom"]},
     "conditions[0].alarm[0]", "bad_value"),
    ({"kind": "threshold", "metric": "status", "comparator": "eq", "alarm": "high_alarm",
      "hysteresis": 1}, "conditions[0].hysteresis", "not_for_comparator"),
    ({"kind": "threshold", "metric": "concentration", "comparator": "gt", "alarm": 25,
      "for_s": -1}, "conditions[0].for_s", "below_minimum"),
    ({"kind": "duration", "metric": "concentration", "comparator": "gt", "alarm": 25},
     "conditions[0].for_s", "missing"),
    ({"kind": "rate", "metric": "concentration", "comparator": "eq", "alarm": 1},
     "conditions[0].comparator", "not_allowed"),
    ({"kind": "no_data"}, "conditions[0].after_s", "missing"),
    ({"kind": "offline", "metric": "concentration"}, "conditions[0].metric", "unknown_field"),
    ({"kind": "event", "event": "leak_alarm", "where": {"colour": "red"}},
     "conditions[0].where.colour", "unknown_event_field"),
    ({"kind": "event", "event": "leak_alarm", "where": {"level": {"gt": 1, "lt": 3}}},
     "conditions[0].where.level", "one_of"),
    ({"kind": "event", "event": "leak_alarm", "clear_event": "all_good"},
     "conditions[0].clear_event", "unknown_event"),
    ({"kind": "count", "event": "leak_alarm", "events": ["leak_alarm"], "window_s": 60,
      "alarm": 2}, "conditions[0]", "one_of"),
    ({"kind": "count", "event": "leak_alarm", "window_s": 0, "alarm": 2},
     "conditions[0].window_s", "not_positive"),
    ({"kind": "count", "event": "leak_alarm", "window_s": 60, "warning": 5, "alarm": 2},
     "conditions[0].alarm", "tier_order"),
    ({"kind": "count", "event": "leak_alarm", "window_s": 60, "alarm": 2,
      "group_by": "galaxy"}, "conditions[0].group_by", "not_allowed"),
    ({"kind": "teleport"}, "conditions[0].kind", "not_allowed"),
])
def test_condition_problems(condition: dict[str, Any], path: str, code: str) -> None:
    found = problems(doc(condition, scope={"device_types": ["gas_leak_detector"]}))
    assert path in found, found
    assert found[path]["code"] == f"rules.{code}"


@pytest.mark.parametrize(("composite", "path", "code"), [
    ({"kind": "composite", "within_s": 60, "all": [{"event": "smoke_alarm"}]},
     "conditions[0].all", "too_few_parts"),
    ({"kind": "composite", "within_s": 60, "all": [
        {"event": "smoke_alarm"}, {"device_types": ["gas_leak_detector"], "event": "leak_alarm"}]},
     "conditions[0].all[1].device_types[0]", "outside_scope"),
    ({"kind": "composite", "within_s": 60, "all": [
        {"event": "smoke_alarm", "metric": "temperature"}, {"event": "heat_alarm"}]},
     "conditions[0].all[0]", "one_of"),
    ({"kind": "composite", "within_s": 60, "group_by": "device", "all": [
        {"event": "smoke_alarm"}, {"event": "heat_alarm"}]},
     "conditions[0].group_by", "not_allowed"),
    ({"kind": "composite", "within_s": 60, "all": [
        {"device_types": ["heat_detector"], "metric": "temperature", "comparator": "ge"},
        {"event": "smoke_alarm"}]},
     "conditions[0].all[0].value", "missing"),
])
def test_composite_problems(composite: dict[str, Any], path: str, code: str) -> None:
    found = problems(doc(composite, scope={"device_types": ["smoke_detector", "heat_detector"]}))
    assert found[path]["code"] == f"rules.{code}"


@pytest.mark.parametrize(("extra", "path", "code"), [
    ({"id": "Fire-Rule"}, "id", "bad_key"),
    ({"version": 0}, "version", "below_minimum"),
    ({"name": {"zh": "规则"}}, "name.en", "missing"),
    ({"severity": "apocalyptic"}, "severity", "not_allowed"),
    ({"match": "most"}, "match", "not_allowed"),
    ({"conditions": []}, "conditions", "empty"),
    ({"colour": "red"}, "colour", "unknown_field"),
    ({"scope": {"place": {}}}, "scope.place", "empty"),
    ({"scope": {"place": {"floor": -4}}}, "scope.place.floor", "below_minimum"),
    ({"schedule": {"windows": [{"from": "25:00", "to": "06:00"}]}},
     "schedule.windows[0].from", "bad_time"),
    ({"schedule": {"windows": [{"from": "08:00", "to": "08:00"}]}},
     "schedule.windows[0]", "empty_window"),
    ({"schedule": {"timezone": "Mars/Olympus", "windows": [{"from": "08:00", "to": "09:00"}]}},
     "schedule.timezone", "bad_timezone"),
    ({"schedule": {"windows": [{"days": ["funday"], "from": "08:00", "to": "09:00"}]}},
     "schedule.windows[0].days[0]", "not_allowed"),
    ({"dedup": {"key": "{rule}:{colour}"}}, "dedup.key", "bad_placeholder"),
    ({"dedup": {"key": "{rule"}}, "dedup.key", "bad_template"),
    ({"dedup": {"cooldown_s": -5}}, "dedup.cooldown_s", "below_minimum"),
    ({"linkage": "summon_dragons"}, "linkage", "unknown_linkage"),
])
def test_rule_problems(extra: dict[str, Any], path: str, code: str) -> None:
    document = doc({"kind": "offline"}, **extra)
    found = problems(document, linkages=["fire"])
    assert found[path]["code"] == f"rules.{code}"


def test_match_all_needs_one_subject() -> None:
    found = problems(doc(
        {"kind": "threshold", "metric": "smoke_density", "comparator": "ge", "alarm": 10},
        {"kind": "count", "event": "smoke_alarm", "window_s": 60, "alarm": 2,
         "group_by": "floor"},
        match="all", scope={"device_types": ["smoke_detector"]}))
    assert found["match"]["code"] == "rules.group_mismatch"


def test_a_non_mapping_document_is_refused() -> None:
    assert problems(["not", "a", "rule"])["(top)"]["code"] == "rules.not_mapping"


# ---------------------------------------------------------------------------------------------
# Rule sets and files


def test_parse_rules_reports_list_paths_and_duplicate_ids() -> None:
    good = doc({"kind": "offline"})
    bad = doc({"kind": "offline", "after_s": "soon"})
    with pytest.raises(RulesInvalid) as caught:
        parse_rules([good, bad, good], lang="en")
    fields = {item["field"]: item["code"] for item in caught.value.errors}
    assert fields == {"[1].conditions[0].after_s": "rules.not_number",
                      "[2].id": "rules.duplicate_rule"}


def test_files_name_themselves_in_errors(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("id: ok\nversion: 1\nname: {zh: 好, en: Ok}\n"
                                      "conditions: [{kind: offline}]\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    (tmp_path / "many.json").write_text(json.dumps([
        doc({"kind": "offline"}, id="a"),
        doc({"kind": "event", "event": "nope"}, id="b",
            scope={"device_types": ["camera"]})]), encoding="utf-8")
    with pytest.raises(RulesInvalid) as caught:
        load_rules([tmp_path], lang="en")
    found = {(item["file"], item["field"]): item for item in caught.value.errors}
    assert found[("broken.yaml", "(top)")]["code"] == "rules.syntax"
    bad_event = found[("many.json", "[1].conditions[0].event")]
    assert bad_event["message"].startswith("many.json: [1].conditions[0].event: device type "
                                           "camera declares no event nope")
    (tmp_path / "broken.yaml").unlink()
    (tmp_path / "many.json").unlink()
    assert [r.id for r in load_rules([tmp_path])] == ["ok"]


def test_a_missing_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RulesInvalid) as caught:
        load_rules([tmp_path / "nowhere"], lang="en")
    assert caught.value.errors[0]["code"] == "rules.no_file"


# ---------------------------------------------------------------------------------------------
# Schedules


def shanghai(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of a Shanghai time in the week of Monday 2024-05-06 (day 0)."""
    return datetime(2024, 5, 6 + day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@pytest.mark.parametrize(("day", "hour", "minute", "expected"), [
    (4, 21, 59, False),   # Friday evening, before the window
    (4, 22, 0, True),     # Friday 22:00 opens
    (5, 5, 59, True),     # Saturday early morning belongs to Friday's window
    (5, 6, 0, False),     # the end is exclusive
    (5, 23, 0, False),    # Saturday night is not a listed day
    (0, 3, 0, False),     # Monday early morning: Sunday not listed
    (1, 3, 0, True),      # Tuesday early morning: Monday's window
])
def test_a_window_across_midnight(day: int, hour: int, minute: int, expected: bool) -> None:
    schedule = Schedule("Asia/Shanghai", (Window(frozenset({0, 1, 2, 3, 4}), 22 * 60, 6 * 60),))
    assert schedule.is_open(shanghai(day, hour, minute)) is expected


def test_a_window_to_midnight() -> None:
    parsed = parse_rule(doc({"kind": "offline"}, schedule={
        "windows": [{"days": ["sat", "sun"], "from": "08:00", "to": "24:00"}]}))
    assert parsed.schedule is not None
    assert parsed.schedule.is_open(shanghai(5, 23, 59))
    assert not parsed.schedule.is_open(shanghai(4, 23, 59))
