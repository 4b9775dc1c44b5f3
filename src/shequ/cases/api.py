"""Case, plan and patrol routes: parse, authorise, call the verb, return.

The generic ledger routes (`/cases`, `/plans`, `/patrol_routes`, `/patrol_points`: list,
get, export, stats, meta) are mounted from `ledgers.py`; these are the verbs and the reads
that need more than a ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, Response, UploadFile

from shequ.api.deps import CurrentSubject, ReadSession, ServicesDep, WriteSession
from shequ.cases import service as verbs
from shequ.cases.ledgers import cases as case_ledger
from shequ.cases.ledgers import plans as plan_ledger
from shequ.cases.schemas import (
    AttachmentRead,
    CaseDetail,
    CaseEdit,
    CaseRead,
    CaseReport,
    CaseStats,
    CaseStepInput,
    CaseTypeRead,
    CheckinBatch,
    CheckinResult,
    CommentInput,
    CommentRead,
    ExecutionRead,
    PlanCreate,
    PlanRead,
    PlanRunRead,
    PlanUpdate,
    RatingInput,
    RoundRead,
    RunPreview,
)
from shequ.kit import features
from shequ.kit.errors import BadRequest
from shequ.kit.files import default_store
from shequ.kit.i18n import current_language
from shequ.kit.ledger_api import json_response
from shequ.kit.schema import MAX_ID
from shequ.platform.scoping import Subject

router = APIRouter()
features.provide("feature:cases")

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=40,
                                       description="the case version last seen")]
Since = Annotated[dt.datetime, Query(description="start (inclusive), ISO 8601")]
Until = Annotated[dt.datetime, Query(description="end (exclusive), ISO 8601")]
MAX_SPAN = dt.timedelta(days=400)


def case_service(services: ServicesDep) -> verbs.CaseService:
    """The case verbs bound to the platform's audit log and the file store."""
    return verbs.CaseService(audit=services.platform.record, files=default_store())


CaseVerbs = Annotated[verbs.CaseService, Depends(case_service)]


def _period(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start, end = (x if x.tzinfo else x.replace(tzinfo=dt.UTC) for x in (start, end))
    if not start < end <= start + MAX_SPAN:
        raise BadRequest(code="request.bad_filter", name="end", value=end.isoformat()[:40])
    return start, end


def _case_response(row: Any, subject: Subject, status_code: int = 200) -> Response:
    response = json_response(case_ledger.present(row, subject), status_code)
    response.headers["ETag"] = f'W/"{row.version}"'
    return response


# -- case types --------------------------------------------------------------------------------


@router.get("/case-types", response_model=list[CaseTypeRead], tags=["cases"])
def list_case_types(subject: CurrentSubject) -> Any:
    """Every case type with its categories, fields, states and transitions."""
    roles = set(subject.roles)
    everyone = subject.kind != "user"
    return [verbs.describe_type(ct, current_language(),
                                everyone or bool(roles & set(ct.report_roles)))
            for ct in verbs.case_types().values()]


@router.get("/case-types/{type_id}", response_model=CaseTypeRead, tags=["cases"])
def get_case_type(type_id: Annotated[str, Path(max_length=40)],
                  subject: CurrentSubject) -> Any:
    """One case type."""
    ct = verbs.case_type(type_id)
    return verbs.describe_type(ct, current_language(), subject.kind != "user"
                               or bool(set(subject.roles) & set(ct.report_roles)))


# -- cases -------------------------------------------------------------------------------------


@router.post("/cases", response_model=CaseRead, status_code=201, tags=["cases"],
             responses={403: {"description": "role may not report this type"},
                        422: {"description": "fields missing or invalid"}})
def report_case(body: CaseReport, subject: CurrentSubject, cases: CaseVerbs,
                session: WriteSession) -> Any:
    """Report a case (resident app, PC, phone, or staff on a resident's behalf)."""
    row = cases.report_case(session, subject, body)
    return _case_response(row, subject, 201)


@router.get("/cases/statistics", response_model=CaseStats, tags=["cases"])
def case_statistics(request: Request, subject: CurrentSubject, cases: CaseVerbs,
                    session: ReadSession,
                    by: Annotated[str, Query(max_length=40)] = "case_type",
                    period: Annotated[str | None,
                                      Query(pattern="^(day|month|year)$")] = None) -> Any:
    """Counts, open, overdue, and mean times to accept and close by one dimension."""
    query = case_ledger.parse_query(request.query_params)
    return cases.statistics(session, subject, query, by, period, current_language())


@router.get("/cases/{case_id}/detail", response_model=CaseDetail, tags=["cases"])
def case_detail(case_id: RowId, subject: CurrentSubject, cases: CaseVerbs,
                session: ReadSession, response: Response) -> Any:
    """A case with its full timeline, comments, attachments and the steps open to you."""
    detail = cases.detail(session, subject, case_id, current_language())
    response.headers["ETag"] = f'W/"{detail["case"]["version"]}"'
    return detail


@router.patch("/cases/{case_id}", response_model=CaseRead, tags=["cases"],
              responses={409: {"description": "closed or changed meanwhile"}})
def edit_case(case_id: RowId, body: CaseEdit, subject: CurrentSubject, cases: CaseVerbs,
              session: WriteSession, if_match: IfMatch = None) -> Any:
    """Change a case's report fields, category or priority."""
    if body.version is None:
        body = body.model_copy(update={"version": verbs.parse_version(if_match)})
    return _case_response(cases.edit_case(session, subject, case_id, body), subject)


@router.post("/cases/{case_id}/transitions", response_model=CaseRead, tags=["cases"],
             responses={403: {"description": "your role may not take this step"},
                        409: {"description": "illegal step, closed case, or stale version"},
                        422: {"description": "fields missing or invalid"}})
def transition_case(case_id: RowId, body: CaseStepInput, subject: CurrentSubject,
                    cases: CaseVerbs, session: WriteSession, if_match: IfMatch = None) -> Any:
    """Take a step (dispatch, accept, handle, confirm…); send the version you last saw."""
    version = body.version if body.version is not None else verbs.parse_version(if_match)
    row = cases.transition_case(session, subject, case_id, body.transition, body.data, version)
    return _case_response(row, subject)


@router.post("/cases/{case_id}/comments", response_model=CommentRead, status_code=201,
             tags=["cases"])
def comment_case(case_id: RowId, body: CommentInput, subject: CurrentSubject,
                 cases: CaseVerbs, session: WriteSession) -> Any:
    """Comment on an open case."""
    return cases.comment_case(session, subject, case_id, body.body)


@router.post("/cases/{case_id}/attachments", response_model=AttachmentRead, status_code=201,
             tags=["cases"], responses={413: {"description": "file too large"},
                                        415: {"description": "not a JPEG, PNG or PDF"}})
def attach_file(case_id: RowId, file: Annotated[UploadFile, File()],
                subject: CurrentSubject, cases: CaseVerbs, session: WriteSession) -> Any:
    """Attach a photo (JPEG, PNG) or a PDF to an open case."""
    content = file.file.read(cases.files.max_bytes + 1)
    attachment = cases.attach_file(session, subject, case_id, content, file.filename,
                                   file.content_type)
    return verbs.attachment_read(attachment)


@router.get("/cases/{case_id}/attachments/{attachment_id}", response_class=Response,
            tags=["cases"])
def download_attachment(case_id: RowId, attachment_id: RowId, subject: CurrentSubject,
                        cases: CaseVerbs, session: ReadSession) -> Response:
    """Download an attachment of a case you can see."""
    found = cases.attachment(session, subject, case_id, attachment_id)
    with cases.files.open(found.file_key) as stream:
        content = stream.read()
    return Response(content, media_type=found.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}",
        "X-Content-Type-Options": "nosniff"})


@router.post("/cases/{case_id}/rating", response_model=CaseRead, tags=["cases"])
def rate_case(case_id: RowId, body: RatingInput, subject: CurrentSubject, cases: CaseVerbs,
              session: WriteSession) -> Any:
    """Rate a finished case (1–5 stars) once."""
    return _case_response(cases.rate_case(session, subject, case_id, body.stars, body.comment),
                          subject)


@router.put("/cases/{case_id}/watch", tags=["cases"])
def watch_case(case_id: RowId, subject: CurrentSubject, cases: CaseVerbs,
               session: WriteSession) -> dict[str, bool]:
    """Follow a case: you are told of its steps and comments."""
    return {"watching": cases.watch_case(session, subject, case_id, True)}


@router.delete("/cases/{case_id}/watch", tags=["cases"])
def unwatch_case(case_id: RowId, subject: CurrentSubject, cases: CaseVerbs,
                 session: WriteSession) -> dict[str, bool]:
    """Stop following a case."""
    return {"watching": cases.watch_case(session, subject, case_id, False)}


# -- plans -------------------------------------------------------------------------------------


@router.post("/plans", response_model=PlanRead, status_code=201, tags=["plans"],
             responses={422: {"description": "schedule never fires, bad settings"}})
def create_plan(body: PlanCreate, subject: CurrentSubject, cases: CaseVerbs,
                session: WriteSession) -> Any:
    """Create a maintenance, inspection or patrol plan."""
    return plan_ledger.present(cases.create_plan(session, subject, body), subject)


@router.patch("/plans/{plan_id}", response_model=PlanRead, tags=["plans"])
def update_plan(plan_id: RowId, body: PlanUpdate,  # type: ignore[valid-type]
                subject: CurrentSubject, cases: CaseVerbs, session: WriteSession) -> Any:
    """Change a plan's schedule, people, reminders or state."""
    return plan_ledger.present(cases.update_plan(session, subject, plan_id, body), subject)


@router.get("/plans/{plan_id}/runs", response_model=list[PlanRunRead],  # type: ignore[valid-type]
            tags=["plans"])
def plan_runs(plan_id: RowId, start: Since, end: Until, subject: CurrentSubject,
              cases: CaseVerbs, session: ReadSession) -> Any:
    """The runs a plan generated in a period, with their tasks and completion."""
    return cases.plan_runs(session, subject, plan_id, *_period(start, end))


@router.get("/plans/{plan_id}/preview", response_model=list[RunPreview], tags=["plans"])
def plan_preview(plan_id: RowId, subject: CurrentSubject, cases: CaseVerbs,
                 session: ReadSession,
                 count: Annotated[int, Query(ge=1, le=100)] = 10) -> Any:
    """The plan's next runs and their reminder times."""
    return cases.plan_preview(session, subject, plan_id, count)


@router.get("/plans/{plan_id}/execution", response_model=ExecutionRead, tags=["plans"])
def plan_execution(plan_id: RowId, start: Since, end: Until, subject: CurrentSubject,
                   cases: CaseVerbs, session: ReadSession) -> Any:
    """Execution rate of a plan over a period (done, late, missed, pending)."""
    return cases.plan_execution(session, subject, plan_id, *_period(start, end))


# -- patrol ------------------------------------------------------------------------------------


@router.post("/patrol_routes/{route_id}/checkins", response_model=CheckinResult,
             tags=["patrol"])
def upload_checkins(route_id: RowId, body: CheckinBatch, subject: CurrentSubject,
                    cases: CaseVerbs, session: WriteSession) -> Any:
    """Check in online, or upload an offline collector's batch (re-uploads change nothing)."""
    return cases.upload_checkins(session, subject, route_id, body)


@router.get("/patrol_routes/{route_id}/rounds", response_model=list[RoundRead],
            tags=["patrol"])
def patrol_rounds(route_id: RowId, start: Since, end: Until, subject: CurrentSubject,
                  cases: CaseVerbs, session: ReadSession) -> Any:
    """The planned rounds of a route in a period with visited and missed points."""
    return cases.patrol_rounds(session, subject, route_id, *_period(start, end))

