"""The seeded case types: they load, are well formed, and new types are dropped-in files."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
import yaml

from shequ.cases.definitions import (
    CASE_TYPES_DIR,
    FAMILIES,
    CaseType,
    CaseTypeError,
    builtin_case_types,
    load_case_types,
)
from shequ.platform.permissions import builtin_roles

SEEDED = {
    "device_fault", "repair_request", "complaint", "consultation", "hazard_facility",
    "hazard_fire", "hazard_throwing", "hazard_group_renting", "hazard_environment",
    "emergency", "alarm_order", "housekeeping_order", "commercial_order", "maintenance_task",
    "inspection_task", "patrol_task",
}


@pytest.fixture(scope="module")
def types() -> dict[str, CaseType]:
    return load_case_types()


def _shortest_path(case_type: CaseType, start: str | None = None,
                   closed: bool = False) -> list[str] | None:
    """Transition keys from a state (the initial one) to a terminal (or closed) state (BFS)."""
    start = start or case_type.initial
    queue: deque[tuple[str, list[str]]] = deque([(start, [])])
    seen = {start}
    while queue:
        state, path = queue.popleft()
        spec = case_type.state_map[state]
        if spec.terminal and (spec.closed or not closed):
            return path
        for tr in case_type.transitions:
            target = tr.target or state
            if state in tr.sources and target not in seen:
                seen.add(target)
                queue.append((target, [*path, tr.key]))
    return None


def test_every_seeded_type_is_present(types: dict[str, CaseType]) -> None:
    assert set(types) >= SEEDED
    assert {t.family for t in types.values()} == set(FAMILIES)


@pytest.mark.parametrize("type_id", sorted(SEEDED))
def test_initial_state_reaches_a_closed_state(types: dict[str, CaseType], type_id: str) -> None:
    case_type = types[type_id]
    assert _shortest_path(case_type), f"{type_id}: {case_type.initial} reaches no terminal"
    assert _shortest_path(case_type, closed=True), f"{type_id}: no way to a closed state"


def _reachable(case_type: CaseType) -> set[str]:
    seen, queue = {case_type.initial}, deque([case_type.initial])
    while queue:
        state = queue.popleft()
        for tr in case_type.transitions:
            if state in tr.sources and (tr.target or state) not in seen:
                seen.add(tr.target or state)
                queue.append(tr.target or state)
    return seen


@pytest.mark.parametrize("type_id", sorted(SEEDED))
def test_every_state_reachable_and_not_a_dead_end(types: dict[str, CaseType],
                                                   type_id: str) -> None:
    case_type = types[type_id]
    assert _reachable(case_type) == {s.key for s in case_type.states}
    for state in case_type.states:
        assert _shortest_path(case_type, state.key) is not None, f"{state.key} cannot end"
        if state.terminal:
            assert not [tr for tr in case_type.transitions if state.key in tr.sources]


@pytest.mark.parametrize("type_id", sorted(SEEDED))
def test_labels_roles_and_sla_are_complete(types: dict[str, CaseType], type_id: str) -> None:
    case_type = types[type_id]
    roles = set(builtin_roles()) | {"reporter", "assignee"}
    assert case_type.name.zh and case_type.name.en
    for item in (*case_type.states, *case_type.transitions, *case_type.fields,
                 *case_type.categories):
        assert item.name.zh.strip() and item.name.en.strip(), item
    for tr in case_type.transitions:
        assert set(tr.roles) <= roles
    assert set(case_type.report_roles) <= set(builtin_roles())
    assert [s.priority for s in case_type.sla] == ["low", "normal", "high", "urgent"]
    assert Path(case_type.source).parent == CASE_TYPES_DIR


def test_hazards_follow_report_verify_rectify_review_close(
        types: dict[str, CaseType]) -> None:
    for type_id in ("hazard_facility", "hazard_fire", "hazard_throwing",
                    "hazard_group_renting", "hazard_environment"):
        assert _shortest_path(types[type_id], closed=True) == [
            "verify", "dispatch", "rectify", "pass_review"]
        assert _shortest_path(types[type_id]) == ["dismiss"]
        assert types[type_id].family == "governance"


def test_emergency_classes_and_grades(types: dict[str, CaseType]) -> None:
    emergency = types["emergency"]
    assert [c.key for c in emergency.categories] == [
        "natural_disaster", "accident", "public_health", "social_security"]
    assert [v.key for v in emergency.field_map["grade"].values] == ["I", "II", "III", "IV"]
    progress = emergency.transition_map["progress"]
    assert progress.target is None and set(progress.sources) == {
        "confirmed", "responding", "recovering"}


def test_service_orders_have_payment_and_rating(types: dict[str, CaseType]) -> None:
    for type_id in ("housekeeping_order", "commercial_order"):
        case_type = types[type_id]
        assert case_type.payment is not None and case_type.payment.field == "amount"
        assert case_type.rating is not None and case_type.rating.by == ("reporter",)
        assert case_type.dispatch is not None and case_type.dispatch.mode == "grab"
    housekeeping = {c.key for c in types["housekeeping_order"].categories}
    assert {"daily_cleaning", "appliance_cleaning", "deep_cleaning", "furniture_care",
            "pipe_unblocking"} <= housekeeping


def test_complaint_has_return_visit_and_rating(types: dict[str, CaseType]) -> None:
    complaint = types["complaint"]
    assert complaint.return_visit == "return_visit"
    assert complaint.rating is not None and complaint.rating.states == ("closed",)
    assert {"noise", "sanitation", "property_service"} <= {c.key for c in complaint.categories}


def test_builtin_case_types_are_cached() -> None:
    assert builtin_case_types() is builtin_case_types()


def test_adding_a_case_type_is_dropping_a_file(tmp_path: Path) -> None:
    source = yaml.safe_load((CASE_TYPES_DIR / "consultation.yaml").read_text("utf-8"))
    source.update(id="pet_registration", zh="宠物登记", en="Pet registration",
                  family="management")
    (tmp_path / "pet_registration.yaml").write_text(
        yaml.safe_dump(source, allow_unicode=True), encoding="utf-8")
    loaded = load_case_types([tmp_path])
    assert "pet_registration" in loaded
    assert set(loaded) >= SEEDED
    assert loaded["pet_registration"].name.get("zh-CN") == "宠物登记"
    assert "pet_registration" not in load_case_types()


def test_a_dropped_file_cannot_silently_override_a_seeded_type(tmp_path: Path) -> None:
    source = (CASE_TYPES_DIR / "complaint.yaml").read_text("utf-8")
    (tmp_path / "complaint.yaml").write_text(source, encoding="utf-8")
    with pytest.raises(CaseTypeError) as info:
        load_case_types([tmp_path])
    problem = info.value.problems[0]
    assert problem.kind == "duplicate_key"
    assert problem.file == str(tmp_path / "complaint.yaml")
    assert problem.path == "id"


def test_a_missing_extra_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CaseTypeError) as info:
        load_case_types([tmp_path / "nope"])
    assert info.value.kinds == {"missing_dir"}
