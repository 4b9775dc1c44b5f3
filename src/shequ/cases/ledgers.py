"""The case engine's ledgers: cases and plans (read-only: written through the verbs in
`service.py`), patrol routes and points (plain ledgers).

Read-only ledgers (`writes=False`) have an `example` that inserts the row itself, through
the verbs, and returns `{"id": <new id>}`; the generic contract tests seed them that way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from shequ.cases.models import Case, CasePlan, PatrolPoint, PatrolRoute
from shequ.cases.schemas import (
    CaseRead,
    NoInput,
    PatrolPointCreate,
    PatrolPointRead,
    PatrolRouteCreate,
    PatrolRouteRead,
    PlanCreate,
    PlanRead,
    PlanUpdate,
)
from shequ.cim.models import Building
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.ledger import Ledger
from shequ.kit.schema import partial
from shequ.kit.scope import Principal
from shequ.platform.security.fields import mask_phone


def mask_contacts(data: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Case fields with phone numbers masked (keys ending in `phone`)."""
    if not data:
        return data
    return {k: mask_phone(v) if k.endswith("phone") and isinstance(v, str) else v
            for k, v in data.items()}


class CaseLedger(Ledger[Case]):
    """Cases as a ledger; the reporter and the assignee see the contacts they need."""

    def present(self, row: Case, principal: Principal) -> dict[str, Any]:
        """The case; contact phones masked unless the reader may see them."""
        if principal.actor_id is not None and principal.actor_id in (row.reporter_id,
                                                                     row.assignee_id):
            return self.read_schema.model_validate(row).model_dump(mode="json")
        return super().present(row, principal)


class PatrolPointLedger(Ledger[PatrolPoint]):
    """Patrol points; a point names a route of its own community."""

    def prepare(self, session: Session, principal: Principal, data: dict[str, Any],
                current: PatrolPoint | None) -> dict[str, Any]:
        """Check the route on creation (the route of a point cannot change)."""
        if current is None:
            parent(session, PatrolRoute, data["route_id"], data["community_id"], "route_id")
        return data


def _case_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    """Insert an alarm work order (with a building) through the verb; its id."""
    import datetime as dt

    from shequ.cases.service import AlarmCase, CaseService

    building = Building(community_id=community_id, code=f"C{uuid.uuid4().hex[:8]}",
                        name=f"案件示例楼{n}", address_code=f"CASE-{uuid.uuid4().hex[:12]}")
    session.add(building)
    session.flush()
    alarm = AlarmCase(community_id=community_id, alarm_id=1000 + n, device_id=2000 + n,
                      kind=f"示例告警{n:03d}", level=("prewarning", "alarm", "critical")[n % 3],
                      occurred_at=dt.datetime(2026, 1, 1 + n % 28, 8, tzinfo=dt.UTC),
                      building_id=building.id)
    row = CaseService().open_case_from_alarm(session, alarm, category="fire")
    return {"id": row.id}


def _plan_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    """Insert a monthly maintenance plan through the verb; its id."""
    from shequ.cases.service import CaseService
    from shequ.platform.scoping import SYSTEM

    body = PlanCreate(community_id=community_id, name=f"保养计划{n:03d}", kind="maintenance",
                      schedule={"frequency": "monthly", "month_days": [1 + n % 28],
                                "start": f"{utcnow().year}-01-01"},
                      reminder_leads=["1d"], checklist=f"检查项目{n}")
    return {"id": CaseService().create_plan(session, SYSTEM, body).id}


def _route_example(_: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id, "name": f"巡更路线{n:03d}", "round_minutes": 30 + n,
            "active": n % 2 == 0, "notes": f"夜间巡更{n}"}


def _point_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    route = PatrolRoute(community_id=community_id, name=f"示例路线{n}", round_minutes=60)
    session.add(route)
    session.flush()
    return {"community_id": community_id, "route_id": route.id, "seq": n + 1,
            "code": f"P{n:03d}", "name": f"巡更点{n}", "device_id": 3000 + n,
            "lon": 120.12 + n * 1e-4, "lat": 30.29}


cases = CaseLedger(
    name="cases", model=Case, create_schema=NoInput, update_schema=NoInput,
    read_schema=CaseRead, label=("事件工单", "Cases"),
    labels={
        "case_type": ("类型", "Type"), "category": ("分类", "Category"),
        "priority": ("优先级", "Priority"), "state": ("状态", "State"),
        "source": ("来源渠道", "Source"), "summary": ("摘要", "Summary"),
        "reporter_id": ("上报人", "Reporter"), "created_by_id": ("录入人", "Entered by"),
        "household_id": ("所属住户", "Household"), "assignee_id": ("处理人", "Assignee"),
        "team_role": ("处理团队", "Team"), "room_id": ("房屋", "Room"),
        "building_id": ("楼栋", "Building"), "facility_id": ("设施", "Facility"),
        "device_id": ("设备", "Device"), "alarm_id": ("告警", "Alarm"),
        "person_id": ("人员", "Person"), "vehicle_id": ("车辆", "Vehicle"),
        "data": ("内容", "Details"), "accept_due": ("应受理时间", "Accept by"),
        "close_due": ("应办结时间", "Close by"), "warn_at": ("预警时间", "Warn at"),
        "accepted_at": ("受理时间", "Accepted at"), "closed_at": ("办结时间", "Closed at"),
        "ended_at": ("结束时间", "Ended at"), "rating_stars": ("评分", "Stars"),
        "rating_comment": ("评价", "Rating comment"), "rated_at": ("评价时间", "Rated at"),
        "version": ("版本", "Version"),
    },
    filterable=("case_type", "category", "priority", "state", "source", "assignee_id",
                "reporter_id", "household_id", "building_id", "room_id", "facility_id",
                "device_id", "alarm_id", "person_id", "vehicle_id", "created_at",
                "closed_at"),
    sortable=("id", "created_at", "updated_at", "priority", "state", "close_due",
              "closed_at"),
    search=("summary",), building_column="building_id", household_column="household_id",
    personal={"data": mask_contacts}, layer="applications", writes=False,
    example=_case_example,
).register()

plans = Ledger(
    name="plans", model=CasePlan, create_schema=PlanCreate, update_schema=PlanUpdate,
    read_schema=PlanRead, label=("保养巡检计划", "Maintenance and inspection plans"),
    labels={
        "name": ("名称", "Name"), "kind": ("类别", "Kind"), "case_type": ("任务类型", "Task type"),
        "category": ("分类", "Category"), "priority": ("优先级", "Priority"),
        "schedule": ("周期", "Schedule"), "active": ("启用", "Active"),
        "responsible_user_id": ("责任人", "Responsible person"),
        "responsible_role": ("责任角色", "Responsible role"),
        "reminder_leads": ("提前提醒", "Reminders before"), "device_id": ("设备", "Device"),
        "building_id": ("楼栋", "Building"), "facility_id": ("设施", "Facility"),
        "route_id": ("巡更路线", "Patrol route"), "checklist": ("内容", "Checklist"),
        "generated_until": ("已生成至", "Generated until"),
        "next_run_at": ("下次执行", "Next run"),
    },
    filterable=("kind", "case_type", "active", "responsible_user_id", "building_id",
                "route_id", "created_at"),
    sortable=("id", "name", "created_at", "updated_at", "next_run_at"), search=("name",),
    building_column="building_id", layer="applications", writes=False,
    example=_plan_example,
).register()

patrol_routes = Ledger(
    name="patrol_routes", model=PatrolRoute, create_schema=PatrolRouteCreate,
    update_schema=partial(PatrolRouteCreate), read_schema=PatrolRouteRead,
    label=("巡更路线", "Patrol routes"),
    labels={"name": ("名称", "Name"), "round_minutes": ("每轮时长（分钟）", "Round (minutes)"),
            "active": ("启用", "Active"), "notes": ("说明", "Notes")},
    filterable=("name", "active", "created_at"),
    sortable=("id", "name", "round_minutes", "created_at", "updated_at"), search=("name",),
    permission="plans", layer="applications", example=_route_example,
).register()

patrol_points = PatrolPointLedger(
    name="patrol_points", model=PatrolPoint, create_schema=PatrolPointCreate,
    update_schema=partial(PatrolPointCreate, exclude=("community_id", "route_id")),
    read_schema=PatrolPointRead, label=("巡更点", "Patrol points"),
    labels={"route_id": ("巡更路线", "Route"), "seq": ("顺序", "Order"),
            "code": ("点位编码", "Tag code"), "name": ("名称", "Name"),
            "device_id": ("巡更点设备", "Patrol point device"),
            "facility_id": ("设施", "Facility")},
    filterable=("route_id", "code", "device_id", "facility_id"),
    sortable=("id", "seq", "code", "created_at", "updated_at"), search=("code", "name"),
    permission="plans", layer="applications", example=_point_example,
).register()
