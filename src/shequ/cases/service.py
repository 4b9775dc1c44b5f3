"""Case verbs: report, step, edit, comment, attach, rate, watch, open from an alarm; plans
and patrol check-ins. The only code that writes cases.

Every verb runs inside the caller's transaction, checks the caller against the case engine
(`definitions.py`: states, roles, fields), writes the case and a timeline step, records one
audit entry, and queues notifications for the people a step concerns. Reads that need more
than the generic ledger (detail with timeline, statistics with mean times) live here too.

Optimistic locking: `Case.version` is SQLAlchemy's version counter. A caller may name the
version it last saw (409 `cases.stale` at once when it moved on); a concurrent step that
committed first makes this one's UPDATE match no row, which is also `cases.stale`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from shequ.cases.definitions import (
    PSEUDO_ROLES,
    Actor,
    Assignment,
    CaseType,
    FieldsInvalid,
    ReportPlan,
    Text,
    TransitionPlan,
    allowed_transitions,
    builtin_case_types,
    check_editable,
    check_rating,
    check_report,
    check_transition,
    load_case_types,
    parse_duration,
    pick_round_robin,
    sla_due,
    sla_status,
    step_fields,
)
from shequ.cases.ledgers import cases as case_ledger
from shequ.cases.ledgers import patrol_routes as route_ledger
from shequ.cases.ledgers import plans as plan_ledger
from shequ.cases.models import (
    Case,
    CaseAttachment,
    CaseComment,
    CasePlan,
    CasePriority,
    CaseSource,
    CaseStep,
    CaseWatcher,
    PatrolCheckin,
    PatrolPoint,
    PatrolRoute,
    PlanKind,
    PlanRun,
    PlanRunStatus,
)
from shequ.cases.schedule import (
    CheckIn,
    ExecutionRate,
    RoundReport,
    RoundWindow,
    Schedule,
    ScheduleInvalid,
    evaluate_batch,
    execution_rate,
    next_runs,
    parse_schedule,
    reminders,
    round_windows,
    runs_between,
)
from shequ.cases.schedule import PatrolPoint as RoutePoint
from shequ.cases.schedule import PatrolRoute as RouteSpec
from shequ.cases.schemas import CaseEdit, CaseReport, CheckinBatch, PlanCreate
from shequ.cim.models import Building, Facility, Floor, Room, Unit
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from shequ.kit.fields import enum_label
from shequ.kit.files import IMAGES, FileStore, default_store
from shequ.kit.i18n import t
from shequ.kit.ledger import AuditSink, Query, period_key
from shequ.kit.scope import Scope, row_in_scope
from shequ.notify.service import notify
from shequ.platform.models import RoleAssignment, ScopeKind, User
from shequ.platform.permissions import builtin_roles, grants
from shequ.platform.scoping import SYSTEM, Grant, Subject

Clock = Callable[[], dt.datetime]
HUMAN_SOURCES = frozenset({CaseSource.resident_app, CaseSource.pc, CaseSource.phone,
                           CaseSource.on_behalf})
PLAN_TYPES = {PlanKind.maintenance: "maintenance_task", PlanKind.inspection: "inspection_task",
              PlanKind.patrol: "patrol_task"}
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_TASKS_PER_RUN = 500
CLEARABLE_PLAN_FIELDS = frozenset({"category", "responsible_user_id", "responsible_role",
                                   "device_id", "building_id", "facility_id", "route_id",
                                   "checklist"})
TEAM_LIMIT = 100


# ---------------------------------------------------------------------------------------------
# Errors


class CaseStale(Conflict):
    """Someone changed the case since the caller read it (optimistic locking)."""

    code = "cases.stale"


class UnknownCaseType(ValidationFailed):
    """No case type has that id."""

    code = "cases.unknown_type"


class HouseholdRequired(ValidationFailed):
    """The reporter has several households: name the one the case is for."""

    code = "cases.household_required"


class OnBehalfInvalid(ValidationFailed):
    """The person reported for is not a resident of this community."""

    code = "cases.on_behalf_invalid"


class SourceNotAllowed(ValidationFailed):
    """That channel is set by the system (alarms, plans), not by a caller."""

    code = "cases.source_not_allowed"


class AssigneeInvalid(ValidationFailed):
    """The chosen handler is not in the case type's team for this place."""

    code = "cases.assignee_invalid"


class NoCandidate(Conflict):
    """Round robin found nobody in the team."""

    code = "cases.no_candidate"


class EditForbidden(Forbidden):
    """Only the reporter and staff who may handle the case may edit it."""

    code = "cases.edit_forbidden"


class PlanInvalid(ValidationFailed):
    """A plan's settings are not valid; `errors` names each field."""

    code = "cases.plan_invalid"


class CheckinsInvalid(ValidationFailed):
    """Check-ins that cannot be accepted (e.g. from the future)."""

    code = "cases.checkins_invalid"


# ---------------------------------------------------------------------------------------------
# Case types, scopes and actors


@lru_cache(maxsize=1)
def case_types() -> Mapping[str, CaseType]:
    """The built-in case types (and those in `SHEQU_CASE_TYPE_DIRS`, `os.pathsep`-separated)."""
    import os

    from shequ.config import get_settings

    extra = [d for d in get_settings().case_type_dirs.split(os.pathsep) if d]
    return load_case_types(extra) if extra else builtin_case_types()


def case_type(type_id: str) -> CaseType:
    """One case type; 422 naming the field when unknown."""
    found = case_types().get(type_id)
    if found is None:
        raise UnknownCaseType(case_type=type_id[:40], errors=[
            _field_error("case_type", "cases.unknown_type", case_type=type_id[:40])])
    return found


def label(text: Text) -> dict[str, str]:
    """A bilingual label as notification parameters carry it."""
    return {"zh-CN": text.zh, "en": text.en}


def _field_error(path: str, code: str, **params: Any) -> dict[str, Any]:
    """One per-field error entry with its message in the request's language."""
    return {"field": path, "code": code, "message": t(code, **params)}


def _scope(subject: Subject, permission: str) -> Scope:
    scope = subject.scope_for(permission)
    if scope.empty:
        raise Forbidden(code="auth.missing_permission", permission=permission)
    return scope


def _keys(case: Case) -> tuple[int, int | None, int | None]:
    return case.community_id, case.building_id, case.household_id


def covering(subject: Subject, permission: str, keys: tuple[int, int | None, int | None],
             ) -> list[Grant]:
    """The subject's grants of `permission` whose scope reaches a row with these keys."""
    columns = case_ledger.scope_columns()
    return [g for g in subject.grants if grants(g.permissions, permission)
            and row_in_scope(Scope((g.clause,)), *keys, columns)]


def actor_for(subject: Subject, case: Case, permission: str = "cases:transition") -> Actor:
    """The engine's view of the subject on this case: roles held here, reporter, assignee."""
    roles = frozenset(g.role for g in covering(subject, permission, _keys(case)))
    uid = subject.actor_id
    return Actor(id=uid or 0, roles=roles,
                 is_reporter=uid is not None and uid == case.reporter_id,
                 is_assignee=uid is not None and uid == case.assignee_id)


def parse_version(value: str | None) -> int | None:
    """The version in an `If-Match` header (`"3"`, `W/"3"` or `3`); 400 when malformed."""
    if value is None or not value.strip():
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(code="cases.bad_version", value=value[:40])
    return int(raw)


# ---------------------------------------------------------------------------------------------
# Places


@dataclass(frozen=True)
class Place:
    """A case's place in the CIM, resolved from the `place` field."""

    room_id: int | None = None
    building_id: int | None = None
    facility_id: int | None = None
    lon: float | None = None
    lat: float | None = None


_PLACE_MODELS: dict[str, Any] = {"room": Room, "building": Building, "facility": Facility,
                                 "unit": Unit, "floor": Floor}


def resolve_place(session: Session, community_id: int, place: Mapping[str, Any] | None,
                  ) -> Place:
    """Room, building and facility ids of a place value; 422 when it names a missing object."""
    if not place:
        return Place()
    found = Place(lon=place.get("lon"), lat=place.get("lat"))
    model = _PLACE_MODELS.get(str(place.get("kind")))
    if model is None or place.get("id") is None:
        return found
    row = parent(session, model, place["id"], community_id, "place.id")
    return replace(found, room_id=row.id if model is Room else None,
                   facility_id=row.id if model is Facility else None,
                   building_id=row.id if model is Building else row.building_id)


def _place_value(kind: str, row_id: int | None) -> dict[str, Any] | None:
    return {"kind": kind, "id": row_id} if row_id else None


# ---------------------------------------------------------------------------------------------
# Teams


def team(session: Session, community_id: int, building_id: int | None,
         roles: Iterable[str] | None) -> list[tuple[int, str]]:
    """Active users holding one of `roles` (None: any role) for this place, by user id."""
    wanted = None if roles is None else sorted(set(roles) - set(PSEUDO_ROLES))
    if wanted == []:
        return []
    reach = [RoleAssignment.scope_kind == ScopeKind.community]
    if building_id is not None:
        reach.append(and_(RoleAssignment.scope_kind == ScopeKind.building,
                          RoleAssignment.scope_id == building_id))
    stmt = (select(RoleAssignment.user_id, RoleAssignment.role_code)
            .join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.community_id == community_id, User.is_active.is_(True),
                   or_(*reach))
            .order_by(RoleAssignment.user_id, RoleAssignment.role_code).limit(TEAM_LIMIT))
    if wanted is not None:
        stmt = stmt.where(RoleAssignment.role_code.in_(wanted))
    return [(user, role) for user, role in session.execute(stmt)]


# ---------------------------------------------------------------------------------------------
# Alarm input


@dataclass(frozen=True)
class AlarmCase:
    """What the alarm pipeline knows when it opens a case (layer 4 ids are plain ids)."""

    community_id: int
    alarm_id: int
    device_id: int
    kind: str
    occurred_at: dt.datetime
    level: str = "alarm"
    description: str | None = None
    room_id: int | None = None
    building_id: int | None = None
    facility_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    snapshots: tuple[str, ...] = ()
    source: str = "device"

    def place(self) -> dict[str, Any] | None:
        """The alarm's place as a `place` field value (the most precise object known)."""
        value: dict[str, Any] = {}
        for kind, row_id in (("room", self.room_id), ("facility", self.facility_id),
                             ("building", self.building_id)):
            if row_id:
                value = {"kind": kind, "id": row_id}
                break
        if self.lon is not None and self.lat is not None:
            value.update(lon=self.lon, lat=self.lat)
        if self.address:
            value["address"] = self.address
        return value or None


_LEVEL_PRIORITY = {"prewarning": "normal", "alarm": "high", "critical": "urgent"}


# ---------------------------------------------------------------------------------------------
# The service


def _no_audit(session: Session, principal: Any, action: str, resource: str, resource_id: Any,
              community_id: int | None, before: Any, after: Any) -> None:
    """An audit sink that records nothing (fixtures and bulk loads only)."""


@dataclass
class CaseService:
    """The case verbs, bound to an audit sink, a file store and a clock."""

    audit: AuditSink = field(default=_no_audit)
    files: FileStore = field(default_factory=default_store)
    clock: Clock = utcnow

    # -- reporting -------------------------------------------------------------------------

    def report_case(self, session: Session, subject: Subject, body: CaseReport) -> Case:
        """Open a case as the subject (a resident, staff, or a third party's API key)."""
        ct = case_type(body.case_type)
        scope = _scope(subject, "cases:create")
        community_id = case_ledger._community_for(scope, body.community_id)
        households = _own_households(subject, community_id)
        reporter_id, household_id = self._reporter(session, subject, community_id, households,
                                                   body)
        source = _source(subject, body, bool(households))
        roles = {g.role for g in subject.grants if grants(g.permissions, "cases:create")
                 and (g.clause.communities is None or community_id in g.clause.communities)}
        plan = check_report(ct, roles, body.data, category=body.category,
                            priority=body.priority, system=subject.kind != "user")
        links = body.links.model_dump() if body.links is not None else {}
        row = self._build(session, community_id, ct, plan, source, reporter_id=reporter_id,
                          created_by_id=subject.actor_id, household_id=household_id,
                          links=links)
        if not row_in_scope(scope, *_keys(row), case_ledger.scope_columns()):
            raise Forbidden(code="resource.out_of_scope")
        self._open(session, subject, row, ct)
        return row

    def open_case_from_alarm(self, session: Session, alarm: AlarmCase,
                             case_type_id: str = "alarm_order", *,
                             category: str | None = None,
                             priority: str | None = None) -> Case:
        """Open (once per alarm and type) a case for an alarm, carrying its device and place.

        Called by the alarm pipeline inside its transaction; a repeated alarm returns the
        case opened the first time. Only the fields the case type declares are filled.
        """
        ct = case_type(case_type_id)
        existing = session.scalar(select(Case).where(
            Case.community_id == alarm.community_id, Case.alarm_id == alarm.alarm_id,
            Case.case_type == ct.id, Case.deleted_at.is_(None)).limit(1))
        if existing is not None:
            return existing
        plan = check_report(ct, (), _alarm_data(ct, alarm), category=category,
                            priority=priority or _LEVEL_PRIORITY.get(alarm.level), system=True)
        source = CaseSource.analysis if alarm.source == "analysis" else CaseSource.device_alarm
        row = self._build(session, alarm.community_id, ct, plan, source,
                          links={"device_id": alarm.device_id, "alarm_id": alarm.alarm_id})
        self._open(session, SYSTEM, row, ct)
        return row

    def _reporter(self, session: Session, subject: Subject, community_id: int,
                  households: frozenset[int], body: CaseReport) -> tuple[int | None, int | None]:
        """Who the reporter is and which household the case belongs to."""
        if households:
            if body.on_behalf_of is not None:
                raise Forbidden(code="resource.out_of_scope")
            return subject.actor_id, _pick_household(households, body.household_id, True)
        if body.on_behalf_of is not None:
            theirs = _resident_households(session, body.on_behalf_of, community_id)
            if not theirs:
                raise OnBehalfInvalid(errors=[_field_error("on_behalf_of",
                                                           "cases.on_behalf_invalid")])
            return body.on_behalf_of, _pick_household(theirs, body.household_id, False)
        if body.household_id is not None:
            parent(session, Room, body.household_id, community_id, "household_id")
        return subject.actor_id, body.household_id

    def _build(self, session: Session, community_id: int, ct: CaseType, plan: ReportPlan,
               source: CaseSource, *, reporter_id: int | None = None,
               created_by_id: int | None = None, household_id: int | None = None,
               links: Mapping[str, Any] | None = None, assignee_id: int | None = None,
               sla_from: dt.datetime | None = None) -> Case:
        """A new case row (not yet added) from a checked report."""
        now = self.clock()
        place = resolve_place(session, community_id, plan.data.get("place"))
        building_id = place.building_id
        if building_id is None and household_id is not None:
            home = session.get(Room, household_id)
            building_id = home.building_id if home is not None else None
        due = sla_due(ct, plan.priority, sla_from or now) if ct.sla else None
        return Case(
            community_id=community_id, case_type=ct.id, category=plan.category,
            priority=plan.priority, state=plan.state, source=source,
            summary=_summary(ct, plan.data), reporter_id=reporter_id,
            created_by_id=created_by_id, household_id=household_id, assignee_id=assignee_id,
            room_id=place.room_id, building_id=building_id, facility_id=place.facility_id,
            lon=place.lon, lat=place.lat, data=plan.data,
            **{**_data_links(ct, plan.data), **{k: v for k, v in (links or {}).items() if v}},
            accept_due=due.accept_due if due else None,
            close_due=due.close_due if due else None, warn_at=due.warn_at if due else None,
            created_at=now, updated_at=now, version=1,
        )

    def _open(self, session: Session, subject: Subject, row: Case, ct: CaseType) -> None:
        """Insert a built case with its first timeline step; notify; audit."""
        _check_photos(session, row, ct, row.data)
        session.add(row)
        session.flush()
        session.add(self._step(row, subject, "report", None, row.state,
                               assignee_id=row.assignee_id))
        next_actors = {user for user, _ in team(session, row.community_id, row.building_id,
                                                _next_roles(ct, row.state))}
        self._tell(session, row, ct, next_actors - {subject.actor_id, row.assignee_id},
                   "cases.notice.reported")
        if row.assignee_id is not None:
            self._tell(session, row, ct, {row.assignee_id}, "cases.notice.assigned")
        self.audit(session, subject, "cases.report", "cases", row.id, row.community_id, None,
                   _snapshot(row))

    # -- steps -----------------------------------------------------------------------------

    def transition_case(self, session: Session, subject: Subject, case_id: int,
                        transition: str, data: Mapping[str, Any] | None = None,
                        expected_version: int | None = None) -> Case:
        """Take a step; 409 illegal/closed/stale, 403 wrong role, 422 bad fields."""
        row = self._case(session, subject, case_id, expected_version)
        ct = case_type(row.case_type)
        actor = actor_for(subject, row)
        plan = check_transition(ct, row.state, transition, actor, data)
        photos = _check_photos(session, row, ct, plan.data)
        before = _snapshot(row)
        previous_assignee = row.assignee_id
        self._assign(session, row, ct, plan.assignment, actor)
        now = self.clock()
        _apply(row, ct, plan, now)
        step = self._step(row, subject, plan.transition, plan.from_state, plan.to_state,
                          data=plan.data, assignee_id=row.assignee_id
                          if plan.assignment is not None else None)
        session.add(step)
        _flush(session)
        _link_photos(session, row, photos, step.id)
        if plan.closes:
            _finish_run(session, row, ct, now)
        self._after_step(session, subject, row, ct, plan, previous_assignee)
        self.audit(session, subject, "cases.transition", "cases", row.id, row.community_id,
                   before, {**_snapshot(row), "transition": plan.transition})
        return row

    def _case(self, session: Session, subject: Subject, case_id: int,
              expected_version: int | None, action: str = "read") -> Case:
        """A case the subject can see, at the version they expect."""
        row = case_ledger.get(session, subject, case_id, action)
        if expected_version is not None and expected_version != row.version:
            raise CaseStale(current=row.version, expected=expected_version,
                            extra={"version": row.version})
        return row

    def _assign(self, session: Session, row: Case, ct: CaseType,
                assignment: Assignment | None, actor: Actor) -> None:
        """Apply the engine's assignment: the actor (grab), a chosen member, or the next one."""
        if assignment is None:
            return
        members = team(session, row.community_id, row.building_id, assignment.team_roles or None)
        if assignment.mode == "grab":
            row.assignee_id = actor.id
            row.team_role = next((r for r in assignment.team_roles if r in actor.roles), None)
            return
        chosen = assignment.assignee_id
        if assignment.mode == "round_robin":
            chosen = pick_round_robin({u for u, _ in members}, _last_assignee(session, row))
            if chosen is None:
                raise NoCandidate(roles=", ".join(assignment.team_roles))
        role = next((r for u, r in members if u == chosen), None)
        if role is None:
            raise AssigneeInvalid(errors=[_field_error("assignee", "cases.assignee_invalid")])
        row.assignee_id, row.team_role = chosen, role

    def _step(self, row: Case, subject: Subject, action: str, from_state: str | None,
              to_state: str, *, data: Mapping[str, Any] | None = None,
              assignee_id: int | None = None) -> CaseStep:
        values = dict(data or {})
        note = values.pop("note", None)
        return CaseStep(case_id=row.id, community_id=row.community_id, at=self.clock(),
                        actor_id=subject.actor_id, actor_name=subject.actor_name[:100],
                        action=action, from_state=from_state, to_state=to_state, note=note,
                        data=values, assignee_id=assignee_id,
                        time_spent=values.get("time_spent"))

    def _after_step(self, session: Session, subject: Subject, row: Case, ct: CaseType,
                    plan: TransitionPlan, previous_assignee: int | None) -> None:
        """Tell the new assignee, and the reporter, assignee and watchers of the step."""
        me = {subject.actor_id}
        if row.assignee_id is not None and row.assignee_id != previous_assignee:
            self._tell(session, row, ct, {row.assignee_id} - me, "cases.notice.assigned")
        others = {row.reporter_id, previous_assignee, row.assignee_id,
                  *_watchers(session, row)} - me - {None}
        if plan.opens_rating and row.reporter_id in others:
            self._tell(session, row, ct, {row.reporter_id}, "cases.notice.rate")
            others.discard(row.reporter_id)
        if row.assignee_id != previous_assignee:
            others.discard(row.assignee_id)
        self._tell(session, row, ct, others, "cases.notice.step",
                   transition=label(ct.transition_map[plan.transition].name))

    def _tell(self, session: Session, row: Case, ct: CaseType, users: Iterable[int | None],
              key: str, **extra: Any) -> None:
        params = {"number": row.id, "case_type": label(ct.name),
                  "state": label(ct.state_map[row.state].name), "summary": row.summary[:60],
                  **extra}
        notify(session, users, key, params, f"/cases/{row.id}", community_id=row.community_id)

    # -- edits, comments, attachments, ratings, watching -------------------------------------

    def edit_case(self, session: Session, subject: Subject, case_id: int,
                  body: CaseEdit) -> Case:
        """Change report fields, category or priority of an open case (its reporter, or staff
        holding `cases:update` there)."""
        row = self._case(session, subject, case_id, body.version)
        ct = case_type(row.case_type)
        check_editable(ct, row.state)
        actor = actor_for(subject, row, "cases:update")
        if not (actor.is_reporter or actor.roles):
            raise EditForbidden()
        current = {k: v for k, v in row.data.items() if k in ct.report_fields and v is not None}
        plan = check_report(ct, (), {**current, **body.data},
                            category=body.category or row.category,
                            priority=body.priority or row.priority, system=True)
        before = _snapshot(row)
        changed = {k: v for k, v in plan.data.items() if row.data.get(k) != v}
        _check_photos(session, row, ct, changed)
        self._apply_edit(session, row, ct, plan, changed)
        session.add(self._step(row, subject, "edit", row.state, row.state,
                               data={"changed": sorted(changed)}))
        _flush(session)
        self.audit(session, subject, "cases.edit", "cases", row.id, row.community_id, before,
                   {**_snapshot(row), "changed": changed})
        return row

    def _apply_edit(self, session: Session, row: Case, ct: CaseType, plan: ReportPlan,
                    changed: Mapping[str, Any]) -> None:
        if "place" in changed:
            place = resolve_place(session, row.community_id, plan.data.get("place"))
            row.room_id, row.facility_id = place.room_id, place.facility_id
            row.building_id = place.building_id or row.building_id
            row.lon, row.lat = place.lon, place.lat
        if plan.priority != row.priority and ct.sla:
            due = sla_due(ct, plan.priority, row.created_at)
            row.accept_due, row.close_due, row.warn_at = due
        row.category, row.priority = plan.category, CasePriority(plan.priority)
        row.data = {**row.data, **changed}
        row.summary = _summary(ct, row.data)
        row.updated_at = self.clock()

    def comment_case(self, session: Session, subject: Subject, case_id: int,
                     body: str) -> CaseComment:
        """Comment on an open case; the reporter, assignee and watchers are told."""
        row = self._case(session, subject, case_id, None)
        ct = case_type(row.case_type)
        check_editable(ct, row.state)
        comment = CaseComment(case_id=row.id, community_id=row.community_id,
                              author_id=subject.actor_id, author_name=subject.actor_name[:100],
                              body=body, created_at=self.clock())
        session.add(comment)
        session.flush()
        readers = {row.reporter_id, row.assignee_id, *_watchers(session, row)}
        self._tell(session, row, ct, readers - {subject.actor_id}, "cases.notice.comment")
        self.audit(session, subject, "cases.comment", "cases", row.id, row.community_id, None,
                   {"comment_id": comment.id})
        return comment

    def attach_file(self, session: Session, subject: Subject, case_id: int, content: bytes,
                    name: str | None, content_type: str | None) -> CaseAttachment:
        """Keep a photo or PDF with an open case (415/413/422 for wrong type, size, empty)."""
        row = self._case(session, subject, case_id, None)
        check_editable(case_type(row.case_type), row.state)
        stored = self.files.store(content, name, content_type)
        try:
            attachment = CaseAttachment(
                case_id=row.id, community_id=row.community_id, uploader_id=subject.actor_id,
                file_key=stored.key, name=stored.name, content_type=stored.content_type,
                size=stored.size, created_at=self.clock())
            session.add(attachment)
            session.flush()
            self.audit(session, subject, "cases.attach", "cases", row.id, row.community_id,
                       None, {"attachment_id": attachment.id, "name": stored.name,
                              "content_type": stored.content_type, "size": stored.size})
        except Exception:
            self.files.delete(stored.key)
            raise
        return attachment

    def attachment(self, session: Session, subject: Subject, case_id: int,
                   attachment_id: int) -> CaseAttachment:
        """An attachment of a case the subject can see (404 otherwise)."""
        row = self._case(session, subject, case_id, None)
        found = session.scalar(select(CaseAttachment).where(
            CaseAttachment.id == attachment_id, CaseAttachment.case_id == row.id))
        if found is None:
            raise NotFound()
        return found

    def rate_case(self, session: Session, subject: Subject, case_id: int, stars: Any,
                  comment: str | None = None) -> Case:
        """Rate a finished case once (1–5 stars), as the case type allows."""
        row = self._case(session, subject, case_id, None)
        ct = case_type(row.case_type)
        rating = check_rating(ct, row.state, actor_for(subject, row, "cases:rate"), stars,
                              comment, already_rated=row.rated_at is not None)
        before = _snapshot(row)
        now = self.clock()
        row.rating_stars, row.rating_comment, row.rated_at = rating.stars, rating.comment, now
        row.updated_at = now
        session.add(self._step(row, subject, "rate", row.state, row.state,
                               data={"stars": rating.stars, "comment": rating.comment}))
        _flush(session)
        self._tell(session, row, ct, {row.assignee_id} - {subject.actor_id},
                   "cases.notice.rated", stars=rating.stars)
        self.audit(session, subject, "cases.rate", "cases", row.id, row.community_id, before,
                   {**_snapshot(row), "stars": rating.stars})
        return row

    def watch_case(self, session: Session, subject: Subject, case_id: int,
                   watching: bool) -> bool:
        """Follow or stop following a case; returns whether the subject now follows it."""
        row = self._case(session, subject, case_id, None)
        if subject.actor_id is None:
            raise Forbidden(code="notify.no_inbox")
        current = session.scalar(select(CaseWatcher).where(
            CaseWatcher.case_id == row.id, CaseWatcher.user_id == subject.actor_id))
        if watching and current is None:
            with session.begin_nested():
                session.add(CaseWatcher(case_id=row.id, community_id=row.community_id,
                                        user_id=subject.actor_id, created_at=self.clock()))
        elif not watching and current is not None:
            session.delete(current)
        session.flush()
        return watching

    # -- reading ---------------------------------------------------------------------------

    def detail(self, session: Session, subject: Subject, case_id: int,
               lang: str) -> dict[str, Any]:
        """A case with its timeline, comments, attachments and the subject's next steps."""
        row = self._case(session, subject, case_id, None)
        ct = case_type(row.case_type)
        attachments = session.scalars(select(CaseAttachment).where(
            CaseAttachment.case_id == row.id).order_by(CaseAttachment.id)).all()
        comments = session.scalars(select(CaseComment).where(
            CaseComment.case_id == row.id).order_by(CaseComment.id).limit(1000)).all()
        steps = session.scalars(select(CaseStep).where(
            CaseStep.case_id == row.id).order_by(CaseStep.id)).all()
        actor = actor_for(subject, row)
        return {
            "case": case_ledger.present(row, subject),
            "type_label": ct.name.get(lang), "state_label": _state_label(ct, row.state, lang),
            "sla": _sla(ct, row, self.clock()),
            "timeline": [_step_read(ct, s, attachments, lang) for s in steps],
            "comments": comments,
            "attachments": [attachment_read(a) for a in attachments],
            "transitions": [_option(ct, tr, lang) for tr in allowed_transitions(
                ct, row.state, actor.roles, actor.is_reporter, actor.is_assignee)],
            "watching": subject.actor_id in set(_watchers(session, row)),
        }

    def statistics(self, session: Session, subject: Subject, query: Query, by: str,
                   period: str | None, lang: str) -> dict[str, Any]:
        """Counts and mean times to accept and close, grouped by one dimension (6.5.x.e)."""
        key = _dimension(session, by, period)
        accept_s = _seconds(session, Case.accepted_at, Case.created_at)
        close_s = _seconds(session, Case.closed_at, Case.created_at)
        overdue = case((and_(Case.ended_at.is_(None), Case.close_due < self.clock()), 1),
                       else_=0)
        stmt = case_ledger._where(case_ledger.visible(subject, "stats"), query)
        stmt = stmt.with_only_columns(
            key.label("key"), func.count(), func.count(Case.ended_at),
            func.count(Case.accepted_at), func.count(Case.closed_at), func.sum(overdue),
            func.avg(accept_s), func.avg(close_s)).group_by(key).order_by(key)
        groups = [_stats_row(by, values, lang) for values in session.execute(stmt)]
        return {"by": by, "period": period if by == "period" else None, "groups": groups,
                "total": sum(g["count"] for g in groups),
                "mean_accept_s": _weighted(groups, "mean_accept_s", "accepted"),
                "mean_close_s": _weighted(groups, "mean_close_s", "closed")}

    # -- plans -----------------------------------------------------------------------------

    def create_plan(self, session: Session, subject: Subject, body: PlanCreate) -> CasePlan:
        """Create a maintenance, inspection or patrol plan; 422 when it is not workable."""
        scope = _scope(subject, "plans:create")
        community_id = plan_ledger._community_for(scope, body.community_id)
        values = body.model_dump(exclude={"community_id"})
        values["case_type"] = values["case_type"] or PLAN_TYPES[body.kind]
        now = self.clock()
        plan = CasePlan(community_id=community_id, created_at=now, updated_at=now,
                        generated_until=now, **values)
        schedule = self._check_plan(session, plan)
        plan.next_run_at = next_run(schedule, now)
        if not row_in_scope(scope, community_id, plan.building_id, None,
                            plan_ledger.scope_columns()):
            raise Forbidden(code="resource.out_of_scope")
        session.add(plan)
        session.flush()
        self.audit(session, subject, "plans.create", "plans", plan.id, community_id, None,
                   plan_ledger.present(plan, SYSTEM))
        return plan

    def update_plan(self, session: Session, subject: Subject, plan_id: int,
                    body: BaseModel) -> CasePlan:
        """Change a plan; runs already generated stay, later ones follow the new settings."""
        scope = _scope(subject, "plans:update")
        plan = plan_ledger.get(session, subject, plan_id, "update")
        before = plan_ledger.present(plan, SYSTEM)
        for key, value in body.model_dump(exclude_unset=True).items():
            if value is not None or key in CLEARABLE_PLAN_FIELDS:
                setattr(plan, key, value)
        schedule = self._check_plan(session, plan)
        now = self.clock()
        plan.next_run_at = next_run(schedule, now)
        plan.updated_at = now
        if not row_in_scope(scope, plan.community_id, plan.building_id, None,
                            plan_ledger.scope_columns()):
            raise Forbidden(code="resource.out_of_scope")
        session.flush()
        self.audit(session, subject, "plans.update", "plans", plan.id, plan.community_id,
                   before, plan_ledger.present(plan, SYSTEM))
        return plan

    def _check_plan(self, session: Session, plan: CasePlan) -> Schedule:
        """Check every setting of a plan; the parsed schedule, or 422 naming the fields."""
        schedule = plan_schedule(plan.schedule)
        errors = _plan_reference_errors(session, plan)
        if plan.case_type not in case_types():
            errors.append(_field_error("case_type", "cases.unknown_type",
                                      case_type=plan.case_type[:40]))
        if errors:
            raise PlanInvalid(errors=errors)
        first = next(iter(next_runs(schedule, self.clock(), 1)), None) or dt.datetime.now(dt.UTC)
        try:
            self.task_report(session, plan, first)
        except FieldsInvalid as exc:
            raise PlanInvalid(errors=[_field_error("case_type", "cases.plan.type_unsuitable",
                                                  case_type=plan.case_type,
                                                  fields=", ".join(e["field"]
                                                                   for e in exc.errors))]
                              ) from None
        return schedule

    def task_report(self, session: Session, plan: CasePlan, run_at: dt.datetime) -> ReportPlan:
        """The checked report of the task a plan's run opens."""
        ct = case_type(plan.case_type)
        route = session.get(PatrolRoute, plan.route_id) if plan.route_id else None
        round_end = run_at + dt.timedelta(minutes=route.round_minutes) if route else None
        values = {"plan": plan.id or 1, "planned_at": run_at.isoformat(),
                  "device": plan.device_id, "checklist": plan.checklist,
                  "place": _place_value("facility", plan.facility_id)
                  or _place_value("building", plan.building_id),
                  "route": plan.route_id, "round_start": run_at.isoformat(),
                  "round_end": round_end.isoformat() if round_end else None}
        data = {k: v for k, v in values.items() if k in ct.report_fields and v is not None}
        return check_report(ct, (), data, category=plan.category, priority=plan.priority,
                            system=True)

    def open_task(self, session: Session, plan: CasePlan, run_at: dt.datetime) -> Case | None:
        """Open the task of one run, once: None when the run exists already."""
        now = self.clock()
        try:
            with session.begin_nested():
                run = PlanRun(plan_id=plan.id, community_id=plan.community_id,
                              planned_at=run_at, created_at=now)
                session.add(run)
                session.flush()
        except IntegrityError:
            return None
        ct = case_type(plan.case_type)
        row = self._build(session, plan.community_id, ct, self.task_report(session, plan, run_at),
                          CaseSource.plan, assignee_id=plan.responsible_user_id,
                          sla_from=max(now, run_at))
        self._open(session, SYSTEM, row, ct)
        run.case_id = row.id
        return row

    def plan_runs(self, session: Session, subject: Subject, plan_id: int,
                  start: dt.datetime, end: dt.datetime) -> list[PlanRun]:
        """The generated runs of a plan in [start, end)."""
        plan = plan_ledger.get(session, subject, plan_id)
        return list(session.scalars(select(PlanRun).where(
            PlanRun.plan_id == plan.id, PlanRun.planned_at >= start, PlanRun.planned_at < end,
        ).order_by(PlanRun.planned_at).limit(1000)))

    def plan_preview(self, session: Session, subject: Subject, plan_id: int,
                     count: int) -> list[dict[str, Any]]:
        """The plan's next runs and when each one's reminders go out."""
        plan = plan_ledger.get(session, subject, plan_id)
        schedule = plan_schedule(plan.schedule)
        leads = plan_leads(plan)
        return [{"planned_at": run.astimezone(dt.UTC),
                 "reminders": [x.astimezone(dt.UTC) for x in reminders(schedule, run, leads)]
                 if leads else []}
                for run in next_runs(schedule, self.clock(), count)]

    def plan_execution(self, session: Session, subject: Subject, plan_id: int,
                       start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """Planned, executed, late and missed runs of a period, and the execution rate."""
        plan = plan_ledger.get(session, subject, plan_id)
        rate = execution(session, plan, start, end, self.clock())
        return {"start": start, "end": end, **rate._asdict()}

    # -- patrol ----------------------------------------------------------------------------

    def upload_checkins(self, session: Session, subject: Subject, route_id: int,
                        batch: CheckinBatch) -> dict[str, Any]:
        """Store check-ins (idempotent) and evaluate the rounds they touch."""
        route = route_ledger.get(session, subject, route_id, "checkin")
        now = self.clock()
        late = [i for i, r in enumerate(batch.records) if r.at > now + MAX_CLOCK_SKEW]
        if late:
            raise CheckinsInvalid(errors=[_field_error(f"records[{i}].at", "cases.checkins_future")
                                          for i in late[:20]])
        spec = route_spec(session, route)
        collector = batch.collector or ""
        stored = _insert_checkins(session, [
            {"community_id": route.community_id, "route_id": route.id, "collector": collector,
             "point_code": r.point, "at": r.at, "user_id": subject.actor_id,
             "received_at": now} for r in batch.records])
        codes = {p.code for p in spec.points}
        records = [CheckIn(r.point, r.at, collector) for r in batch.records]
        windows = _route_windows(session, spec, min(r.at for r in records) - spec.round_duration,
                                 max(r.at for r in records) + dt.timedelta(microseconds=1))
        rounds = evaluate_rounds(session, route, spec, windows, now)
        self.audit(session, subject, "patrol.checkins", "patrol_routes", route.id,
                   route.community_id, None, {"collector": collector, "records": len(records),
                                              "stored": stored})
        return {"records": len(records), "stored": stored, "duplicates": len(records) - stored,
                "unknown_points": sum(1 for r in records if r.point not in codes),
                "unmatched": evaluate_batch(spec, windows, records).unmatched,
                "rounds": [_round_read(r) for r in rounds]}

    def patrol_rounds(self, session: Session, subject: Subject, route_id: int,
                      start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """The rounds of a route in [start, end) with visited and missed points."""
        route = route_ledger.get(session, subject, route_id)
        spec = route_spec(session, route)
        windows = _route_windows(session, spec, start, end)
        rounds = evaluate_rounds(session, route, spec, windows, None)
        return [_round_read(r) for r in rounds]


# ---------------------------------------------------------------------------------------------
# Reporting helpers


def _own_households(subject: Subject, community_id: int) -> frozenset[int]:
    """The households the subject reports for as a resident in this community."""
    found: set[int] = set()
    for g in subject.grants:
        clause = g.clause
        if (grants(g.permissions, "cases:create") and clause.households is not None
                and (clause.communities is None or community_id in clause.communities)):
            found |= clause.households
    return frozenset(found)


def _resident_households(session: Session, user_id: int, community_id: int) -> frozenset[int]:
    return frozenset(h for h in session.scalars(select(RoleAssignment.scope_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.community_id == community_id,
        RoleAssignment.scope_kind == ScopeKind.household)) if h is not None)


def _pick_household(households: frozenset[int], requested: int | None, own: bool) -> int:
    if requested is not None:
        if requested not in households:
            if own:
                raise Forbidden(code="resource.out_of_scope")
            raise HouseholdRequired(errors=[_field_error("household_id",
                                                         "cases.household_required")],
                                    extra={"households": sorted(households)})
        return requested
    if len(households) == 1:
        return next(iter(households))
    raise HouseholdRequired(errors=[_field_error("household_id", "cases.household_required")],
                            extra={"households": sorted(households)})


def _source(subject: Subject, body: CaseReport, resident: bool) -> CaseSource:
    if body.source is None:
        if resident:
            return CaseSource.resident_app
        return CaseSource.on_behalf if body.on_behalf_of is not None else CaseSource.pc
    allowed = set(HUMAN_SOURCES) | ({CaseSource.analysis} if subject.kind != "user" else set())
    if body.source not in allowed:
        raise SourceNotAllowed(source=str(body.source), extra={"allowed": sorted(allowed)},
                               errors=[_field_error("source", "cases.source_not_allowed",
                                                    source=str(body.source))])
    return CaseSource(body.source)


def _summary(ct: CaseType, data: Mapping[str, Any]) -> str:
    """The first filled text field: what lists show and the keyword search reads."""
    for spec in ct.report_fields.values():
        value = data.get(spec.key)
        if spec.type in ("string", "text") and isinstance(value, str) and value:
            return value[:200]
    return ""


_LINK_FIELDS = {"device": "device_id", "alarm": "alarm_id", "person": "person_id"}


def _data_links(ct: CaseType, data: Mapping[str, Any]) -> dict[str, int]:
    """Device, alarm and person ids named by the type's fields of those types."""
    links: dict[str, int] = {}
    for spec in ct.fields:
        column = _LINK_FIELDS.get(spec.type)
        if column and column not in links and isinstance(data.get(spec.key), int):
            links[column] = data[spec.key]
    return links


def _alarm_data(ct: CaseType, alarm: AlarmCase) -> dict[str, Any]:
    """The alarm's facts, under the keys the case type declares."""
    photos = next((f.key for f in ct.report_fields.values() if f.type == "photo_list"), None)
    values: dict[str, Any] = {
        "alarm": alarm.alarm_id, "device": alarm.device_id, "alarm_kind": alarm.kind[:100],
        "alarm_level": alarm.level, "occurred_at": alarm.occurred_at,
        "description": alarm.description or alarm.kind, "place": alarm.place(),
        **({photos: list(alarm.snapshots)} if photos and alarm.snapshots else {}),
    }
    source = ct.report_fields.get("source")
    if source is not None and alarm.source in {v.key for v in source.values}:
        values["source"] = alarm.source
    return {k: v for k, v in values.items() if k in ct.report_fields and v is not None}


def _next_roles(ct: CaseType, state: str) -> set[str]:
    """Roles that may act on a case in this state: whom to tell of a new case."""
    return {r for tr in ct.transitions if state in tr.sources
            for r in tr.roles if r not in PSEUDO_ROLES}


def _watchers(session: Session, row: Case) -> list[int]:
    return list(session.scalars(select(CaseWatcher.user_id).where(
        CaseWatcher.case_id == row.id)))


def _last_assignee(session: Session, row: Case) -> int | None:
    return session.scalar(select(Case.assignee_id).where(
        Case.community_id == row.community_id, Case.case_type == row.case_type,
        Case.assignee_id.is_not(None), Case.id != row.id).order_by(
        Case.updated_at.desc(), Case.id.desc()).limit(1))


def _snapshot(row: Case) -> dict[str, Any]:
    return {"case_type": row.case_type, "state": row.state, "priority": str(row.priority),
            "category": row.category, "assignee_id": row.assignee_id, "version": row.version}


def _flush(session: Session) -> None:
    """Flush; a concurrent step that won makes this one stale (409)."""
    try:
        session.flush()
    except StaleDataError:
        raise CaseStale() from None


def _apply(row: Case, ct: CaseType, plan: TransitionPlan, now: dt.datetime) -> None:
    """Write a checked step into the case: state, fields, accept/close/end times."""
    row.state = plan.to_state
    fields = {k: v for k, v in plan.data.items() if k in ct.field_map}
    if fields:
        row.data = {**row.data, **fields}
    if plan.accepted and row.accepted_at is None:
        row.accepted_at = now
    if ct.state_map[plan.to_state].closed and row.closed_at is None:
        row.closed_at = now
    if plan.closes:
        row.ended_at = now
    row.updated_at = now


def _photo_keys(ct: CaseType, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, reference) of every photo in photo-list values."""
    found = []
    for key, value in data.items():
        spec = ct.field_map.get(key)
        if (key == "photos" or (spec is not None and spec.type == "photo_list")) and value:
            found += [(f"{key}[{i}]", str(ref)) for i, ref in enumerate(value)]
    return found


def _check_photos(session: Session, row: Case, ct: CaseType,
                  data: Mapping[str, Any]) -> list[int]:
    """Photo references that are attachment ids must be this case's images (else 422)."""
    refs = [(path, int(ref)) for path, ref in _photo_keys(ct, data) if ref.isdigit()]
    if not refs:
        return []
    known = set() if row.id is None else set(session.scalars(select(CaseAttachment.id).where(
        CaseAttachment.case_id == row.id, CaseAttachment.content_type.in_(sorted(IMAGES)),
        CaseAttachment.id.in_([ref for _, ref in refs]))))
    errors = [_field_error(path, "cases.photo_unknown", ref=ref) for path, ref in refs
              if ref not in known]
    if errors:
        raise FieldsInvalid(errors=errors)
    return [ref for _, ref in refs]


def _link_photos(session: Session, row: Case, photos: Sequence[int], step_id: int) -> None:
    for attachment in session.scalars(select(CaseAttachment).where(
            CaseAttachment.case_id == row.id, CaseAttachment.id.in_(list(photos)),
            CaseAttachment.step_id.is_(None))):
        attachment.step_id = step_id


def _finish_run(session: Session, row: Case, ct: CaseType, now: dt.datetime) -> None:
    """A plan's task ended: its run is done (closed state) or skipped (other end)."""
    run = session.scalar(select(PlanRun).where(PlanRun.case_id == row.id))
    if run is None:
        return
    done = ct.state_map[row.state].closed
    run.status = PlanRunStatus.done if done else PlanRunStatus.skipped
    run.completed_at = now if done else None


# ---------------------------------------------------------------------------------------------
# Reading helpers


def _state_label(ct: CaseType, state: str | None, lang: str) -> str | None:
    if state is None:
        return None
    spec = ct.state_map.get(state)
    return spec.name.get(lang) if spec else state


def _action_label(ct: CaseType, action: str, lang: str) -> str:
    tr = ct.transition_map.get(action)
    return tr.name.get(lang) if tr else t(f"cases.action.{action}", lang)


def attachment_read(a: CaseAttachment) -> dict[str, Any]:
    """An attachment's metadata and download URL."""
    return {"id": a.id, "case_id": a.case_id, "step_id": a.step_id,
            "uploader_id": a.uploader_id, "name": a.name, "content_type": a.content_type,
            "size": a.size, "created_at": a.created_at,
            "url": f"/api/v1/cases/{a.case_id}/attachments/{a.id}"}


def _step_read(ct: CaseType, step: CaseStep, attachments: Sequence[CaseAttachment],
               lang: str) -> dict[str, Any]:
    return {
        "id": step.id, "at": step.at, "actor_id": step.actor_id, "actor_name": step.actor_name,
        "action": step.action, "action_label": _action_label(ct, step.action, lang),
        "from_state": step.from_state, "from_label": _state_label(ct, step.from_state, lang),
        "to_state": step.to_state, "to_label": _state_label(ct, step.to_state, lang) or "",
        "note": step.note, "data": step.data, "assignee_id": step.assignee_id,
        "time_spent": step.time_spent,
        "photos": [attachment_read(a) for a in attachments if a.step_id == step.id],
    }


def _option(ct: CaseType, tr: Any, lang: str) -> dict[str, Any]:
    keys = list(step_fields(ct, tr))
    required = [*tr.required, *(["assignee"] if tr.assigns == "assign" else [])]
    return {"key": tr.key, "label": tr.name.get(lang), "to_state": tr.target,
            "required": required, "optional": [k for k in keys if k not in required]}


def _sla(ct: CaseType, row: Case, now: dt.datetime) -> str | None:
    if not ct.sla:
        return None
    return sla_status(ct, row.priority, row.created_at, now, row.accepted_at, row.closed_at)


def describe_type(ct: CaseType, lang: str, can_report: bool) -> dict[str, Any]:
    """A case type with every label in `lang` (what the portal's forms are built from)."""
    def options(items: Iterable[Any]) -> list[dict[str, str]]:
        """Keys with their labels."""
        return [{"key": o.key, "label": o.name.get(lang)} for o in items]

    return {
        "id": ct.id, "label": ct.name.get(lang), "family": ct.family, "can_report": can_report,
        "default_priority": ct.default_priority, "categories": options(ct.categories),
        "fields": [{"key": f.key, "label": f.name.get(lang), "type": f.type,
                    "required": f.required, "report": f.report, "max_length": f.max_length,
                    "values": options(f.values)} for f in ct.fields],
        "states": [{"key": s.key, "label": s.name.get(lang), "terminal": s.terminal,
                    "accepted": s.accepted, "closed": s.closed} for s in ct.states],
        "initial": ct.initial,
        "transitions": [{"key": tr.key, "label": tr.name.get(lang), "sources": list(tr.sources),
                         "target": tr.target, "roles": list(tr.roles),
                         "required": list(tr.required), "optional": list(tr.optional),
                         "assigns": tr.assigns} for tr in ct.transitions],
        "dispatch_mode": ct.dispatch.mode if ct.dispatch else None,
        "team_roles": list(ct.dispatch.team_roles) if ct.dispatch else [],
        "rating": ct.rating is not None,
    }


STAT_DIMENSIONS = ("case_type", "category", "state", "priority", "source", "building_id",
                   "room_id", "facility_id", "assignee_id", "period")


def _dimension(session: Session, by: str, period: str | None) -> ColumnElement[Any]:
    if by not in STAT_DIMENSIONS:
        raise BadRequest(code="stats.bad_field", name=by[:60])
    if by == "period":
        return period_key(session, Case.created_at, period or "month")
    if period:
        raise BadRequest(code="stats.bad_field", name="period")
    column: ColumnElement[Any] = getattr(Case, by)
    return column


def _seconds(session: Session, end: Any, start: Any) -> ColumnElement[Any]:
    """Seconds between two timestamps, in the backend's SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _group_label(by: str, key: Any, lang: str) -> str:
    if key is None:
        return "—"
    types = case_types()
    if by == "case_type":
        return types[key].name.get(lang) if key in types else str(key)
    if by in ("state", "category"):
        for ct in types.values():
            options = ct.state_map if by == "state" else {c.key: c for c in ct.categories}
            if key in options:
                return options[key].name.get(lang)
    if by in ("priority", "source"):
        return enum_label(CasePriority if by == "priority" else CaseSource, key, lang)
    return str(key)


def _stats_row(by: str, values: Sequence[Any], lang: str) -> dict[str, Any]:
    key, count, ended, accepted, closed, overdue, accept_s, close_s = values
    return {"key": key, "label": _group_label(by, key, lang), "count": count,
            "open": count - ended, "accepted": accepted, "closed": closed,
            "overdue": int(overdue or 0),
            "mean_accept_s": round(float(accept_s), 1) if accept_s is not None else None,
            "mean_close_s": round(float(close_s), 1) if close_s is not None else None}


def _weighted(groups: Sequence[Mapping[str, Any]], mean: str, weight: str) -> float | None:
    total = sum(g[weight] for g in groups if g[mean] is not None)
    if not total:
        return None
    return round(sum(g[mean] * g[weight] for g in groups if g[mean] is not None) / total, 1)


# ---------------------------------------------------------------------------------------------
# Plan helpers


def plan_schedule(data: Mapping[str, Any]) -> Schedule:
    """A plan's schedule; 422 with fields named `schedule.<field>` when it is not valid."""
    try:
        return parse_schedule(data)
    except ScheduleInvalid as exc:
        raise ScheduleInvalid(errors=[{**e, "field": f"schedule.{e['field']}"}
                                      for e in exc.errors]) from None


def next_run(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The schedule's first run after `now`, in UTC (None when it has ended)."""
    found = next_runs(schedule, now, 1)
    return found[0].astimezone(dt.UTC) if found else None


def plan_leads(plan: CasePlan) -> list[dt.timedelta]:
    """The plan's reminder leads as durations."""
    return [parse_duration(lead) for lead in plan.reminder_leads or []]


def _plan_reference_errors(session: Session, plan: CasePlan) -> list[dict[str, Any]]:
    """Problems with the people, places, route and leads a plan names."""
    errors = []
    for index, lead in enumerate(plan.reminder_leads or []):
        try:
            parse_duration(lead)
        except ValueError:
            errors.append(_field_error(f"reminder_leads[{index}]", "cases.plan.bad_lead",
                                      value=str(lead)[:20]))
    if plan.responsible_role is not None and plan.responsible_role not in builtin_roles():
        errors.append(_field_error("responsible_role", "cases.plan.unknown_role",
                                  role=plan.responsible_role))
    if plan.responsible_user_id is not None and not any(
            u == plan.responsible_user_id
            for u, _ in team(session, plan.community_id, plan.building_id, None)):
        errors.append(_field_error("responsible_user_id", "cases.plan.responsible_unknown"))
    if plan.kind == PlanKind.patrol and plan.route_id is None:
        errors.append(_field_error("route_id", "cases.plan.route_required"))
    for model, name in ((Building, "building_id"), (Facility, "facility_id"),
                        (PatrolRoute, "route_id")):
        row_id = getattr(plan, name)
        found = session.get(model, row_id) if row_id else None
        if row_id and (found is None or found.community_id != plan.community_id
                       or found.deleted_at is not None):
            errors.append(_field_error(name, "cases.plan.reference_unknown", id=row_id))
    return errors


def execution(session: Session, plan: CasePlan, start: dt.datetime, end: dt.datetime,
              now: dt.datetime) -> ExecutionRate:
    """The execution rate of a plan over [start, end), counting from the plan's creation."""
    schedule = plan_schedule(plan.schedule)
    planned = runs_between(schedule, max(start, plan.created_at), end) if end > start else []
    done = session.execute(select(PlanRun.planned_at, PlanRun.completed_at).where(
        PlanRun.plan_id == plan.id, PlanRun.planned_at >= start, PlanRun.planned_at < end,
        PlanRun.status == PlanRunStatus.done, PlanRun.completed_at.is_not(None)))
    completed = {planned: finished for planned, finished in done if finished is not None}
    grace = case_type(plan.case_type).sla_for(plan.priority).close
    return execution_rate(planned, completed, as_of=now, grace=grace)


# ---------------------------------------------------------------------------------------------
# Patrol helpers


def route_spec(session: Session, route: PatrolRoute) -> RouteSpec:
    """The route's points in patrol order, as the schedule module evaluates them."""
    points = session.scalars(select(PatrolPoint).where(
        PatrolPoint.route_id == route.id, PatrolPoint.deleted_at.is_(None)).order_by(
        PatrolPoint.seq, PatrolPoint.id)).all()
    if not points:
        raise ValidationFailed(code="cases.patrol.no_points", errors=[
            _field_error("route_id", "cases.patrol.no_points")])
    return RouteSpec(route.id, tuple(RoutePoint(p.code, p.name) for p in points),
                     dt.timedelta(minutes=route.round_minutes))


def _patrol_plans(session: Session, route_id: int) -> list[CasePlan]:
    return list(session.scalars(select(CasePlan).where(
        CasePlan.route_id == route_id, CasePlan.kind == PlanKind.patrol,
        CasePlan.deleted_at.is_(None)).order_by(CasePlan.id)))


def _route_windows(session: Session, spec: RouteSpec, start: dt.datetime,
                   end: dt.datetime) -> list[RoundWindow]:
    """Windows of the route's planned rounds that start in [start, end), in time order."""
    windows: dict[dt.datetime, RoundWindow] = {}
    for plan in _patrol_plans(session, spec.id):
        for window in round_windows(spec, plan_schedule(plan.schedule), start, end):
            windows.setdefault(window.start, window)
    return [windows[k] for k in sorted(windows)]


def evaluate_rounds(session: Session, route: PatrolRoute, spec: RouteSpec,
                    windows: Sequence[RoundWindow], now: dt.datetime | None) -> list[RoundReport]:
    """Evaluate rounds from every stored check-in; record the counts of ended rounds' runs."""
    if not windows:
        return []
    stored = session.execute(select(PatrolCheckin.point_code, PatrolCheckin.at,
                                    PatrolCheckin.collector).where(
        PatrolCheckin.route_id == route.id, PatrolCheckin.at >= windows[0].start,
        PatrolCheckin.at <= windows[-1].end))
    report = evaluate_batch(spec, windows, [CheckIn(p, at, c) for p, at, c in stored])
    if now is not None:
        _record_rounds(session, route, [r for r in report.rounds if r.window.end <= now])
    return list(report.rounds)


def _record_rounds(session: Session, route: PatrolRoute, rounds: Sequence[RoundReport]) -> None:
    by_start = {r.window.start: r for r in rounds}
    if not by_start:
        return
    plans = [p.id for p in _patrol_plans(session, route.id)]
    for run in session.scalars(select(PlanRun).where(
            PlanRun.plan_id.in_(plans), PlanRun.planned_at.in_(list(by_start)))):
        found = by_start[run.planned_at]
        run.checked_points, run.missed_points = len(found.visited), len(found.missed)


def _round_read(report: RoundReport) -> dict[str, Any]:
    return {"planned_at": report.window.start, "window_end": report.window.end,
            "visited": report.visited, "missed": [p.code for p in report.missed],
            "out_of_order": [p.code for p in report.out_of_order],
            "complete": report.complete}


def _insert_checkins(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert check-ins, ignoring records already stored; how many were new."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(PatrolCheckin).on_conflict_do_nothing(
        index_elements=["route_id", "collector", "point_code", "at"])
    stored = 0
    for start in range(0, len(rows), 1000):
        result = session.execute(stmt.returning(PatrolCheckin.id), list(rows[start:start + 1000]))
        stored += len(result.all())
    return stored
