"""Scheduled jobs of the case engine: `run_plans` opens planned tasks, sends reminders and
closes patrol rounds (6.4.1.e/g, 5.3.8).

`run_plans(session, now)` is idempotent: run twice with the same `now` (or by two workers at
once) it opens each run's task once (a run is unique per plan and planned time), sends
each reminder once (a run counts the reminders it sent) and evaluates each ended patrol
round once (until an offline upload re-evaluates it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cases.models import Case, CasePlan, PatrolRoute, PlanKind, PlanRun, PlanRunStatus
from shequ.cases.schedule import Schedule, ScheduleInvalid, next_runs, reminders, round_window
from shequ.cases.service import (
    MAX_TASKS_PER_RUN,
    CaseService,
    evaluate_rounds,
    next_run,
    plan_leads,
    plan_schedule,
    route_spec,
    team,
)
from shequ.kit.errors import ValidationFailed
from shequ.notify.service import notify

log = logging.getLogger("shequ.cases.tasks")
MAX_ROUNDS_PER_RUN = 200


@dataclass
class PlanRunSummary:
    """What one pass of `run_plans` did."""

    plans: int = 0
    tasks: int = 0
    reminders: int = 0
    rounds: int = 0


def _default_service() -> CaseService:
    from shequ.config import get_settings
    from shequ.platform.service import PlatformService

    return CaseService(audit=PlatformService(get_settings()).record)


def run_plans(session: Session, now: dt.datetime, service: CaseService | None = None, *,
              community_id: int | None = None) -> PlanRunSummary:
    """Open due tasks, send due reminders and evaluate ended patrol rounds of every active
    plan (of one community when `community_id` is given)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    verbs = dataclasses.replace(service or _default_service(), clock=lambda: now)
    summary = PlanRunSummary()
    stmt = select(CasePlan).where(CasePlan.active.is_(True), CasePlan.deleted_at.is_(None))
    if community_id is not None:
        stmt = stmt.where(CasePlan.community_id == community_id)
    for plan in session.scalars(stmt.order_by(CasePlan.id)).all():
        try:
            schedule, leads = plan_schedule(plan.schedule), plan_leads(plan)
        except (ScheduleInvalid, ValueError):
            log.warning("plan skipped: its schedule is not valid", extra={"plan_id": plan.id})
            continue
        summary.plans += 1
        summary.tasks += _generate(session, verbs, plan, schedule, leads, now)
        summary.reminders += _remind(session, plan, schedule, leads, now)
        if plan.kind == PlanKind.patrol:
            summary.rounds += _close_rounds(session, plan, now)
        plan.next_run_at = next_run(schedule, now)
    session.flush()
    return summary


def _generate(session: Session, verbs: CaseService, plan: CasePlan, schedule: Schedule,
              leads: list[dt.timedelta], now: dt.datetime) -> int:
    """Open the tasks of runs up to `now` plus the longest reminder lead."""
    horizon = now + max(leads, default=dt.timedelta())
    start = plan.generated_until or plan.created_at
    if horizon <= start:
        return 0
    runs = [r for r in next_runs(schedule, start, MAX_TASKS_PER_RUN + 1) if r <= horizon]
    opened = sum(1 for run in runs[:MAX_TASKS_PER_RUN]
                 if verbs.open_task(session, plan, run) is not None)
    plan.generated_until = runs[MAX_TASKS_PER_RUN - 1] if len(runs) > MAX_TASKS_PER_RUN \
        else horizon
    return opened


def _responsible(session: Session, plan: CasePlan) -> set[int | None]:
    people: set[int | None] = {plan.responsible_user_id}
    if plan.responsible_role:
        people |= {u for u, _ in team(session, plan.community_id, plan.building_id,
                                      [plan.responsible_role])}
    return people


def _local(schedule: Schedule, at: dt.datetime) -> str:
    return at.astimezone(schedule.tz).strftime("%Y-%m-%d %H:%M")


def _remind(session: Session, plan: CasePlan, schedule: Schedule,
            leads: list[dt.timedelta], now: dt.datetime) -> int:
    """Send the reminders that fell due for coming runs; each one once."""
    if not leads:
        return 0
    sent = 0
    for run in session.scalars(select(PlanRun).where(
            PlanRun.plan_id == plan.id, PlanRun.status == PlanRunStatus.open,
            PlanRun.planned_at > now).order_by(PlanRun.planned_at)):
        try:
            due = sum(1 for at in reminders(schedule, run.planned_at, leads) if at <= now)
        except ValueError:  # the schedule changed since the run was generated
            continue
        if due <= run.reminders_sent:
            continue
        task = session.get(Case, run.case_id) if run.case_id else None
        notify(session, _responsible(session, plan) | {task.assignee_id if task else None},
               "cases.notice.plan_reminder",
               {"plan": plan.name, "planned_at": _local(schedule, run.planned_at),
                "number": run.case_id or "—"},
               f"/cases/{run.case_id}" if run.case_id else None,
               community_id=plan.community_id)
        run.reminders_sent = due
        sent += 1
    return sent


def _close_rounds(session: Session, plan: CasePlan, now: dt.datetime) -> int:
    """Evaluate the patrol rounds that ended and tell the responsible people of misses."""
    route = session.get(PatrolRoute, plan.route_id) if plan.route_id else None
    if route is None or route.deleted_at is not None:
        return 0
    try:
        spec = route_spec(session, route)
    except ValidationFailed:
        return 0
    runs = session.scalars(select(PlanRun).where(
        PlanRun.plan_id == plan.id, PlanRun.missed_points.is_(None),
        PlanRun.planned_at <= now - spec.round_duration).order_by(PlanRun.planned_at)
        .limit(MAX_ROUNDS_PER_RUN)).all()
    if not runs:
        return 0
    windows = [round_window(spec, run.planned_at) for run in runs]
    schedule = plan_schedule(plan.schedule)
    for report in evaluate_rounds(session, route, spec, windows, now):
        if report.missed:
            notify(session, _responsible(session, plan), "cases.notice.patrol_missed",
                   {"route": route.name, "missed": len(report.missed),
                    "planned_at": _local(schedule, report.window.start)},
                   f"/plans/{plan.id}", community_id=plan.community_id)
    return len(runs)
