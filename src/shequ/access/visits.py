"""Visitors (6.6.7): a resident's invitation, registration at the gate, booking from the
community QR code; approval by the host household or a guard issues a temporary QR pass valid
for the visit's window only. Every visit carries a ticket (stored as a keyed digest) through
which the visitor follows it and fetches the pass.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.ledgers import visitors as visitor_ledger
from shequ.access.models import (
    Credential,
    CredentialKind,
    CredentialState,
    Visitor,
    VisitOrigin,
    VisitStatus,
)
from shequ.access.registrations import check_link
from shequ.access.schemas import GateVisit, VisitBooking, VisitDecision, VisitFields, VisitInvite
from shequ.access.service import PUBLIC_FORM, AccessService, new_ticket, ticket_digest
from shequ.cim.models import Room
from shequ.cim.service import parent
from shequ.kit.errors import Conflict, NotFound
from shequ.kit.scope import Principal
from shequ.people.models import Person
from shequ.people.service import check_document
from shequ.platform.models import Community
from shequ.platform.security.sm import blind_index

Issued = tuple[Visitor, str, str | None]


class VisitService:
    """Invite, register, book, decide and follow visits."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    def invite(self, session: Session, principal: Principal, body: VisitInvite) -> Issued:
        """A resident invites a visitor: approved by the invitation, pass issued at once."""
        row, ticket = self._new(session, body, body.room_id, body.host_person_id,
                                VisitOrigin.invitation)
        visitor_ledger.authorise(principal, "create", row)
        token = self._approve(session, principal, row)
        self._audit(session, principal, "visitors.invite", row)
        return row, ticket, token

    def at_gate(self, session: Session, principal: Principal, body: GateVisit) -> Issued:
        """A guard registers a visitor; approved now (guards may) or left for the host."""
        row, ticket = self._new(session, body, body.room_id, body.host_person_id,
                                VisitOrigin.gate)
        visitor_ledger.authorise(principal, "create", row)
        token = None
        if body.approve_now:
            visitor_ledger.authorise(principal, "approve", row)
            token = self._approve(session, principal, row)
        self._audit(session, principal, "visitors.register", row)
        return row, ticket, token

    def book(self, session: Session, community: Community, body: VisitBooking,
             ) -> tuple[Visitor, str]:
        """A visitor books from the community's QR code; the host or a guard decides."""
        check_link(self.access.signer, community.code, body.link)
        row, ticket = self._new(session, body, body.room_id, None, VisitOrigin.booking,
                                community.id)
        self._audit(session, PUBLIC_FORM, "visitors.book", row)
        return row, ticket

    def decide(self, session: Session, principal: Principal, visitor_id: int,
               decision: VisitDecision) -> tuple[Visitor, str | None]:
        """The host household or a guard approves (pass issued) or rejects a pending visit."""
        row = visitor_ledger.get(session, principal, visitor_id, "approve")
        if row.status != VisitStatus.pending:
            raise Conflict(code="access.visit_decided", status=row.status)
        before = visitor_ledger.audit_copy(row)
        token = None
        if decision.approve:
            token = self._approve(session, principal, row)
        else:
            row.status, row.decided_by = VisitStatus.rejected, principal.actor_id
            row.decided_at = self.access.clock()
        row.decision_reason = decision.reason
        session.flush()
        self._audit(session, principal, f"visitors.{row.status}", row, before)
        return row, token

    def by_ticket(self, session: Session, ticket: str) -> tuple[Visitor, str | None]:
        """A visit by its ticket, with the pass while it is approved and not over."""
        row = session.scalar(select(Visitor).where(
            Visitor.ticket_digest == ticket_digest(ticket), Visitor.deleted_at.is_(None)))
        if row is None:
            raise NotFound()
        credential = session.scalar(select(Credential).where(
            Credential.visitor_id == row.id, Credential.state == CredentialState.active))
        over = row.window_end <= self.access.clock()
        return row, None if credential is None or over else self.access.token(credential)

    def _new(self, session: Session, body: VisitFields, room_id: int,
             host_id: int | None, origin: VisitOrigin, community_id: int | None = None,
             ) -> tuple[Visitor, str]:
        room = session.get(Room, room_id)
        community = community_id or (room.community_id if room is not None else 0)
        room = parent(session, Room, room_id, community, "room_id")
        if host_id:
            parent(session, Person, host_id, community, "host_person_id")
        number = check_document(body.id_type, body.id_number) if (
            body.id_type and body.id_number) else None
        ticket, digest = new_ticket()
        row = Visitor(community_id=community, room_id=room.id, building_id=room.building_id,
                      host_person_id=host_id, name=body.name, phone=body.phone,
                      phone_index=blind_index(body.phone) if body.phone else None,
                      id_type=body.id_type, id_number=number,
                      id_index=blind_index(number) if number else None, plate=body.plate,
                      purpose=body.purpose, party_size=body.party_size,
                      window_start=body.window_start, window_end=body.window_end,
                      origin=origin, status=VisitStatus.pending, ticket_digest=digest)
        return row, ticket

    def _approve(self, session: Session, principal: Principal, row: Visitor) -> str | None:
        session.add(row)
        session.flush()
        credential = self.access.new_credential(
            session, row.community_id, CredentialKind.qr, row.window_start, row.window_end,
            visitor_id=row.id, building_id=row.building_id)
        row.status, row.decided_by = VisitStatus.approved, principal.actor_id
        row.decided_at = self.access.clock()
        return self.access.token(credential)

    def _audit(self, session: Session, principal: Principal, action: str, row: Visitor,
               before: object = None) -> None:
        session.add(row)
        session.flush()
        self.access.audit(session, principal, action, "visitors", row.id, row.community_id,
                          before, visitor_ledger.audit_copy(row))
