"""Linkage templates: loading and checking, and target resolution for every built-in one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shequ.rules.definitions import builtin_rules
from shequ.rules.linkage import (
    Action,
    CameraPopup,
    DeviceCommand,
    Hook,
    Locate,
    Notify,
    OpenCase,
    builtin_templates,
    load_templates,
    parse_template,
    plan_actions,
)
from shequ.rules.outcomes import Raise
from shequ.rules.places import DeviceContext, DeviceRef, MemoryPlaceIndex, Place
from shequ.rules.schema import RulesInvalid
from tests.rules.helpers import at

LON, LAT = 121.4737, 31.2304  # building 1
METRE = 1 / 111_000  # degrees of latitude per metre, roughly


def near(metres_north: float) -> dict[str, float]:
    """Coordinates some metres north of building 1."""
    return {"lon": LON, "lat": LAT + metres_north * METRE}


def ref(device: str, device_type: str, *tags: str, **place: Any) -> DeviceRef:
    """A device of community c1."""
    return DeviceRef(device, device_type, "c1", Place(**place), frozenset(tags))


FLAT = {"building": 1, "unit": 1, "floor": 10, "room": 101}
DEVICES = [
    ref("SPK-B1-1", "pa_speaker", building=1, floor=1),
    ref("SPK-B1-2", "pa_speaker", building=1, floor=20),
    ref("SPK-B2", "pa_speaker", building=2),
    ref("SPK-LIFT", "pa_speaker", "lift", building=1, unit=1),
    ref("SPK-PARK", "pa_speaker", facility=7, **near(120)),
    ref("SCR-B1", "info_screen", building=1),
    ref("SCR-GATE", "info_screen"),
    ref("DOOR-EXIT", "access_controller", "evacuation", building=1),
    ref("DOOR-MAIN", "access_controller", building=1),
    ref("LAMP-E", "streetlight_controller", "evacuation"),
    ref("LAMP-X", "streetlight_controller"),
    ref("SL-MONITOR", "sound_light_alarm", "monitoring_room", building=9),
    ref("SL-F10", "sound_light_alarm", building=1, floor=10),
    ref("SL-NORTH", "sound_light_alarm", zone="north", **near(400)),
    ref("CAM-F10", "camera", building=1, floor=10, **near(5)),
    ref("CAM-F11", "camera", building=1, floor=11, **near(8)),
    ref("CAM-GATE", "camera", **near(60)),
    ref("CAM-FAR", "camera", **near(900)),
    ref("CAM-LIFT", "camera", "lift", building=1, unit=1),
    ref("CAM-NORTH", "camera", zone="north", **near(405)),
    ref("VALVE-101", "gas_shutoff_valve", building=1, floor=10, room=101),
]
INDEX = MemoryPlaceIndex(DEVICES, labels={("building", 1): "1号楼"})


def alarm(rule_id: str, device: DeviceContext, level: str = "alarm",
          previous: str | None = None, **values: Any) -> Raise:
    """A raise of a built-in rule by a device."""
    found = builtin_rules().get(rule_id)
    assert found is not None
    return Raise(rule_id=rule_id, rule=found, level=level, key=f"{rule_id}:{device.key}",
                 device=device.device, device_type=device.device_type,
                 community=device.community, place=device.place, ts=at(0), values=values,
                 escalated=previous is not None, previous_level=previous)


def device(code: str, device_type: str, **place: Any) -> DeviceContext:
    """A device context of community c1."""
    return DeviceContext(code, device_type, "c1", Place(**place))


def plan(template: str, raised: Raise, index: MemoryPlaceIndex = INDEX) -> list[Action]:
    """The actions of a built-in template for an alarm."""
    return plan_actions(builtin_templates()[template], raised, index)


def commands(actions: list[Action], command: str) -> dict[str, dict[str, Any]]:
    """The device commands of one command key, by device."""
    return {a.device: a.params for a in actions
            if isinstance(a, DeviceCommand) and a.command == command}


def only(actions: list[Action], cls: type[Action]) -> Any:
    """The single action of a class."""
    found = [a for a in actions if isinstance(a, cls)]
    assert len(found) == 1, found
    return found[0]


SMOKE = device("SMK-101", "smoke_detector", **FLAT, **near(0))


# ---------------------------------------------------------------------------------------------
# Built-in templates, one scenario each


def test_every_builtin_template_is_planned_below() -> None:
    planned = {"fire", "perimeter_intrusion", "gas_leak", "drainage_flooding", "bin_full",
               "ebike_in_lift", "high_altitude_throwing", "elderly_no_activity",
               "lift_trapped", "video_ai", "device_fault", "facility_anomaly"}
    assert set(builtin_templates()) == planned


def test_fire_evacuates_the_building_and_shows_the_nearest_cameras() -> None:
    actions = plan("fire", alarm("smoke_alarm", SMOKE))
    speech = commands(actions, "play")
    assert set(speech) == {"SPK-B1-1", "SPK-B1-2", "SPK-LIFT"}
    params = speech["SPK-B1-1"]
    assert params["priority"] == "emergency" and params["source_kind"] == "tts"
    assert params["source"].startswith("1号楼 / 1单元 / 楼层10 / 房间101发生火警")
    assert actions[0].kind == "broadcast"  # top priority first
    assert set(commands(actions, "show_message")) == {"SCR-B1"}
    assert set(commands(actions, "unlock")) == {"DOOR-EXIT"}
    assert set(commands(actions, "switch_on")) == {"LAMP-E"}
    assert set(commands(actions, "activate")) == {"SL-MONITOR"}
    popup = only(actions, CameraPopup)
    assert popup.cameras == ("CAM-F10", "CAM-F11", "CAM-GATE")
    assert popup.roles == ("security_operator",)
    case = only(actions, OpenCase)
    assert (case.case_type, case.category, case.priority) == ("alarm_order", "fire", "urgent")
    assert case.description == {
        "zh-CN": "烟感报警：1号楼 / 1单元 / 楼层10 / 房间101，设备 SMK-101",
        "en": "Smoke alarm: 1号楼 / unit 1 / floor 10 / room 101, device SMK-101"}
    notice = [a for a in actions if isinstance(a, Notify)]
    assert [n.channels for n in notice] == [("inapp", "sms")]
    assert only(actions, Locate).place == {**FLAT, **near(0)}


def test_fire_pre_warning_only_locates_and_asks_to_verify() -> None:
    actions = plan("fire", alarm("smoke_alarm", SMOKE, level="warning"))
    assert [a.kind for a in actions] == ["locate", "notify"]
    assert only(actions, Notify).text["zh-CN"].startswith("火灾预警")


def test_escalation_runs_only_what_the_warning_did_not() -> None:
    actions = plan("fire", alarm("smoke_alarm", SMOKE, previous="warning"))
    assert "locate" not in [a.kind for a in actions]
    assert commands(actions, "play")


def test_without_coordinates_cameras_fall_back_to_the_floor() -> None:
    indoors = device("SMK-102", "smoke_detector", **FLAT)
    popup = only(plan("fire", alarm("smoke_alarm", indoors)), CameraPopup)
    assert popup.cameras == ("CAM-F10",)


def test_perimeter_intrusion_sounds_and_shows_the_spot() -> None:
    fence = device("FENCE-N", "intrusion_detector", zone="north", **near(402))
    actions = plan("perimeter_intrusion", alarm("intrusion_count", fence))
    assert only(actions, CameraPopup).cameras == ("CAM-NORTH",)  # CAM-FAR is 500 m away
    assert set(commands(actions, "capture")) == {"CAM-NORTH"}
    assert commands(actions, "activate") == {"SL-NORTH": {"mode": "sound_light",
                                                          "duration_s": 120}}
    case = only(actions, OpenCase)
    assert (case.case_type, case.category) == ("alarm_order", "intrusion")


def test_perimeter_pre_warning_shows_video_without_sirens() -> None:
    fence = device("FENCE-N", "intrusion_detector", zone="north")
    actions = plan("perimeter_intrusion", alarm("intrusion_count", fence, level="warning"))
    assert [a.kind for a in actions] == ["locate", "camera_popup", "command"]
    assert only(actions, CameraPopup).cameras == ("CAM-NORTH",)


def test_gas_leak_shuts_the_flats_valve() -> None:
    detector = device("GAS-101", "gas_leak_detector", **FLAT)
    actions = plan("gas_leak", alarm("gas_concentration", detector))
    assert commands(actions, "close") == {"VALVE-101": {"reason": "leak_linkage"}}
    assert set(commands(actions, "activate")) == {"SL-F10"}
    assert commands(actions, "play")["SPK-B1-1"]["category"] == "accident"
    assert only(actions, OpenCase).case_type == "emergency"
    assert [a.kind for a in actions][:2] == ["shut_gas_valve", "broadcast"]


def test_drainage_flooding_warns_nearby() -> None:
    well = device("DW-1", "drainage_level_sensor", facility=7, facility_category="drainage",
                  **near(100))
    actions = plan("drainage_flooding", alarm("drainage_level", well))
    assert set(commands(actions, "play")) == {"SPK-PARK"}  # the only speaker with coordinates
    assert set(commands(actions, "show_message")) == {"SCR-B1", "SCR-GATE"}
    assert only(actions, CameraPopup).cameras == ("CAM-GATE", "CAM-F11")
    assert only(actions, OpenCase).category == "drainage"


def test_bin_full_notifies_then_dispatches() -> None:
    bin_sensor = device("BIN-1", "waste_bin_sensor", **near(30))
    assert [a.kind for a in plan("bin_full", alarm("bin_fill", bin_sensor, "warning"))] == [
        "notify"]
    case = only(plan("bin_full", alarm("bin_fill", bin_sensor)), OpenCase)
    assert (case.case_type, case.category) == ("hazard_environment", "garbage")


def test_ebike_in_lift_warns_in_the_lift_lobby() -> None:
    lift_camera = device("CAM-LIFT", "camera", building=1, unit=1)
    actions = plan("ebike_in_lift", alarm("camera_ebike_in_lift", lift_camera))
    assert set(commands(actions, "play")) == {"SPK-LIFT"}
    assert commands(actions, "play")["SPK-LIFT"]["priority"] == "high"
    assert only(actions, CameraPopup).cameras == ("CAM-LIFT",)
    assert only(actions, OpenCase).case_type == "hazard_fire"


def test_high_altitude_throwing_captures_and_opens_a_case() -> None:
    facade = device("CAM-F11", "camera", building=1, floor=11)
    actions = plan("high_altitude_throwing", alarm("camera_high_altitude_throwing", facade))
    assert set(commands(actions, "capture")) == {"CAM-F11"}
    assert only(actions, CameraPopup).cameras == ("CAM-F11",)
    assert only(actions, OpenCase).case_type == "hazard_throwing"


def test_elderly_no_activity_calls_the_hook() -> None:
    sensor = device("ACT-1", "smoke_detector", **FLAT)  # any device may report it
    raised = alarm("smoke_alarm", sensor, level="warning")
    actions = plan("elderly_no_activity", raised)
    hook = only(actions, Hook)
    assert hook.name == "elderly_no_activity" and hook.params == {"visit": True}
    assert only(actions, Notify).roles == ("community_committee",)


@pytest.mark.parametrize(("template", "rule_id", "case_type"), [
    ("lift_trapped", "lift_trapped", "emergency"),
    ("video_ai", "camera_fall", "alarm_order"),
    ("device_fault", "device_offline", "device_fault"),
    ("facility_anomaly", "water_pressure_low", "hazard_facility"),
])
def test_other_templates_open_their_cases(template: str, rule_id: str, case_type: str) -> None:
    thing = device("DEV-1", "lift_monitor" if template == "lift_trapped" else "camera",
                   building=1, unit=1, floor=10)
    actions = plan(template, alarm(rule_id, thing))
    assert only(actions, OpenCase).case_type == case_type
    assert only(actions, Notify).text["en"]


def test_lift_trapped_shows_the_lift_camera() -> None:
    monitor = device("LIFT-1", "lift_monitor", building=1, unit=1)
    assert only(plan("lift_trapped", alarm("lift_trapped", monitor)), CameraPopup).cameras == (
        "CAM-LIFT",)


def test_texts_render_in_both_languages() -> None:
    notice = only(plan("video_ai", alarm("camera_fall", device("CAM-F10", "camera",
                                                               building=1, floor=10))), Notify)
    assert notice.text == {"zh-CN": "人员倒地：1号楼 / 楼层10（CAM-F10），2024-05-06 16:00:00",
                           "en": "Person fall at 1号楼 / floor 10 (CAM-F10), 2024-05-06 16:00:00"}


def test_device_texts_are_cut_to_the_parameter_limit() -> None:
    long_place = MemoryPlaceIndex(DEVICES, labels={("building", 1): "楼" * 3000})
    speech = commands(plan("fire", alarm("smoke_alarm", SMOKE), long_place), "play")
    assert len(speech["SPK-B1-1"]["source"]) == 1024


def test_zones_target_named_zones() -> None:
    template = parse_template({"id": "zoned", "name": {"zh": "分区", "en": "Zoned"}, "actions": [
        {"kind": "sound_light", "target": {"zones": ["north"]}}]})
    actions = plan_actions(template, alarm("smoke_alarm", SMOKE), INDEX)
    assert set(commands(actions, "activate")) == {"SL-NORTH"}


# ---------------------------------------------------------------------------------------------
# Checking templates


def template_problems(actions: list[dict[str, Any]], lang: str = "en") -> dict[str, str]:
    """The problems of a template with these actions, code by path."""
    with pytest.raises(RulesInvalid) as caught:
        parse_template({"id": "t", "name": {"zh": "模板", "en": "T"}, "actions": actions},
                       lang=lang)
    assert caught.value.code == "rules.linkage.invalid"
    return {item["field"]: item["code"] for item in caught.value.errors}


@pytest.mark.parametrize(("action", "path", "code"), [
    ({"kind": "command", "device_type": "camera", "command": "self_destruct"},
     "actions[0].command", "unknown_command"),
    ({"kind": "command", "device_type": "toaster", "command": "toast"},
     "actions[0].device_type", "unknown_device_type"),
    ({"kind": "command", "device_type": "camera", "command": "goto_preset"},
     "actions[0].params.preset", "bad_param"),
    ({"kind": "command", "device_type": "camera", "command": "goto_preset",
      "params": {"preset": 999}}, "actions[0].params.preset", "bad_param"),
    ({"kind": "sound_light", "params": {"volume": 11}}, "actions[0].params.volume", "bad_param"),
    ({"kind": "broadcast"}, "actions[0].text", "no_text"),
    ({"kind": "broadcast", "text": {"zh": "{nowhere}", "en": "x"}},
     "actions[0].text.zh", "bad_placeholder"),
    ({"kind": "open_case", "case_type": "alien_abduction", "text": {"zh": "x", "en": "x"}},
     "actions[0].case_type", "unknown_case_type"),
    ({"kind": "open_case", "case_type": "alarm_order", "category": "ufo",
      "text": {"zh": "x", "en": "x"}}, "actions[0].category", "unknown_category"),
    ({"kind": "notify", "roles": ["wizard"], "text": {"zh": "x", "en": "x"}},
     "actions[0].roles[0]", "unknown_role"),
    ({"kind": "notify", "roles": ["resident"], "channels": ["pigeon"],
      "text": {"zh": "x", "en": "x"}}, "actions[0].channels[0]", "not_allowed"),
    ({"kind": "notify", "text": {"zh": "x", "en": "x"}}, "actions[0].roles", "missing"),
    ({"kind": "camera_popup", "target": {"at": "galaxy"}}, "actions[0].target.at",
     "not_allowed"),
    ({"kind": "unlock_doors", "target": {"tags": ["evacuation"]}}, "actions[0].target",
     "no_target"),
    ({"kind": "broadcast", "levels": ["panic"], "text": {"zh": "x", "en": "x"}},
     "actions[0].levels[0]", "not_allowed"),
    ({"kind": "teleport"}, "actions[0].kind", "not_allowed"),
])
def test_template_problems(action: dict[str, Any], path: str, code: str) -> None:
    found = template_problems([action])
    assert found.get(path) == f"rules.{code}", found


def test_parameter_problems_read_in_both_languages() -> None:
    bad = [{"kind": "command", "device_type": "camera", "command": "goto_preset",
            "params": {"preset": 999}}]
    for lang, expected in (("en", "outside [1, 255]"), ("zh-CN", "超出范围 [1, 255]")):
        with pytest.raises(RulesInvalid) as caught:
            parse_template({"id": "t", "name": {"zh": "模板", "en": "T"}, "actions": bad},
                           lang=lang)
        assert expected in caught.value.errors[0]["message"]


def test_template_files_name_file_and_path(tmp_path: Path) -> None:
    good = {"id": "ok", "name": {"zh": "好", "en": "Ok"},
            "actions": [{"kind": "locate"}]}
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(good), encoding="utf-8")
    (tmp_path / "renamed.yaml").write_text(yaml.safe_dump(good), encoding="utf-8")
    bad = {"id": "bad", "name": {"zh": "坏", "en": "Bad"}, "actions": [
        {"kind": "open_case", "case_type": "alarm_order", "category": "ufo",
         "text": {"zh": "x", "en": "x"}}]}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(RulesInvalid) as caught:
        load_templates([tmp_path], lang="en")
    found = {(item["file"], item["field"]): item["message"] for item in caught.value.errors}
    assert found[("bad.yaml", "actions[0].category")] == (
        "bad.yaml: actions[0].category: case type alarm_order has no category ufo")
    assert ("renamed.yaml", "id") in found
    (tmp_path / "bad.yaml").unlink()
    (tmp_path / "renamed.yaml").unlink()
    assert list(load_templates([tmp_path])) == ["ok"]
