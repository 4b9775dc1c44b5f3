"""Access routes beyond the generic ledgers: credentials and QR passes, door scans and
allow-lists, pass search and statistics, visitors and self-registration (with their public
mobile endpoints). Thin: parse, authorise, call the verb, return."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from shequ.access import archive as _archive  # noqa: F401 (registers the archive sections)
from shequ.access import queries
from shequ.access.ledgers import credentials, pass_records, registrations, visitors
from shequ.access.models import Direction, PassResult
from shequ.access.registrations import RegistrationService, community_link
from shequ.access.schemas import (
    CommunityLink,
    CredentialIssue,
    CredentialRead,
    Decision,
    GateVisit,
    IssuedPass,
    OverdueRead,
    PassPage,
    PassStats,
    PublicRegistration,
    PublicVisit,
    RegistrationDecision,
    RegistrationForm,
    RegistrationReceipt,
    RevokeRequest,
    ScanRequest,
    VisitBooking,
    VisitDecision,
    VisitInvite,
    VisitTicket,
    aware,
)
from shequ.access.service import AccessService, signer_for
from shequ.access.visits import VisitService
from shequ.api.deps import CurrentSubject, ReadSession, ServicesDep, WriteSession
from shequ.cim.api import community_for
from shequ.kit import features
from shequ.kit.db import utcnow
from shequ.kit.errors import NotFound
from shequ.kit.ledger_api import json_response
from shequ.kit.schema import MAX_ID
from shequ.people.privacy import present_audited
from shequ.platform.models import Community
from shequ.platform.scoping import Subject

router = APIRouter(tags=["access"])
features.provide("feature:access")
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Ticket = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PNG = "image/png"


def access_service(services: ServicesDep) -> AccessService:
    """The access verbs bound to the audit log and the pass key from the settings."""
    return AccessService(services.platform.record,
                         signer_for(services.settings.secret_key.get_secret_value()))


AccessVerbs = Annotated[AccessService, Depends(access_service)]


def _png(text: str) -> Response:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=6, border=2)
    return Response(buffer.getvalue(), media_type=PNG, headers={"Cache-Control": "no-store"})


def _public_community(session: Any, code: str) -> Community:
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        raise NotFound(code="platform.community_unknown", community=code[:32])
    return community


def _throttle(request: Request, services: ServicesDep) -> None:
    """Public forms share the log-in limiter, keyed by client address."""
    services.login_limiter.hit(f"public:{request.client.host if request.client else '?'}")


# -- credentials ------------------------------------------------------------------------------


@router.get("/access/pass-key", summary="The public key doors verify QR passes with")
def pass_key(verbs: AccessVerbs) -> dict[str, str]:
    """Ed25519 public key, key id and token format (no authentication)."""
    return verbs.signer.public_key()


@router.post("/credentials", response_model=IssuedPass, status_code=201,
             summary="Issue a card, face id, PIN or QR pass to a person")
def issue(body: CredentialIssue, subject: CurrentSubject, verbs: AccessVerbs,
          session: WriteSession) -> Any:
    """A new credential (bumps the allow-list version); QR passes come with their token."""
    row, token = verbs.issue(session, subject, body)
    return json_response({"credential": credentials.present(row, subject), "token": token}, 201)


@router.post("/credentials/{credential_id}/revoke", response_model=CredentialRead,
             summary="Revoke a credential")
def revoke(credential_id: RowId, body: RevokeRequest, subject: CurrentSubject,
           verbs: AccessVerbs, session: WriteSession) -> Any:
    """The credential stops working; doors learn it from the next allow-list delta."""
    return json_response(credentials.present(
        verbs.revoke(session, subject, credential_id, body.reason), subject))


@router.get("/credentials/{credential_id}/qr", response_class=Response,
            summary="The QR pass of a QR credential as a PNG image")
def credential_qr(credential_id: RowId, subject: CurrentSubject, verbs: AccessVerbs,
                  services: ServicesDep, session: ReadSession, writer: WriteSession,
                  ) -> Response:
    """Handing out the pass is a read of confidential data: `credentials:personal`, audited."""
    row = credentials.get(session, subject, credential_id, "personal")
    token = verbs.token(row)
    if token is None:
        raise NotFound(code="access.not_a_qr_pass")
    credentials.audit_read(writer, subject, services.platform.record, "qr",
                           [(row.community_id, row.id)])
    return _png(token)


# -- doors ----------------------------------------------------------------------------------


@router.post("/doors/{door_id}/scan", response_model=Decision,
             summary="Decide a QR pass scanned at a door (always recorded)")
def scan(door_id: RowId, body: ScanRequest, subject: CurrentSubject, verbs: AccessVerbs,
         session: WriteSession) -> Any:
    """Granted, or denied with the reason (forged, expired, revoked, outside the window)."""
    return verbs.scan(session, subject, door_id, body).as_dict()


@router.get("/doors/{door_id}/allow-list",
            summary="Versioned allow-list delta for an offline door controller (5.3.7.e)")
def allow_list(door_id: RowId, subject: CurrentSubject, verbs: AccessVerbs,
               services: ServicesDep, session: ReadSession, writer: WriteSession,
               since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
               limit: Annotated[int, Query(ge=1, le=20_000)] = 5_000) -> Any:
    """Grants and revocations since `since`; ask again from `version` while `more`. The
    identifiers handed over are confidential: the read is audited."""
    body, revealed = queries.allow_list(session, subject, verbs.signer, door_id, since, limit,
                                        utcnow())
    credentials.audit_read(writer, subject, services.platform.record, "allow_list", revealed)
    return json_response(body)


# -- pass search and statistics -----------------------------------------------------------


@router.get("/communities/{code}/passes/search", response_model=PassPage,
            summary="Search passes by person, plate, door, device, building and time")
def search(code: str, subject: CurrentSubject, services: ServicesDep, session: ReadSession,
           writer: WriteSession,
           person_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           plate: Annotated[str | None, Query(max_length=16)] = None,
           door_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           device_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           building_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           visitor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           start: dt.datetime | None = None, end: dt.datetime | None = None,
           direction: Direction | None = None, result: PassResult | None = None,
           before: Annotated[str | None, Query(max_length=80)] = None,
           limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50) -> Any:
    """Newest first; `next` is the cursor of the following page (no total is counted)."""
    community = community_for(session, subject, code, "pass_records:read")
    flt = queries.PassFilter(
        community_id=community.id, person_id=person_id, plate=plate, door_id=door_id,
        device_id=device_id, building_id=building_id, visitor_id=visitor_id,
        start=aware(start) if start else None, end=aware(end) if end else None,
        direction=direction, result=result, before=before, limit=limit)
    rows, cursor = queries.search_passes(session, subject, flt)
    items = present_audited(pass_records, rows, subject, writer, services.platform.record,
                            "search")
    return json_response({"items": items, "next": cursor})


@router.get("/communities/{code}/passes/stats", response_model=PassStats,
            summary="Pass counts by hour of day, day, door, method, direction or result")
def stats(code: str, subject: CurrentSubject, session: ReadSession,
          by: Annotated[str, Query(pattern="^(" + "|".join(queries.STAT_KEYS) + ")$")],
          start: dt.datetime, end: dt.datetime) -> Any:
    """Hours and days are local to the community's time zone."""
    community = community_for(session, subject, code, "pass_records:stats")
    return queries.pass_stats(session, subject, community, by, aware(start), aware(end))


@router.get("/communities/{code}/passes/overdue", response_model=list[OverdueRead],
            summary="Persons inside longer than the threshold (last perimeter pass an entry)")
def overdue(code: str, subject: CurrentSubject, session: ReadSession,
            hours: Annotated[float, Query(gt=0, le=24 * 365)] = 72) -> Any:
    """The basis of the long-in-not-out warning (6.6.9.f)."""
    community = community_for(session, subject, code, "pass_records:read")
    return queries.inside_overdue(session, subject, community.id, hours, utcnow())


# -- self-registration ----------------------------------------------------------------------


def _link(subject: Subject, session: Any, code: str, verbs: AccessService) -> dict[str, str]:
    community = community_for(session, subject, code, "registrations:read")
    link = community_link(verbs.signer, community.code)
    return {"community": community.code, "link": link,
            "register_url": f"/m/register?c={community.code}&k={link}",
            "visit_url": f"/m/visit?c={community.code}&k={link}"}


@router.get("/communities/{code}/link", response_model=CommunityLink, tags=["registration"],
            summary="The community's signed registration and booking link")
def link(code: str, subject: CurrentSubject, session: ReadSession, verbs: AccessVerbs) -> Any:
    """What the community QR code encodes."""
    return _link(subject, session, code, verbs)


@router.get("/communities/{code}/registration-qr", response_class=Response,
            tags=["registration"], summary="The community registration QR code (PNG)")
def registration_qr(code: str, subject: CurrentSubject, session: ReadSession,
                    verbs: AccessVerbs) -> Response:
    """Print and post it: residents scan it to open the registration form."""
    return _png(_link(subject, session, code, verbs)["register_url"])


@router.post("/public/communities/{code}/registrations", response_model=RegistrationReceipt,
             status_code=201, tags=["registration"],
             dependencies=[Depends(_throttle)],
             summary="Submit the mobile registration form (no log-in; rate limited)")
def submit_registration(code: str, body: RegistrationForm, verbs: AccessVerbs,
                        session: WriteSession) -> Any:
    """A pending registration; keep the ticket to follow the review."""
    row, ticket = RegistrationService(verbs).submit(session, _public_community(session, code),
                                                    body)
    return json_response({"id": row.id, "status": row.status, "ticket": ticket}, 201)


@router.get("/public/registrations/{ticket}", response_model=PublicRegistration,
            tags=["registration"], dependencies=[Depends(_throttle)],
            summary="Follow a registration; the electronic pass once approved")
def registration_status(ticket: Ticket, verbs: AccessVerbs, session: ReadSession) -> Any:
    """Status, the reviewer's note, and the pass token when approved."""
    row, token = RegistrationService(verbs).by_ticket(session, ticket)
    return {"status": row.status, "reason": row.decision_reason, "token": token}


@router.post("/registrations/{registration_id}/decision", tags=["registration"],
             summary="Approve (person, household, electronic pass) or reject a registration")
def decide_registration(registration_id: RowId, body: RegistrationDecision,
                        subject: CurrentSubject, verbs: AccessVerbs,
                        session: WriteSession) -> Any:
    """Needs `registrations:approve`; the pass token is returned once, on approval."""
    row, token = RegistrationService(verbs).decide(session, subject, registration_id, body)
    return json_response({"registration": registrations.present(row, subject), "token": token})


# -- visitors -------------------------------------------------------------------------------


def _ticket(row: Any, ticket: str, token: str | None, subject: Any) -> Response:
    return json_response({"visit": visitors.present(row, subject), "ticket": ticket,
                          "link": f"/m/visit/{ticket}", "token": token}, 201)


@router.post("/visitors/invitations", response_model=VisitTicket, status_code=201,
             tags=["visitors"], summary="Invite a visitor (approved by the invitation)")
def invite(body: VisitInvite, subject: CurrentSubject, verbs: AccessVerbs,
           session: WriteSession) -> Response:
    """Send the link to the visitor; it shows the pass, valid for the window only."""
    row, ticket, token = VisitService(verbs).invite(session, subject, body)
    return _ticket(row, ticket, token, subject)


@router.post("/visitors/gate", response_model=VisitTicket, status_code=201, tags=["visitors"],
             summary="Register a visitor at the gate (approve now, or wait for the host)")
def at_gate(body: GateVisit, subject: CurrentSubject, verbs: AccessVerbs,
            session: WriteSession) -> Response:
    """A guard's registration; `approve_now` needs `visitors:approve`."""
    row, ticket, token = VisitService(verbs).at_gate(session, subject, body)
    return _ticket(row, ticket, token, subject)


@router.post("/public/communities/{code}/visits", status_code=201, tags=["visitors"],
             dependencies=[Depends(_throttle)],
             summary="Book a visit from the community QR code (no log-in; rate limited)")
def book(code: str, body: VisitBooking, verbs: AccessVerbs,
         session: WriteSession) -> dict[str, Any]:
    """A pending visit for the host or a guard to decide; keep the ticket."""
    row, ticket = VisitService(verbs).book(session, _public_community(session, code), body)
    return {"id": row.id, "status": row.status, "ticket": ticket}


@router.post("/visitors/{visitor_id}/decision", tags=["visitors"],
             summary="Approve or reject a pending visit (host household or guard)")
def decide_visit(visitor_id: RowId, body: VisitDecision, subject: CurrentSubject,
                 verbs: AccessVerbs, session: WriteSession) -> Any:
    """Approval issues the visitor's pass for the window."""
    row, token = VisitService(verbs).decide(session, subject, visitor_id, body)
    return json_response({"visit": visitors.present(row, subject), "token": token})


@router.get("/public/visits/{ticket}", response_model=PublicVisit, tags=["visitors"],
            dependencies=[Depends(_throttle)], summary="Follow a visit; the pass once approved")
def visit_status(ticket: Ticket, verbs: AccessVerbs, session: ReadSession) -> Any:
    """Status, window and the pass token while the visit is approved and not over."""
    row, token = VisitService(verbs).by_ticket(session, ticket)
    return {"status": row.status, "window_start": row.window_start,
            "window_end": row.window_end, "token": token}


@router.get("/public/visits/{ticket}/qr", response_class=Response, tags=["visitors"],
            dependencies=[Depends(_throttle)], summary="The visitor's pass as a QR image")
def visit_qr(ticket: Ticket, verbs: AccessVerbs, session: ReadSession) -> Response:
    """404 until the visit is approved, and after it ends."""
    _, token = VisitService(verbs).by_ticket(session, ticket)
    if token is None:
        raise NotFound()
    return _png(token)
