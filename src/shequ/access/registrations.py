"""Self-registration (6.6.9.b/c): the community QR code opens a mobile form; staff review it;
approval registers the person in the household and issues a personal electronic pass.

The QR code encodes the community's link: its code signed with the pass key, so forms are
accepted only from someone who saw the code. The registrant gets a ticket (stored only as a
keyed digest) to follow the review and fetch the pass once approved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.ledgers import registrations as registration_ledger
from shequ.access.models import (
    Credential,
    CredentialKind,
    CredentialState,
    Registration,
    RegistrationStatus,
)
from shequ.access.passes import PassSigner
from shequ.access.schemas import RegistrationDecision, RegistrationForm
from shequ.access.service import PUBLIC_FORM, AccessService, new_ticket, ticket_digest
from shequ.cim.models import Room
from shequ.cim.service import parent
from shequ.kit.errors import Conflict, Forbidden, NotFound
from shequ.kit.scope import Principal
from shequ.people.ledgers import persons, residencies
from shequ.people.models import (
    Person,
    PersonIdentity,
    PersonSource,
    Population,
    Relation,
    Residency,
)
from shequ.people.service import (
    check_document,
    open_residency,
    prepare_person,
    prepare_residency,
    refresh_household,
)
from shequ.platform.models import Community
from shequ.platform.security.sm import blind_index

IDENTITY = {Relation.owner: PersonIdentity.owner, Relation.tenant: PersonIdentity.tenant,
            Relation.family_member: PersonIdentity.family_member}


def community_link(signer: PassSigner, code: str) -> str:
    """The signed link a community's QR code carries."""
    return signer.sign_text(f"shequ community link:{code}")


def check_link(signer: PassSigner, code: str, link: str) -> None:
    """403 unless the link is the community's own."""
    if not signer.check_text(f"shequ community link:{code}", link):
        raise Forbidden(code="access.link_invalid")


class RegistrationService:
    """Submit, review and follow self-registrations."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    def submit(self, session: Session, community: Community, form: RegistrationForm,
               ) -> tuple[Registration, str]:
        """Store a pending registration from the public form; its ticket."""
        check_link(self.access.signer, community.code, form.link)
        number = check_document(form.id_type, form.id_number)
        parent(session, Room, form.room_id, community.id, "room_id")
        index = blind_index(number)
        if session.scalar(select(Registration.id).where(
                Registration.community_id == community.id, Registration.id_index == index,
                Registration.status == RegistrationStatus.pending,
                Registration.deleted_at.is_(None)).limit(1)) is not None:
            raise Conflict(code="access.registration_pending")
        ticket, digest = new_ticket()
        row = Registration(community_id=community.id, name=form.name, id_type=form.id_type,
                           id_number=number, id_index=index, phone=form.phone,
                           phone_index=blind_index(form.phone) if form.phone else None,
                           room_id=form.room_id, relation=form.relation,
                           face_photo_key=form.face_photo_key, ticket_digest=digest)
        session.add(row)
        session.flush()
        self.access.audit(session, PUBLIC_FORM, "registrations.submit", "registrations", row.id,
                          community.id, None, registration_ledger.audit_copy(row))
        return row, ticket

    def decide(self, session: Session, principal: Principal, registration_id: int,
               decision: RegistrationDecision) -> tuple[Registration, str | None]:
        """Approve (person, residency, electronic pass) or reject a pending registration."""
        row = registration_ledger.get(session, principal, registration_id, "approve")
        if row.status != RegistrationStatus.pending:
            raise Conflict(code="access.registration_decided", status=row.status)
        before = registration_ledger.audit_copy(row)
        token = None
        if decision.approve:
            token = self._approve(session, principal, row, decision.valid_days)
        row.status = (RegistrationStatus.approved if decision.approve
                      else RegistrationStatus.rejected)
        row.decided_by, row.decided_at = principal.actor_id, self.access.clock()
        row.decision_reason = decision.reason
        session.flush()
        self.access.audit(session, principal, f"registrations.{row.status}", "registrations",
                          row.id, row.community_id, before, registration_ledger.audit_copy(row))
        return row, token

    def _approve(self, session: Session, principal: Principal, row: Registration,
                 days: int) -> str | None:
        person = self._person(session, principal, row)
        if open_residency(session, person.id, row.room_id) is None:
            data = prepare_residency(session, {
                "community_id": row.community_id, "person_id": person.id,
                "room_id": row.room_id, "relation": row.relation,
                "move_in_date": self.access.clock().date()}, None)
            self._insert(session, principal, residencies, Residency(**data))
            refresh_household(session, person.id)
        start = self.access.clock()
        credential = self.access.new_credential(
            session, row.community_id, CredentialKind.qr, start,
            start + dt.timedelta(days=days), person_id=person.id)
        row.person_id, row.credential_id = person.id, credential.id
        return self.access.token(credential)

    def _person(self, session: Session, principal: Principal, row: Registration) -> Person:
        existing = session.scalar(select(Person).where(
            Person.community_id == row.community_id, Person.id_index == row.id_index,
            Person.deleted_at.is_(None)))
        if existing is not None:
            return existing
        data = prepare_person(session, {
            "community_id": row.community_id, "name": row.name, "id_type": row.id_type,
            "id_number": row.id_number, "phone": row.phone,
            "face_photo_key": row.face_photo_key, "population": Population.resident,
            "identity": IDENTITY.get(row.relation, PersonIdentity.other),
            "source": PersonSource.self_registration}, None)
        person = Person(**data)
        self._insert(session, principal, persons, person)
        return person

    def _insert(self, session: Session, principal: Principal, ledger: Any, row: Any) -> None:
        session.add(row)
        session.flush()
        self.access.audit(session, principal, f"{ledger.name}.create", ledger.name, row.id,
                          row.community_id, None, ledger.audit_copy(row))

    def by_ticket(self, session: Session, ticket: str) -> tuple[Registration, str | None]:
        """A registration by its ticket, with the pass once approved and still valid."""
        row = session.scalar(select(Registration).where(
            Registration.ticket_digest == ticket_digest(ticket),
            Registration.deleted_at.is_(None)))
        if row is None:
            raise NotFound()
        credential = session.get(Credential, row.credential_id) if row.credential_id else None
        live = credential is not None and credential.state == CredentialState.active
        return row, self.access.token(credential) if live and credential else None
