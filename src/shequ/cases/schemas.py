"""Input and output models of cases, plans and patrol.

Inputs refuse unknown fields. A case's own fields travel in `data` and are checked by the
case engine against the case type (so one schema serves every type); everything else is
checked here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field

from shequ.cases.models import (
    Case,
    CasePlan,
    CasePriority,
    CaseSource,
    PatrolPoint,
    PatrolRoute,
    PlanKind,
    PlanRun,
)
from shequ.kit.schema import FromRow, Id, StrictInput, partial, row_schema

Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Data = Annotated[dict[str, Any], Field(default_factory=dict)]
MAX_BATCH = 10_000

CaseRead = row_schema(Case, "CaseRead")
PlanRead = row_schema(CasePlan, "PlanRead")
PatrolRouteRead = row_schema(PatrolRoute, "PatrolRouteRead")
PatrolPointRead = row_schema(PatrolPoint, "PatrolPointRead")
PlanRunRead = row_schema(PlanRun, "PlanRunRead")


# -- cases -------------------------------------------------------------------------------------


class NoInput(BaseModel):
    """The generic create/update input of a ledger written only through verbs: nothing."""

    model_config = StrictInput


class CaseLinks(BaseModel):
    """Objects of other layers a case concerns (ids; checked by their layers)."""

    model_config = StrictInput
    device_id: Id | None = None
    alarm_id: Id | None = None
    person_id: Id | None = None
    vehicle_id: Id | None = None


class CaseReport(BaseModel):
    """A new case: its type, category, priority and the type's fields in `data`."""

    model_config = StrictInput
    community_id: Id | None = None
    case_type: Key
    category: Key | None = None
    priority: CasePriority | None = None
    source: CaseSource | None = None
    data: Data
    links: CaseLinks | None = None
    household_id: Id | None = Field(default=None, description="the reporter's household "
                                    "(a room id) when they have several")
    on_behalf_of: Id | None = Field(default=None, description="the user (a resident) staff "
                                    "report for; they become the reporter")


class CaseStepInput(BaseModel):
    """A step: the transition, its fields and the version the caller last saw."""

    model_config = StrictInput
    transition: Key
    data: Data
    version: int | None = Field(default=None, ge=1, le=2**62,
                                description="expected version (or send If-Match)")


class CaseEdit(BaseModel):
    """A change to a case's report fields, category or priority."""

    model_config = StrictInput
    category: Key | None = None
    priority: CasePriority | None = None
    data: Data
    version: int | None = Field(default=None, ge=1, le=2**62)


class CommentInput(BaseModel):
    """A comment."""

    model_config = StrictInput
    body: str = Field(min_length=1, max_length=2000)


class RatingInput(BaseModel):
    """A satisfaction rating; the case type decides who may rate and when."""

    model_config = StrictInput
    stars: int
    comment: str | None = Field(default=None, max_length=2000)


class AttachmentRead(BaseModel):
    """An attachment's metadata and where to download it."""

    model_config = FromRow
    id: int
    case_id: int
    step_id: int | None
    uploader_id: int | None
    name: str
    content_type: str
    size: int
    created_at: dt.datetime
    url: str


class CommentRead(BaseModel):
    """A comment on a case."""

    model_config = FromRow
    id: int
    case_id: int
    author_id: int | None
    author_name: str
    body: str
    created_at: dt.datetime


class StepRead(BaseModel):
    """One step of the timeline, with labels in the reader's language."""

    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    action: str
    action_label: str
    from_state: str | None
    from_label: str | None
    to_state: str
    to_label: str
    note: str | None
    data: dict[str, Any]
    assignee_id: int | None
    time_spent: int | None
    photos: list[AttachmentRead]


class TransitionOption(BaseModel):
    """A step the reader may take now, with the fields it asks for."""

    key: str
    label: str
    to_state: str | None
    required: list[str]
    optional: list[str]


class CaseDetail(BaseModel):
    """A case with its timeline, comments, attachments and the reader's next steps."""

    case: dict[str, Any]
    type_label: str
    state_label: str
    sla: str | None
    timeline: list[StepRead]
    comments: list[CommentRead]
    attachments: list[AttachmentRead]
    transitions: list[TransitionOption]
    watching: bool


class StatsRow(BaseModel):
    """One group of the case statistics."""

    key: Any
    label: str
    count: int
    open: int
    accepted: int
    closed: int
    overdue: int
    mean_accept_s: float | None
    mean_close_s: float | None


class CaseStats(BaseModel):
    """Counts and mean times to accept and to close, grouped by one dimension."""

    by: str
    period: str | None
    groups: list[StatsRow]
    total: int
    mean_accept_s: float | None
    mean_close_s: float | None


# -- plans -------------------------------------------------------------------------------------


class PlanCreate(BaseModel):
    """A maintenance, inspection or patrol plan."""

    model_config = StrictInput
    community_id: Id | None = None
    name: str = Field(min_length=1, max_length=100)
    kind: PlanKind
    case_type: Key | None = Field(default=None, description="defaults by kind")
    category: Key | None = None
    priority: CasePriority = CasePriority.normal
    schedule: dict[str, Any]
    active: bool = True
    responsible_user_id: Id | None = None
    responsible_role: Key | None = None
    reminder_leads: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list,
                                                                        max_length=5)
    device_id: Id | None = None
    building_id: Id | None = None
    facility_id: Id | None = None
    route_id: Id | None = None
    checklist: str | None = Field(default=None, max_length=4000)


PlanUpdate = partial(PlanCreate, exclude=("community_id", "kind"))


class PlanRunPage(BaseModel):
    """Runs of a plan."""

    items: list[PlanRunRead]  # type: ignore[valid-type]


class RunPreview(BaseModel):
    """A coming run and when its reminders go out."""

    planned_at: dt.datetime
    reminders: list[dt.datetime]


class ExecutionRead(BaseModel):
    """A plan's execution over a period (6.4.1.e/g)."""

    start: dt.datetime
    end: dt.datetime
    planned: int
    counted: int
    executed: int
    on_time: int
    late: int
    missed: int
    pending: int
    unplanned: int
    rate: float | None
    on_time_rate: float | None


# -- patrol ------------------------------------------------------------------------------------


class PatrolRouteCreate(BaseModel):
    """A patrol route."""

    model_config = StrictInput
    community_id: Id | None = None
    name: str = Field(min_length=1, max_length=100)
    round_minutes: int = Field(default=60, ge=1, le=24 * 60)
    active: bool = True
    notes: str | None = Field(default=None, max_length=2000)


class PatrolPointCreate(BaseModel):
    """A patrol point of a route."""

    model_config = StrictInput
    community_id: Id | None = None
    route_id: Id
    seq: int = Field(ge=1, le=10_000)
    code: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.:-]+$")
    name: str = Field(min_length=1, max_length=100)
    device_id: Id | None = None
    facility_id: Id | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


class CheckinRecord(BaseModel):
    """One check-in: the point's tag code and when (with a UTC offset)."""

    model_config = StrictInput
    point: str = Field(min_length=1, max_length=64)
    at: AwareDatetime


class CheckinBatch(BaseModel):
    """Check-ins of one route: one online, or an offline collector's batch."""

    model_config = StrictInput
    collector: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="the offline collector; none for online")
    records: list[CheckinRecord] = Field(min_length=1, max_length=MAX_BATCH)


class RoundRead(BaseModel):
    """One patrol round: which points were checked, missed or out of order."""

    planned_at: dt.datetime
    window_end: dt.datetime
    visited: dict[str, dt.datetime]
    missed: list[str]
    out_of_order: list[str]
    complete: bool


class CheckinResult(BaseModel):
    """What an upload stored and the rounds it touched."""

    records: int
    stored: int
    duplicates: int
    unknown_points: int
    unmatched: int
    rounds: list[RoundRead]


# -- case types --------------------------------------------------------------------------------


class OptionRead(BaseModel):
    """A category or enum value with its label."""

    key: str
    label: str


class FieldRead(BaseModel):
    """A field of a case type."""

    key: str
    label: str
    type: str
    required: bool
    report: bool
    max_length: int | None
    values: list[OptionRead]


class StateRead(BaseModel):
    """A state of a case type."""

    key: str
    label: str
    terminal: bool
    accepted: bool
    closed: bool


class TransitionRead(BaseModel):
    """A transition of a case type."""

    key: str
    label: str
    sources: list[str]
    target: str | None
    roles: list[str]
    required: list[str]
    optional: list[str]
    assigns: str | None


class CaseTypeRead(BaseModel):
    """A case type as the portal shows it, in the reader's language."""

    id: str
    label: str
    family: str
    can_report: bool
    default_priority: str
    categories: list[OptionRead]
    fields: list[FieldRead]
    states: list[StateRead]
    initial: str
    transitions: list[TransitionRead]
    dispatch_mode: str | None
    team_roles: list[str]
    rating: bool
