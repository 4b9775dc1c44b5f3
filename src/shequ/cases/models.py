"""Cases (案件/工单) with their timeline, comments, attachments and watchers; maintenance,
inspection and patrol plans with their runs; patrol routes, points and check-ins.

A case's kind is data (`case_types/*.yaml`); the row keeps the type id, the state key and
the type's field values in `data`. The columns beside `data` are what lists, scopes, search
and statistics need: place in the CIM, links to devices and alarms, people and times.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import (
    LIVE,
    Base,
    BigId,
    CommunityMixin,
    IdMixin,
    JsonData,
    LedgerBase,
    live_index,
    utcnow,
)


class CaseSource(enum.StrEnum):
    """The channel a case came in through (6.5.x.a)."""

    resident_app = "resident_app"
    pc = "pc"
    phone = "phone"
    on_behalf = "on_behalf"
    device_alarm = "device_alarm"
    analysis = "analysis"
    plan = "plan"


class CasePriority(enum.StrEnum):
    """How urgent a case is; each priority has its own SLA."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class PlanKind(enum.StrEnum):
    """What a plan schedules: upkeep (保养), inspection (巡检) or patrol rounds (巡更)."""

    maintenance = "maintenance"
    inspection = "inspection"
    patrol = "patrol"


class PlanRunStatus(enum.StrEnum):
    """Where one planned run stands: its task open, done, or skipped."""

    open = "open"
    done = "done"
    skipped = "skipped"


STATS_COLUMNS = ("case_type", "state", "category", "priority", "source", "building_id",
                 "accepted_at", "closed_at", "ended_at", "close_due")
"""Columns the statistics read: PostgreSQL answers them from the (community, created)
index alone."""


def _linked(name: str, *columns: str) -> Index:
    """A partial index over live rows that carry a link (device, alarm...)."""
    where = text(f"deleted_at IS NULL AND {columns[-1]} IS NOT NULL")
    return Index(name, "community_id", *columns, sqlite_where=where, postgresql_where=where)


class Case(LedgerBase, Base):
    """One case: a report, hazard, work order or planned task moving through its states."""

    __tablename__ = "cases"
    __table_args__ = (
        live_index("ix_cases_community_state", "community_id", "state", "id"),
        live_index("ix_cases_community_type", "community_id", "case_type", "state", "id"),
        Index("ix_cases_community_created", "community_id", "created_at",
              postgresql_include=list(STATS_COLUMNS), sqlite_where=text(LIVE),
              postgresql_where=text(LIVE)),
        live_index("ix_cases_community_building", "community_id", "building_id", "id"),
        live_index("ix_cases_assignee", "assignee_id", "state", "id"),
        live_index("ix_cases_reporter", "reporter_id", "id"),
        live_index("ix_cases_household", "household_id", "id"),
        _linked("ix_cases_room", "room_id"),
        _linked("ix_cases_device", "device_id"),
        _linked("ix_cases_alarm", "alarm_id"),
    )

    case_type: Mapped[str] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[CasePriority] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(40))
    source: Mapped[CaseSource] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(200), default="")
    reporter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    household_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    team_role: Mapped[str | None] = mapped_column(String(40))
    room_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    facility_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("facilities.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    device_id: Mapped[int | None] = mapped_column(BigId)
    alarm_id: Mapped[int | None] = mapped_column(BigId)
    person_id: Mapped[int | None] = mapped_column(BigId)
    vehicle_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    accept_due: Mapped[dt.datetime | None] = mapped_column(default=None)
    close_due: Mapped[dt.datetime | None] = mapped_column(default=None)
    warn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    rating_stars: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class CaseStep(IdMixin, CommunityMixin, Base):
    """One step of a case's timeline: who, when, from and to which state, and what."""

    __tablename__ = "case_steps"
    __table_args__ = (Index("ix_case_steps_case", "case_id", "id"),)

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    assignee_id: Mapped[int | None] = mapped_column(BigId)
    time_spent: Mapped[int | None] = mapped_column(default=None)


class CaseComment(IdMixin, CommunityMixin, Base):
    """A comment on a case by someone who can see it."""

    __tablename__ = "case_comments"
    __table_args__ = (Index("ix_case_comments_case", "case_id", "id"),)

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    author_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseAttachment(IdMixin, CommunityMixin, Base):
    """A photo or document attached to a case, kept in the file store under `file_key`."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_case", "case_id", "id"),)

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    step_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("case_steps.id"))
    uploader_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    file_key: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseWatcher(IdMixin, CommunityMixin, Base):
    """Someone who follows a case and is told of its steps."""

    __tablename__ = "case_watchers"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_watchers_case_user"),)

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PatrolRoute(LedgerBase, Base):
    """A patrol route (巡更路线): ordered points and how long one round may take."""

    __tablename__ = "patrol_routes"
    __table_args__ = (live_index("ix_patrol_routes_community", "community_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    round_minutes: Mapped[int] = mapped_column(default=60)
    active: Mapped[bool] = mapped_column(default=True)
    notes: Mapped[str | None] = mapped_column(Text)


class PatrolPoint(LedgerBase, Base):
    """A patrol point (巡更点) of a route, known by its tag code, maybe with its device."""

    __tablename__ = "patrol_points"
    __table_args__ = (
        UniqueConstraint("route_id", "code", name="uq_patrol_points_route_code"),
        live_index("ix_patrol_points_route", "route_id", "seq"),
    )

    route_id: Mapped[int] = mapped_column(BigId, ForeignKey("patrol_routes.id"))
    seq: Mapped[int]
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[int | None] = mapped_column(BigId)
    facility_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("facilities.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)


class PatrolCheckin(IdMixin, CommunityMixin, Base):
    """One check-in at a patrol point, online or from an offline collector (append-only).

    A record's identity is (route, collector, point, time): re-uploading it changes nothing.
    Online check-ins have the empty collector.
    """

    __tablename__ = "patrol_checkins"
    __table_args__ = (
        UniqueConstraint("route_id", "collector", "point_code", "at",
                         name="uq_patrol_checkins_identity"),
        Index("ix_patrol_checkins_route_at", "route_id", "at"),
    )

    route_id: Mapped[int] = mapped_column(BigId, ForeignKey("patrol_routes.id"))
    collector: Mapped[str] = mapped_column(String(64), default="")
    point_code: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CasePlan(LedgerBase, Base):
    """A maintenance, inspection or patrol plan: a schedule that generates task cases."""

    __tablename__ = "case_plans"
    __table_args__ = (
        live_index("ix_case_plans_community_kind", "community_id", "kind", "name"),
    )

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[PlanKind] = mapped_column(String(16))
    case_type: Mapped[str] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[CasePriority] = mapped_column(String(8), default=CasePriority.normal)
    schedule: Mapped[dict[str, Any]] = mapped_column(JsonData)
    active: Mapped[bool] = mapped_column(default=True)
    responsible_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    responsible_role: Mapped[str | None] = mapped_column(String(40))
    reminder_leads: Mapped[list[str]] = mapped_column(JsonData, default=list)
    device_id: Mapped[int | None] = mapped_column(BigId)
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    facility_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("facilities.id"))
    route_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("patrol_routes.id"))
    checklist: Mapped[str | None] = mapped_column(Text)
    generated_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PlanRun(IdMixin, CommunityMixin, Base):
    """One planned run of a plan, its generated task and how it ended (completion tracking)."""

    __tablename__ = "case_plan_runs"
    __table_args__ = (
        UniqueConstraint("plan_id", "planned_at", name="uq_case_plan_runs_plan_planned"),
        Index("ix_case_plan_runs_case", "case_id"),
        Index("ix_case_plan_runs_status", "plan_id", "status", "planned_at"),
    )

    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("case_plans.id"))
    planned_at: Mapped[dt.datetime]
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))
    status: Mapped[PlanRunStatus] = mapped_column(String(8), default=PlanRunStatus.open)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    checked_points: Mapped[int | None] = mapped_column(default=None)
    missed_points: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
