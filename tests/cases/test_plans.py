"""A monthly maintenance plan generates its tasks and reminders (run_plans, fixed times),
tracks completion and its execution rate; plans that cannot work are refused."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shequ.cases.models import Case, CasePlan, PlanRun
from shequ.cases.schemas import PlanCreate
from shequ.cases.service import CaseService
from shequ.cases.tasks import run_plans
from shequ.platform.models import User
from shequ.platform.scoping import Subject, subject_for_user
from tests.cases.conftest import Estate

CST = ZoneInfo("Asia/Shanghai")
MONTHLY = {"frequency": "monthly", "month_days": [1], "times": ["09:00"], "start": "2026-12-01"}


def at(text: str) -> dt.datetime:
    """A Beijing time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


def verbs(e: Estate, now: dt.datetime) -> CaseService:
    """The case verbs at a fixed time."""
    return CaseService(audit=e.world.services.platform.record, clock=lambda: now)


def who(session: Session, e: Estate, name: str) -> Subject:
    """One of the estate's people as a subject."""
    return subject_for_user(session, session.get(User, e.uid(name)))


def make_plan(e: Estate, created: dt.datetime, **overrides: Any) -> int:
    """A monthly pump maintenance plan, created by the property manager at `created`."""
    body = {"name": "水泵月度保养", "kind": "maintenance", "schedule": MONTHLY,
            "reminder_leads": ["1d", "2h"], "responsible_user_id": e.uid("worker"),
            "checklist": "检查水泵密封与润滑", "building_id": e.building_id, **overrides}
    with e.world.services.db.write() as session:
        plan = verbs(e, created).create_plan(session, who(session, e, "manager"),
                                             PlanCreate(**body))
        return plan.id


def run(e: Estate, now: dt.datetime) -> tuple[int, int]:
    """One pass of the plan job at `now`: (tasks opened, reminders sent) in the estate."""
    with e.world.services.db.write() as session:
        summary = run_plans(session, now, CaseService(audit=e.world.services.platform.record),
                            community_id=e.world.community_id)
    return summary.tasks, summary.reminders


def tasks_of(e: Estate, plan_id: int) -> list[Case]:
    with e.world.services.db.read() as session:
        runs = select(PlanRun.case_id).where(PlanRun.plan_id == plan_id)
        found = list(session.scalars(select(Case).where(Case.id.in_(runs)).order_by(Case.id)))
        session.expunge_all()
        return found


def step(e: Estate, now: dt.datetime, name: str, case_id: int, transition: str,
         **data: Any) -> None:
    with e.world.services.db.write() as session:
        verbs(e, now).transition_case(session, who(session, e, name), case_id, transition, data)


def test_a_monthly_plan_generates_tasks_and_reminders(estate: Estate) -> None:
    e = estate
    plan_id = make_plan(e, at("2026-12-20 10:00"))
    assert run(e, at("2026-12-30 10:00")) == (0, 0)
    assert run(e, at("2026-12-31 09:00")) == (1, 1)  # the task, and the one-day reminder
    assert run(e, at("2026-12-31 09:00")) == (0, 0)  # idempotent
    assert run(e, at("2026-12-31 12:00")) == (0, 0)
    assert run(e, at("2027-01-01 07:00")) == (0, 1)  # the two-hour reminder
    assert run(e, at("2027-01-01 08:59")) == (0, 0)
    [task] = tasks_of(e, plan_id)
    assert task.case_type == "maintenance_task" and task.source == "plan"
    assert task.state == "pending" and task.assignee_id == e.uid("worker")
    assert task.data["plan"] == plan_id and task.data["checklist"] == "检查水泵密封与润滑"
    assert dt.datetime.fromisoformat(task.data["planned_at"]) == at("2027-01-01 09:00")
    assert task.data["place"] == {"kind": "building", "id": e.building_id}
    assert task.building_id == e.building_id
    assert task.accept_due == at("2027-01-02 09:00")  # the SLA runs from the planned time
    inbox = e.inbox("worker")
    assert sum("Reminder" in text for text in inbox) == 2
    assert any("assigned to you" in text for text in inbox)
    assert any("2027-01-01 09:00" in text and "水泵月度保养" in text for text in inbox)

    step(e, at("2027-01-01 09:30"), "worker", task.id, "start")
    step(e, at("2027-01-01 10:30"), "worker", task.id, "submit", result="normal",
         result_note="密封良好，已加注润滑油", time_spent=50)
    step(e, at("2027-01-01 11:00"), "manager", task.id, "confirm")
    assert run(e, at("2027-01-31 09:00")) == (1, 1)  # February's task and first reminder
    assert run(e, at("2027-03-01 09:00")) == (1, 0)  # March: due now, too late to remind
    with e.world.services.db.read() as session:
        runs = session.scalars(select(PlanRun).where(PlanRun.plan_id == plan_id)
                               .order_by(PlanRun.planned_at)).all()
        assert [r.status for r in runs] == ["done", "open", "open"]
        assert runs[0].completed_at == at("2027-01-01 11:00")
        rate = verbs(e, at("2027-03-02 00:00")).plan_execution(
            session, who(session, e, "manager"), plan_id, at("2027-01-01 00:00"),
            at("2027-04-01 00:00"))
    assert (rate["planned"], rate["executed"], rate["missed"], rate["pending"]) == (3, 1, 1, 1)
    assert rate["rate"] == 0.5 and rate["on_time"] == 1


def test_running_again_never_duplicates_tasks(estate: Estate) -> None:
    e = estate
    plan_id = make_plan(e, at("2026-12-20 10:00"), reminder_leads=[])
    assert run(e, at("2027-03-01 10:00")) == (3, 0)
    with e.world.services.db.write() as session:
        session.execute(update(CasePlan).where(CasePlan.id == plan_id).values(
            generated_until=at("2026-12-20 10:00")))
    assert run(e, at("2027-03-01 10:00")) == (0, 0)
    with e.world.services.db.read() as session:
        count = session.scalar(select(func.count()).select_from(PlanRun).where(
            PlanRun.plan_id == plan_id))
    assert count == 3 and len(tasks_of(e, plan_id)) == 3


def test_skipped_runs_count_as_missed(estate: Estate) -> None:
    e = estate
    plan_id = make_plan(e, at("2026-12-20 10:00"), reminder_leads=[])
    run(e, at("2027-01-01 09:00"))
    [task] = tasks_of(e, plan_id)
    step(e, at("2027-01-01 12:00"), "manager", task.id, "skip", skip_reason="停水检修")
    with e.world.services.db.read() as session:
        assert session.scalar(select(PlanRun.status).where(PlanRun.case_id == task.id)) == \
            "skipped"
        rate = verbs(e, at("2027-01-10 00:00")).plan_execution(
            session, who(session, e, "manager"), plan_id, at("2027-01-01 00:00"),
            at("2027-02-01 00:00"))
    assert (rate["planned"], rate["missed"], rate["rate"]) == (1, 1, 0.0)


def test_plans_through_the_api(estate: Estate) -> None:
    e = estate
    created = e.post("/plans", "manager", {
        "name": "电梯巡检", "kind": "inspection", "schedule": {
            "cron": "0 8 * * 1", "start": "2030-01-01", "timezone": "Asia/Shanghai"},
        "reminder_leads": ["1h"], "responsible_role": "maintenance_worker"}, 201)
    assert created["case_type"] == "inspection_task" and created["kind"] == "inspection"
    assert created["next_run_at"] == "2030-01-07T00:00:00Z"
    preview = e.get(f"/plans/{created['id']}/preview", "worker", params={"count": 2})
    assert [p["planned_at"] for p in preview] == ["2030-01-07T00:00:00Z",
                                                   "2030-01-14T00:00:00Z"]
    assert preview[0]["reminders"] == ["2030-01-06T23:00:00Z"]
    listed = e.get("/plans", "worker", params={"kind": "inspection"})
    assert [p["id"] for p in listed["items"]] == [created["id"]]
    changed = e.world.client.patch(f"/api/v1/plans/{created['id']}", headers=e.h("manager"),
                                   json={"active": False, "name": "电梯月检"})
    assert changed.status_code == 200 and changed.json()["active"] is False
    window = {"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}
    assert e.get(f"/plans/{created['id']}/runs", "manager", params=window) == []
    execution = e.get(f"/plans/{created['id']}/execution", "manager", params=window)
    assert execution["planned"] == 4 and execution["pending"] == 4 and execution["rate"] is None
    refused = e.world.client.post("/api/v1/plans", headers=e.h("worker"), json={
        "name": "x", "kind": "maintenance", "schedule": MONTHLY})
    assert refused.status_code == 403


def test_plans_that_cannot_work_are_refused(estate: Estate) -> None:
    e = estate

    def refused(body: dict[str, Any], lang: str = "en") -> dict[str, Any]:
        answer = e.world.client.post("/api/v1/plans", headers=e.h("manager", lang),
                                     json={"name": "计划", "kind": "maintenance",
                                           "schedule": MONTHLY, **body})
        assert answer.status_code == 422, answer.text
        return dict(answer.json())

    never = {"frequency": "monthly", "month_days": [30], "months": [2], "start": "2027-01-01"}
    problem = refused({"schedule": never})
    assert problem["code"] == "cases.schedule_invalid"
    assert problem["errors"][0]["field"] == "schedule.rule"
    assert problem["errors"][0]["code"] == "cases.schedule.never_fires"
    assert "never runs" in problem["errors"][0]["message"]
    assert "永远不会执行" in refused({"schedule": never}, "zh-CN")["errors"][0]["message"]
    bad_cron = refused({"schedule": {"cron": "61 * * * *", "start": "2027-01-01"}})
    assert bad_cron["errors"][0]["field"] == "schedule.cron"
    fields = {err["field"] for err in refused({
        "reminder_leads": ["soon"], "responsible_role": "wizard",
        "responsible_user_id": e.uid("resident"), "building_id": 999_999})["errors"]}
    assert fields == {"reminder_leads[0]", "responsible_role", "responsible_user_id",
                      "building_id"}
    patrol = refused({"kind": "patrol"})
    assert patrol["errors"][0]["field"] == "route_id"
    unsuitable = refused({"case_type": "repair_request"})
    assert unsuitable["errors"][0]["code"] == "cases.plan.type_unsuitable"
    assert "description" in unsuitable["errors"][0]["message"]
    unknown = refused({"case_type": "space_walk"})
    assert unknown["errors"][0]["code"] == "cases.unknown_type"
