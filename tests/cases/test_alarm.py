"""Cases opened by the alarm pipeline through `open_case_from_alarm` carry the alarm's
device and place, once per alarm, and can be traced by them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from shequ.cases.models import Case
from shequ.cases.service import AlarmCase, CaseService
from shequ.platform.models import AuditEntry
from tests.cases.conftest import Estate

RAISED = dt.datetime(2026, 11, 20, 23, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _open(e: Estate, alarm: AlarmCase, case_type: str, **options: str) -> int:
    services = e.world.services
    with services.db.write() as session:
        row = CaseService(audit=services.platform.record).open_case_from_alarm(
            session, alarm, case_type, **options)
        return row.id


def test_a_fire_hazard_from_an_alarm_carries_its_device_and_place(estate: Estate) -> None:
    e = estate
    alarm = AlarmCase(community_id=e.world.community_id, alarm_id=7001, device_id=501,
                      kind="烟感告警：楼道烟雾浓度超限", level="critical", occurred_at=RAISED,
                      room_id=e.room_id, snapshots=("https://cam.example/7001.jpg",))
    case_id = _open(e, alarm, "hazard_fire", category="alarm_system")
    case = e.get(f"/cases/{case_id}", "manager")
    assert (case["device_id"], case["alarm_id"]) == (501, 7001)
    assert (case["room_id"], case["building_id"]) == (e.room_id, e.building_id)
    assert case["household_id"] is None and case["reporter_id"] is None
    assert case["source"] == "device_alarm" and case["priority"] == "urgent"
    assert case["state"] == "reported" and case["category"] == "alarm_system"
    assert case["data"] == {"description": alarm.kind, "place": {"kind": "room", "id": e.room_id},
                            "scene_photos": list(alarm.snapshots), "device": 501, "alarm": 7001,
                            "occurred_at": RAISED.isoformat(), "source": "device"}
    assert _open(e, alarm, "hazard_fire", category="alarm_system") == case_id
    assert any(f"#{case_id}" in text for text in e.inbox("guard"))
    assert not e.inbox("worker")  # verifying a hazard is not a maintenance worker's step
    e.get(f"/cases/{case_id}", "resident", 404)  # an alarm in their room is not their report
    with e.world.services.db.read() as session:
        audit = session.scalar(select(AuditEntry).where(
            AuditEntry.action == "cases.report", AuditEntry.resource_id == str(case_id)))
        assert audit is not None and audit.actor == "system"
    timeline = e.get(f"/cases/{case_id}/detail", "manager")["timeline"]
    assert [(s["action"], s["actor_name"]) for s in timeline] == [("report", "system")]


def test_an_alarm_work_order_at_a_facility_and_its_trace(estate: Estate) -> None:
    e = estate
    admin = e.h(e.admin)
    facility = e.world.client.post("/api/v1/facilities", headers=admin, json={
        "community_id": e.world.community_id, "name": "1号楼消火栓", "category": "fire",
        "kind": "hydrant", "building_id": e.building_id}).json()["id"]
    alarm = AlarmCase(community_id=e.world.community_id, alarm_id=7002, device_id=502,
                      kind="消火栓水压低", occurred_at=RAISED, facility_id=facility,
                      lon=120.1201, lat=30.2901)
    case_id = _open(e, alarm, "alarm_order", category="fire")
    case = e.get(f"/cases/{case_id}", "guard")
    assert (case["facility_id"], case["building_id"]) == (facility, e.building_id)
    assert (case["lon"], case["lat"]) == (120.1201, 30.2901) and case["priority"] == "high"
    assert case["data"]["alarm_kind"] == "消火栓水压低" and case["data"]["alarm_level"] == "alarm"
    e.post("/cases", "resident", {"case_type": "repair_request", "category": "plumbing",
                                  "data": {"description": "漏水", "contact_phone": "13800001234",
                                           "place": {"kind": "room", "id": e.room_id}}}, 201)
    for query in ({"device_id": 502}, {"alarm_id": 7002}, {"facility_id": facility},
                  {"source": "device_alarm"}, {"q": "水压"}, {"case_type": "alarm_order"},
                  {"created_at__gte": "2020-01-01T00:00:00Z", "device_id__isnull": "false"}):
        found = e.get("/cases", "manager", params=query)["items"]
        assert [c["id"] for c in found] == [case_id], query
    taken = e.step(case_id, "guard", "take")
    assert taken["assignee_id"] == e.uid("guard") and taken["team_role"] == "security_operator"
    with e.world.services.db.read() as session:
        assert session.get(Case, case_id) is not None
