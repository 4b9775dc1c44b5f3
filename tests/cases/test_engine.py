"""Engine rules: transitions, roles, step fields, closed cases, reports, ratings, statistics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shequ.cases.definitions import (
    CASE_TYPES_DIR,
    Actor,
    CaseClosed,
    CaseType,
    FieldsInvalid,
    IllegalTransition,
    RatingForbidden,
    RatingNotOpen,
    ReportForbidden,
    TransitionForbidden,
    UnknownState,
    allowed_transitions,
    builtin_case_types,
    case_durations,
    check_editable,
    check_rating,
    check_report,
    check_transition,
    load_case_types,
    mean_duration,
    pick_round_robin,
    statistics,
    step_fields,
    validate_fields,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def types() -> Mapping[str, CaseType]:
    return builtin_case_types()


def _actor(*roles: str, reporter: bool = False, assignee: bool = False, uid: int = 7) -> Actor:
    return Actor(uid, frozenset(roles), is_reporter=reporter, is_assignee=assignee)


def _fields(exc: FieldsInvalid) -> dict[str, str]:
    return {e["field"]: e["code"] for e in exc.errors}


# Transitions and roles ------------------------------------------------------------------------


def test_allowed_transitions_depend_on_roles_and_relation(types: Mapping[str, CaseType]) -> None:
    complaint = types["complaint"]

    def keys(*roles: str, reporter: bool = False, assignee: bool = False) -> list[str]:
        found = allowed_transitions(complaint, "submitted", roles, reporter, assignee)
        return [tr.key for tr in found]

    assert keys("resident", reporter=True) == ["withdraw"]
    assert keys("resident") == []
    assert keys("property_manager") == ["accept"]
    assert keys("community_committee", "resident", reporter=True) == ["accept", "withdraw"]
    accepted = allowed_transitions(complaint, "accepted", ["property_manager"], False, True)
    assert [tr.key for tr in accepted] == ["transfer", "reply"]


def test_illegal_transition_lists_the_allowed_ones(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(types["complaint"], "submitted", "reply",
                         _actor("resident", reporter=True))
    err = info.value
    assert err.status == 409
    assert err.code == "cases.illegal_transition"
    assert err.extra["allowed"] == ["withdraw"]
    assert err.extra["available"] == ["accept", "withdraw"]
    assert err.user_message("en") == (
        '"Reply" is not possible while the case is Submitted; possible now: Withdraw')
    assert err.user_message("zh-CN") == "案件当前为“已提交”，不能执行“答复”；当前可执行：撤回"


def test_unknown_transition_key_is_illegal_too(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(types["device_fault"], "reported", "teleport",
                         _actor("property_manager"))
    assert info.value.extra["allowed"] == ["assign", "cancel"]
    assert info.value.extra["transition"] == "teleport"


def test_wrong_role_is_forbidden_with_the_reason(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(TransitionForbidden) as info:
        check_transition(types["complaint"], "submitted", "accept", _actor("resident"))
    err = info.value
    assert err.status == 403
    assert err.extra["required_roles"] == ["property_manager", "community_committee"]
    assert err.user_message("en") == (
        '"Accept" may only be done by Property manager, Community committee staff')


def test_reporter_pseudo_role(types: Mapping[str, CaseType]) -> None:
    complaint = types["complaint"]
    with pytest.raises(TransitionForbidden) as info:
        check_transition(complaint, "submitted", "withdraw", _actor("resident"))
    assert "the reporter" in info.value.user_message("en")
    with pytest.raises(TransitionForbidden):
        check_transition(complaint, "submitted", "withdraw", _actor("platform_admin"))
    plan = check_transition(complaint, "submitted", "withdraw",
                            _actor("resident", reporter=True))
    assert plan.to_state == "withdrawn"
    assert plan.closes and not plan.accepted


def test_assignee_pseudo_role(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    data = {"repair_note": "换了电源模块", "cause": "wear"}
    with pytest.raises(TransitionForbidden):
        check_transition(fault, "repairing", "finish", _actor("maintenance_worker"), data)
    plan = check_transition(fault, "repairing", "finish",
                            _actor("maintenance_worker", assignee=True), data)
    assert plan.to_state == "repaired"
    assert plan.records == frozenset({"time_spent", "materials", "photos"})


def test_pseudo_roles_in_the_role_list_grant_nothing(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(TransitionForbidden):
        check_transition(types["device_fault"], "assigned", "start", _actor("assignee"))


def test_closed_cases_cannot_change(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    admin = _actor("platform_admin", "property_manager", reporter=True, assignee=True)
    for state in ("closed", "cancelled"):
        with pytest.raises(CaseClosed) as info:
            check_transition(fault, state, "assign", admin, {"assignee": 3})
        assert info.value.status == 409
        assert info.value.extra == {"state": state}
        with pytest.raises(CaseClosed):
            check_editable(fault, state)
        assert allowed_transitions(fault, state, admin.roles, True, True) == []
    check_editable(fault, "repairing")


def test_unknown_state_is_a_conflict(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(UnknownState):
        check_transition(types["device_fault"], "vanished", "assign", _actor("platform_admin"))


# Step fields ------------------------------------------------------------------------------------


def test_required_fields_per_transition(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    worker = _actor("maintenance_worker", assignee=True)
    with pytest.raises(FieldsInvalid) as info:
        check_transition(fault, "repairing", "finish", worker, {})
    err = info.value
    assert err.status == 422 and err.code == "cases.step_invalid"
    assert _fields(err) == {"repair_note": "cases.field.required",
                            "cause": "cases.field.required"}
    assert err.user_message("en") == 'Some fields of "Finish repair" are missing or invalid'
    with pytest.raises(FieldsInvalid) as info:
        check_transition(fault, "repaired", "rework", _actor("property_manager"), {})
    assert _fields(info.value) == {"check_note": "cases.field.required"}
    plan = check_transition(fault, "repaired", "approve", _actor("property_manager"), {})
    assert plan.to_state == "closed" and plan.closes


def test_step_values_are_checked_and_cleaned(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    worker = _actor("maintenance_worker", assignee=True)
    with pytest.raises(FieldsInvalid) as info:
        check_transition(fault, "repairing", "finish", worker, {
            "repair_note": "ok", "cause": "gremlins", "time_spent": -5,
            "materials": [{"name": "保险丝", "quantity": 0}], "signature": "x",
            "photos": ["a.jpg"] * 10})
    assert _fields(info.value) == {
        "cause": "cases.field.enum", "time_spent": "cases.field.min",
        "materials[0].quantity": "cases.field.material", "signature": "cases.field.unknown",
        "photos": "cases.field.max_items"}
    plan = check_transition(fault, "repairing", "finish", worker, {
        "repair_note": "  换了电源模块 ", "cause": "wear", "time_spent": 45,
        "materials": [{"name": "电源模块", "quantity": 1, "unit": "个", "unit_price": 80}],
        "photos": ["files/1.jpg"], "note": "已测试"})
    assert plan.data["repair_note"] == "换了电源模块"
    assert plan.data["materials"] == [{"name": "电源模块", "quantity": 1, "unit": "个",
                                       "unit_price": "80.00"}]
    assert plan.data["time_spent"] == 45


def test_step_fields_lists_what_a_step_accepts(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    finish = step_fields(fault, fault.transition_map["finish"])
    assert list(finish) == ["note", "repair_note", "cause", "materials", "photos", "time_spent"]
    assign = step_fields(fault, fault.transition_map["assign"])
    assert list(assign) == ["note", "assignee"]


# Assignment -------------------------------------------------------------------------------------


def test_assign_mode_needs_an_assignee(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    manager = _actor("property_manager")
    with pytest.raises(FieldsInvalid) as info:
        check_transition(fault, "reported", "assign", manager, {})
    assert _fields(info.value) == {"assignee": "cases.field.required"}
    plan = check_transition(fault, "reported", "assign", manager, {"assignee": 42})
    assert plan.assignment is not None
    assert (plan.assignment.mode, plan.assignment.assignee_id) == ("assign", 42)
    assert plan.assignment.team_roles == ("maintenance_worker",)
    assert plan.accepted and not plan.closes


def test_grab_mode_assigns_the_actor(types: Mapping[str, CaseType]) -> None:
    order = types["housekeeping_order"]
    provider = _actor("service_provider", uid=99)
    plan = check_transition(order, "placed", "accept", provider)
    assert plan.assignment is not None
    assert (plan.assignment.mode, plan.assignment.assignee_id) == ("grab", 99)
    with pytest.raises(FieldsInvalid) as info:
        check_transition(order, "placed", "accept", provider, {"assignee": 5})
    assert _fields(info.value) == {"assignee": "cases.field.unknown"}


def test_round_robin_mode_leaves_the_pick_to_the_service(tmp_path: Path) -> None:
    doc = yaml.safe_load((CASE_TYPES_DIR / "device_fault.yaml").read_text("utf-8"))
    doc.update(id="lift_fault", zh="电梯故障", en="Lift fault")
    doc["dispatch"]["mode"] = "round_robin"
    (tmp_path / "lift_fault.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    lift = load_case_types([tmp_path])["lift_fault"]
    manager = _actor("property_manager")
    plan = check_transition(lift, "reported", "assign", manager, {})
    assert plan.assignment is not None
    assert (plan.assignment.mode, plan.assignment.assignee_id) == ("round_robin", None)
    override = check_transition(lift, "reported", "assign", manager, {"assignee": 8})
    assert override.assignment is not None and override.assignment.assignee_id == 8


def test_pick_round_robin() -> None:
    assert pick_round_robin([5, 3, 9], None) == 3
    assert pick_round_robin([5, 3, 9], 3) == 5
    assert pick_round_robin([5, 3, 9], 9) == 3
    assert pick_round_robin([5, 3, 9], 4) == 5
    assert pick_round_robin([], 4) is None


def test_stay_transition_keeps_the_state(types: Mapping[str, CaseType]) -> None:
    emergency = types["emergency"]
    plan = check_transition(emergency, "responding", "progress",
                            _actor("street_officer"), {"progress_note": "疏散完毕",
                                                       "casualties": 0, "photos": ["p.jpg"]})
    assert plan.from_state == plan.to_state == "responding"
    assert plan.data == {"progress_note": "疏散完毕", "casualties": 0, "photos": ["p.jpg"]}
    regrade = check_transition(emergency, "confirmed", "regrade", _actor("community_committee"),
                               {"grade": "II"})
    assert regrade.to_state == "confirmed" and regrade.data["grade"] == "II"


# Payment ----------------------------------------------------------------------------------------


def test_payment_step_and_free_orders(types: Mapping[str, CaseType]) -> None:
    order = types["housekeeping_order"]
    provider = _actor("service_provider", assignee=True)
    paid = check_transition(order, "in_service", "finish", provider,
                            {"amount": 120.5, "service_note": "完成"})
    assert paid.to_state == "awaiting_payment" and paid.awaits_payment
    assert paid.data["amount"] == "120.50"
    assert not paid.closes
    free = check_transition(order, "in_service", "finish", provider,
                            {"amount": "0", "service_note": "保修期内免费"})
    assert free.to_state == "completed" and not free.awaits_payment
    assert free.closes and free.opens_rating
    with pytest.raises(FieldsInvalid) as info:
        check_transition(order, "in_service", "finish", provider,
                         {"amount": "12.345", "service_note": "x"})
    assert _fields(info.value) == {"amount": "cases.field.money_precision"}
    with pytest.raises(TransitionForbidden):
        check_transition(order, "awaiting_payment", "pay", provider, {"payment_method": "cash"})
    done = check_transition(order, "awaiting_payment", "pay",
                            _actor("resident", reporter=True), {"payment_method": "wechat"})
    assert done.to_state == "completed" and done.opens_rating


# Report-time fields -----------------------------------------------------------------------------


def test_validate_fields_fills_defaults_and_requires(types: Mapping[str, CaseType]) -> None:
    complaint = types["complaint"]
    cleaned = validate_fields(complaint, {"subject": "楼下噪音", "description": "每晚施工"})
    assert cleaned == {"kind": "complaint", "subject": "楼下噪音", "description": "每晚施工",
                       "anonymous": False}
    with pytest.raises(FieldsInvalid) as info:
        validate_fields(complaint, {"subject": "", "reply": "不应在上报时填写"})
    assert _fields(info.value) == {"subject": "cases.field.required",
                                   "description": "cases.field.required",
                                   "reply": "cases.field.unknown"}
    assert info.value.code == "cases.fields_invalid"


def test_validate_fields_partial_for_edits(types: Mapping[str, CaseType]) -> None:
    complaint = types["complaint"]
    assert validate_fields(complaint, {"subject": "新标题"}, partial=True) == {"subject": "新标题"}
    assert validate_fields(complaint, {"place": None}, partial=True) == {"place": None}
    with pytest.raises(FieldsInvalid) as info:
        validate_fields(complaint, {"subject": None}, partial=True)
    assert _fields(info.value) == {"subject": "cases.field.required"}


BAD_VALUES: list[tuple[str, str, Any, str]] = [
    ("repair_request", "contact_phone", "12345", "cases.field.pattern"),
    ("repair_request", "contact_phone", 13800138000, "cases.field.type"),
    ("repair_request", "slot_start", "2025-03-01T09:00:00", "cases.field.naive_datetime"),
    ("repair_request", "slot_start", "next tuesday", "cases.field.type"),
    ("repair_request", "service_point", 0, "cases.field.min"),
    ("repair_request", "service_point", True, "cases.field.type"),
    ("repair_request", "place", {"kind": "room"}, "cases.field.place"),
    ("repair_request", "place", {"lon": 200, "lat": 30}, "cases.field.place"),
    ("repair_request", "place", {"floor": 3}, "cases.field.place"),
    ("repair_request", "scene_photos", "one.jpg", "cases.field.type"),
    ("repair_request", "description", "长" * 2001, "cases.field.max_length"),
    ("complaint", "anonymous", "yes", "cases.field.type"),
    ("complaint", "kind", "praise", "cases.field.enum"),
    ("alarm_order", "alarm", -1, "cases.field.type"),
    ("device_fault", "device", "D-1", "cases.field.type"),
    ("hazard_throwing", "estimated_floor", 201, "cases.field.max"),
    ("hazard_throwing", "estimated_floor", 2.5, "cases.field.type"),
]


@pytest.mark.parametrize(("type_id", "key", "value", "code"), BAD_VALUES)
def test_bad_field_values(types: Mapping[str, CaseType], type_id: str, key: str, value: Any,
                          code: str) -> None:
    with pytest.raises(FieldsInvalid) as info:
        validate_fields(types[type_id], {key: value}, partial=True)
    assert info.value.errors[0]["code"] == code
    assert info.value.errors[0]["field"].startswith(key)
    assert info.value.errors[0]["message"]


def test_good_values_are_normalised(types: Mapping[str, CaseType]) -> None:
    repair = types["repair_request"]
    cleaned = validate_fields(repair, {
        "description": "厨房漏水", "contact_phone": "13800138000",
        "place": {"kind": "room", "id": 1203, "address": " 3栋1单元1203 "},
        "slot_start": dt.datetime(2025, 3, 2, 9, 0, tzinfo=SHANGHAI),
        "slot_end": "2025-03-02T11:00:00+08:00"})
    assert cleaned["slot_start"] == "2025-03-02T09:00:00+08:00"
    assert cleaned["place"] == {"kind": "room", "id": 1203, "address": "3栋1单元1203"}
    assert validate_fields(repair, {"place": {"lon": 121.47, "lat": 31.23}},
                           partial=True) == {"place": {"lon": 121.47, "lat": 31.23}}


def test_later_field_must_follow_the_earlier(types: Mapping[str, CaseType]) -> None:
    with pytest.raises(FieldsInvalid) as info:
        validate_fields(types["repair_request"], {
            "slot_start": "2025-03-02T11:00:00+08:00",
            "slot_end": "2025-03-02T03:00:00+00:00"}, partial=True)
    assert _fields(info.value) == {"slot_end": "cases.field.after"}
    assert info.value.errors[0]["message"] in (
        "预约结束时间须晚于预约开始时间", "Booked until must be later than Booked from")


def test_check_report(types: Mapping[str, CaseType]) -> None:
    alarm_order = types["alarm_order"]
    data = {"alarm": 1, "device": 2, "alarm_kind": "smoke",
            "occurred_at": "2025-03-01T10:00:00+08:00"}
    with pytest.raises(ReportForbidden) as info:
        check_report(alarm_order, ["resident"], data, category="fire")
    assert info.value.status == 403
    plan = check_report(alarm_order, [], data, category="fire", system=True)
    assert (plan.state, plan.priority, plan.data["alarm_level"]) == ("open", "high", "alarm")
    complaint = types["complaint"]
    body = {"subject": "s", "description": "d"}
    with pytest.raises(FieldsInvalid) as err:
        check_report(complaint, ["resident"], {}, priority="asap")
    assert _fields(err.value) == {"category": "cases.field.required",
                                  "priority": "cases.field.enum",
                                  "subject": "cases.field.required",
                                  "description": "cases.field.required"}
    with pytest.raises(FieldsInvalid) as err:
        check_report(complaint, ["resident"], body, category="weather")
    assert _fields(err.value) == {"category": "cases.field.enum"}
    plan = check_report(types["maintenance_task"], ["property_manager"],
                        {"plan": 3, "planned_at": "2025-03-01T09:00:00+08:00"})
    assert plan.category is None and plan.priority == "normal"


# Rating ------------------------------------------------------------------------------------------


def test_rating_rules(types: Mapping[str, CaseType]) -> None:
    complaint = types["complaint"]
    reporter = _actor("resident", reporter=True)
    rating = check_rating(complaint, "closed", reporter, 5, " 满意 ")
    assert (rating.stars, rating.comment) == (5, "满意")
    assert check_rating(complaint, "closed", reporter, 1).comment is None
    for stars in (0, 6, 4.5, "5"):
        with pytest.raises(FieldsInvalid):
            check_rating(complaint, "closed", reporter, stars)
    with pytest.raises(RatingForbidden):
        check_rating(complaint, "closed", _actor("resident"), 5)
    with pytest.raises(RatingNotOpen):
        check_rating(complaint, "accepted", reporter, 5)
    with pytest.raises(RatingNotOpen):
        check_rating(complaint, "closed", reporter, 5, already_rated=True)
    with pytest.raises(RatingNotOpen):
        check_rating(types["device_fault"], "closed", reporter, 5)
    assert types["consultation"].rating is not None
    assert types["consultation"].rating.states == ("closed",)


# Statistics -------------------------------------------------------------------------------------


def test_statistics_states(types: Mapping[str, CaseType]) -> None:
    spec = statistics(types["device_fault"])
    assert spec.accepted_states == {"assigned", "repairing", "repaired", "closed"}
    assert spec.closed_states == {"closed"}
    assert spec.terminal_states == {"closed", "cancelled"}
    assert statistics(types["alarm_order"]).closed_states == {"closed", "false_alarm"}


def test_case_durations_and_mean(types: Mapping[str, CaseType]) -> None:
    fault = types["device_fault"]
    hour = dt.timedelta(hours=1)
    history = [("repairing", T0 + 3 * hour), ("assigned", T0 + 2 * hour),
               ("repaired", T0 + 5 * hour), ("repairing", T0 + 6 * hour),
               ("repaired", T0 + 7 * hour), ("closed", T0 + 8 * hour)]
    durations = case_durations(fault, T0, history)
    assert durations == (2 * hour, 8 * hour)
    cancelled = case_durations(fault, T0, [("cancelled", T0 + hour)])
    assert cancelled == (None, None)
    assert mean_duration([2 * hour, None, 4 * hour]) == 3 * hour
    assert mean_duration([None]) is None
