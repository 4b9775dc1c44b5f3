"""The smaller verbs and reads: edits, comments and watchers, households, case types,
round-robin dispatch from a case type added as a data file, menus."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequ.cases import service
from shequ.cases.definitions import CASE_TYPES_DIR, load_case_types
from tests.cases.conftest import Estate, leak


def test_edits_are_checked_recorded_and_move_the_place(estate: Estate) -> None:
    e = estate
    case = e.post("/cases", "resident", leak(e), 201)
    answer = e.world.client.patch(f"/api/v1/cases/{case['id']}", headers=e.h("resident"),
                                  json={"priority": "high", "version": 1, "data": {
                                      "description": "厨房和卫生间都在漏水",
                                      "place": {"kind": "building", "id": e.building_id}}})
    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["priority"] == "high" and edited["summary"] == "厨房和卫生间都在漏水"
    assert edited["room_id"] is None and edited["building_id"] == e.building_id
    assert edited["close_due"] < case["close_due"] and edited["version"] == 2
    assert edited["household_id"] == e.room_id  # still the resident's case
    bad = e.world.client.patch(f"/api/v1/cases/{case['id']}", headers=e.h("resident"),
                               json={"data": {"contact_phone": "12345"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "contact_phone"
    guard = e.world.client.patch(f"/api/v1/cases/{case['id']}", headers=e.h("worker"),
                                 json={"data": {"description": "?"}})
    assert guard.status_code == 403 and guard.json()["code"] == "cases.edit_forbidden"
    timeline = e.get(f"/cases/{case['id']}/detail", "resident")["timeline"]
    assert timeline[-1]["action"] == "edit" and timeline[-1]["action_label"] == "修改"
    assert timeline[-1]["data"]["changed"] == ["description", "place"]


def test_comments_and_watchers_are_told(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    assert e.world.client.put(f"/api/v1/cases/{case_id}/watch",
                              headers=e.h("committee")).json() == {"watching": True}
    e.post(f"/cases/{case_id}/comments", "manager", {"body": "明早九点上门"}, 201)
    assert any("new comment" in text for text in e.inbox("resident"))
    assert any("new comment" in text for text in e.inbox("committee"))
    assert not any("new comment" in text for text in e.inbox("manager"))
    e.step(case_id, "manager", "dispatch", assignee=e.uid("worker"))
    assert any("Dispatch" in text for text in e.inbox("committee"))
    detail = e.get(f"/cases/{case_id}/detail", "committee")
    assert detail["watching"] is True and detail["comments"][0]["body"] == "明早九点上门"
    assert e.world.client.delete(f"/api/v1/cases/{case_id}/watch",
                                 headers=e.h("committee")).json() == {"watching": False}
    e.step(case_id, "worker", "accept")
    assert sum("Accept" in text for text in e.inbox("committee")) == 0


def test_a_resident_of_two_households_names_one(estate: Estate) -> None:
    e = estate
    services = e.world.services
    from shequ.platform.models import Community, ScopeKind, User
    from shequ.platform.scoping import SYSTEM

    with services.db.write() as session:
        services.platform.assign_role(
            session, SYSTEM, session.get(User, e.uid("resident")), "resident",
            ScopeKind.household, community=session.get(Community, e.world.community_id),
            scope_id=e.other_room_id)
    answer = e.world.client.post("/api/v1/cases", headers=e.h("resident", "en"), json=leak(e))
    assert answer.status_code == 422 and answer.json()["code"] == "cases.household_required"
    assert sorted(answer.json()["households"]) == sorted([e.room_id, e.other_room_id])
    chosen = e.post("/cases", "resident", {**leak(e), "household_id": e.other_room_id}, 201)
    assert chosen["household_id"] == e.other_room_id
    assert [c["id"] for c in e.get("/cases", "neighbour")["items"]] == [chosen["id"]]


def test_case_types_describe_forms_in_the_readers_language(estate: Estate) -> None:
    e = estate
    types = {t["id"]: t for t in e.get("/case-types", "resident", lang="en")}
    assert len(types) == len(service.case_types())
    repair = types["repair_request"]
    assert repair["label"] == "Report and repair" and repair["can_report"] is True
    assert types["alarm_order"]["can_report"] is False
    assert {"key": "plumbing", "label": "Plumbing"} in repair["categories"]
    assert repair["initial"] == "submitted" and repair["dispatch_mode"] == "assign"
    one = e.get("/case-types/hazard_fire", "guard")
    assert one["label"] == "消防隐患" and one["can_report"] is True
    assert e.get("/case-types/nothing", "guard", 422)["code"] == "cases.unknown_type"
    options = e.get(f"/cases/{e.post('/cases', 'resident', leak(e), 201)['id']}/detail",
                    "manager", lang="en")["transitions"]
    dispatch = next(o for o in options if o["key"] == "dispatch")
    assert dispatch["required"] == ["assignee"] and "note" in dispatch["optional"]


def test_round_robin_from_a_case_type_added_as_data(estate: Estate, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = (CASE_TYPES_DIR / "repair_request.yaml").read_text("utf-8")
    text = text.replace("id: repair_request", "id: rota_repair").replace(
        "assigns: assign", "assigns: round_robin").replace("mode: assign", "mode: round_robin")
    (tmp_path / "rota_repair.yaml").write_text(text, "utf-8")
    types = load_case_types([tmp_path])
    monkeypatch.setattr(service, "case_types", lambda: types)
    e = estate
    picked = []
    for _ in range(3):
        case_id = e.post("/cases", "resident", {**leak(e), "case_type": "rota_repair"},
                         201)["id"]
        picked.append(e.step(case_id, "manager", "dispatch")["assignee_id"])
    workers = sorted([e.uid("worker"), e.uid("worker2")])
    assert picked == [workers[0], workers[1], workers[0]]


def test_menus_show_the_case_engine(estate: Estate) -> None:
    e = estate
    keys = {item["key"] for group in e.get("/me/menus", "manager") for item in group["items"]}
    assert {"cases", "case_statistics", "plans", "patrol_routes"} <= keys
    resident = {item["key"] for group in e.get("/me/menus", "resident")
                for item in group["items"]}
    assert "case_report" in resident and "plans" not in resident
