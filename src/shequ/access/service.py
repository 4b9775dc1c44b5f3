"""Access verbs: issue and revoke credentials, sign QR passes, decide scans at doors.

Every credential change bumps the community's allow-list version (`AccessSequence`) and
stamps the credential with it, so offline controllers fetch only what changed. A scan is
decided here and always recorded as a pass, granted or denied with its reason.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.ingest import PassEvent, credential_index, record_passes
from shequ.access.ledgers import credentials as credential_ledger
from shequ.access.ledgers import pass_records as pass_ledger
from shequ.access.models import (
    AccessSequence,
    Credential,
    CredentialKind,
    CredentialState,
    Door,
    PassMethod,
    PassRecord,
    PassResult,
    Visitor,
    VisitStatus,
)
from shequ.access.passes import PassClaims, PassInvalid, PassSigner
from shequ.access.schemas import CredentialIssue, ScanRequest, aware
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.errors import Conflict, NotFound
from shequ.kit.i18n import t
from shequ.kit.ledger import AuditSink
from shequ.kit.scope import Principal, Scope
from shequ.people.models import Person
from shequ.platform.security.sm import hmac_sm3, keyring

Clock = Callable[[], dt.datetime]
DEFAULT_PASS_DAYS = 365


def no_audit(*_: Any, **__: Any) -> None:
    """An audit sink that records nothing (examples and benchmarks only)."""


@lru_cache(maxsize=4)
def signer_for(secret: str) -> PassSigner:
    """The pass signer of a secret key (derived once per process)."""
    return PassSigner(secret)


def example_service() -> AccessService:
    """A service bound to the process settings without auditing (contract examples)."""
    from shequ.config import get_settings

    return AccessService(no_audit, signer_for(get_settings().secret_key.get_secret_value()))


def ticket_digest(ticket: str) -> str:
    """The stored form of a ticket (keyed SM3): a leaked table reveals no ticket."""
    return hmac_sm3(keyring.index_key, f"ticket:{ticket}".encode()).hex()


def new_ticket() -> tuple[str, str]:
    """A random ticket and its digest."""
    ticket = secrets.token_urlsafe(24)
    return ticket, ticket_digest(ticket)


class Public:
    """The anonymous principal of public forms: it may do nothing; audited by its name."""

    actor_id = None

    def __init__(self, name: str) -> None:
        self.actor_name = name

    def scope_for(self, permission: str) -> Scope:
        """No scope at all."""
        return Scope()


PUBLIC_FORM = Public("public-form")


@dataclass(frozen=True)
class ScanOutcome:
    """A scan's decision and the pass recorded for it."""

    result: PassResult
    reason: str | None
    pass_record_id: int
    person_id: int | None
    visitor_id: int | None

    def as_dict(self) -> dict[str, Any]:
        """The decision with its translated message."""
        return {"result": self.result, "reason": self.reason,
                "message": t(self.reason) if self.reason else None,
                "pass_record_id": self.pass_record_id, "person_id": self.person_id,
                "visitor_id": self.visitor_id}


class AccessService:
    """Credential and scan verbs bound to the audit log, the pass key and a clock."""

    def __init__(self, audit: AuditSink, signer: PassSigner, clock: Clock = utcnow) -> None:
        self.audit = audit
        self.signer = signer
        self.clock = clock

    # -- credentials -------------------------------------------------------------------------

    def issue(self, session: Session, principal: Principal, body: CredentialIssue,
              ) -> tuple[Credential, str | None]:
        """Issue a credential to a person of the community; the token for a QR pass."""
        person = session.get(Person, body.person_id)
        if person is None or person.deleted_at is not None:
            raise NotFound(code="access.person_missing", id=body.person_id)
        start = aware(body.valid_from) if body.valid_from else self.clock()
        until = aware(body.valid_until) if body.valid_until else (
            start + dt.timedelta(days=DEFAULT_PASS_DAYS) if body.kind == CredentialKind.qr
            else None)
        row = self.new_credential(session, person.community_id, body.kind, start, until,
                                  person_id=person.id, identifier=body.identifier,
                                  building_id=body.building_id, principal=principal)
        self._audit(session, principal, "credentials.issue", row, None)
        return row, self.token(row)

    def new_credential(self, session: Session, community_id: int, kind: CredentialKind,
                       start: dt.datetime, until: dt.datetime | None, *,
                       principal: Principal | None = None, person_id: int | None = None,
                       visitor_id: int | None = None, identifier: str | None = None,
                       building_id: int | None = None) -> Credential:
        """Insert an active credential stamped with the next allow-list version."""
        if building_id is not None:
            from shequ.cim.models import Building

            parent(session, Building, building_id, community_id, "building_id")
        index = credential_index(kind, identifier) if identifier else None
        row = Credential(community_id=community_id, serial=secrets.token_hex(8).upper(),
                         kind=kind, person_id=person_id, visitor_id=visitor_id,
                         identifier=identifier, identifier_index=index,
                         building_id=building_id, valid_from=start, valid_until=until)
        if principal is not None:
            credential_ledger.authorise(principal, "create", row)
        if index and session.scalar(select(Credential.id).where(
                Credential.community_id == community_id, Credential.kind == kind,
                Credential.identifier_index == index, Credential.deleted_at.is_(None),
                Credential.state == CredentialState.active).limit(1)) is not None:
            raise Conflict(code="access.identifier_taken")
        row.change_seq = next_version(session, community_id)
        session.add(row)
        session.flush()
        return row

    def revoke(self, session: Session, principal: Principal, credential_id: int,
               reason: str) -> Credential:
        """Stop a credential working; doors learn it from the next allow-list delta."""
        row = credential_ledger.get(session, principal, credential_id, "revoke")
        before = credential_ledger.audit_copy(row)
        self.end(session, row, reason)
        self._audit(session, principal, "credentials.revoke", row, before)
        return row

    def end(self, session: Session, row: Credential, reason: str) -> None:
        """Mark a credential revoked and bump the allow-list version (no audit)."""
        if row.state == CredentialState.revoked:
            raise Conflict(code="access.already_revoked")
        row.state, row.revoked_at, row.revoke_reason = (CredentialState.revoked, self.clock(),
                                                         reason[:200])
        row.change_seq = next_version(session, row.community_id)
        session.flush()

    def token(self, row: Credential) -> str | None:
        """The QR pass text of a QR credential (signatures are deterministic)."""
        if row.kind != CredentialKind.qr:
            return None
        holder, holder_id = ("v", row.visitor_id) if row.visitor_id else ("p", row.person_id)
        expires = row.valid_until or row.valid_from + dt.timedelta(days=DEFAULT_PASS_DAYS)
        return self.signer.sign(PassClaims(
            community_id=row.community_id, serial=row.serial, holder=holder,
            holder_id=holder_id or 0, not_before=row.valid_from, expires=expires,
            building_id=row.building_id))

    def _audit(self, session: Session, principal: Principal, action: str, row: Credential,
               before: Any) -> None:
        self.audit(session, principal, action, "credentials", row.id, row.community_id,
                   before, credential_ledger.audit_copy(row))

    # -- scans ---------------------------------------------------------------------------------

    def scan(self, session: Session, principal: Principal, door_id: int,
             body: ScanRequest) -> ScanOutcome:
        """Decide a QR pass scanned at a door; the pass is recorded either way."""
        door = session.get(Door, door_id)
        if door is None or door.deleted_at is not None:
            raise NotFound()
        pass_ledger.authorise(principal, "create", PassRecord(
            community_id=door.community_id, building_id=door.building_id))
        now = self.clock()
        reason, credential, _ = self.check(session, door, body.token, now)
        result = PassResult.denied if reason else PassResult.granted
        person_id = credential.person_id if credential else None
        visitor_id = credential.visitor_id if credential else None
        ids = record_passes(session, [PassEvent(
            community_id=door.community_id, device_id=door.device_id, door_id=door.id,
            occurred_at=now, method=PassMethod.qr, result=result, direction=body.direction,
            person_id=person_id, visitor_id=visitor_id,
            credential_id=credential.id if credential else None, reason=reason,
            snapshot_key=body.snapshot_key)])
        return ScanOutcome(result, reason, ids[0], person_id, visitor_id)

    def check(self, session: Session, door: Door, token: str, now: dt.datetime,
              ) -> tuple[str | None, Credential | None, PassClaims | None]:
        """Why a pass may not open this door now (None when it may), with what it names."""
        try:
            claims = self.signer.verify(token)
        except PassInvalid as exc:
            return exc.reason, None, None
        if claims.community_id != door.community_id:
            return "access.pass.wrong_community", None, claims
        credential = session.scalar(select(Credential).where(
            Credential.serial == claims.serial, Credential.community_id == door.community_id))
        if credential is None:
            return "access.pass.unknown", None, claims
        return _refusal(session, credential, claims, door, now), credential, claims


def _refusal(session: Session, credential: Credential, claims: PassClaims, door: Door,
             now: dt.datetime) -> str | None:
    if credential.state == CredentialState.revoked or credential.deleted_at is not None:
        return "access.pass.revoked"
    if not claims.not_before <= now < claims.expires:
        if claims.holder == "v":
            return "access.pass.outside_window"
        return "access.pass.not_yet_valid" if now < claims.not_before else "access.pass.expired"
    if claims.building_id and door.building_id and claims.building_id != door.building_id:
        return "access.pass.wrong_building"
    if credential.visitor_id is not None:
        visit = session.get(Visitor, credential.visitor_id)
        if visit is None or visit.status != VisitStatus.approved:
            return "access.pass.revoked"
    return None


def next_version(session: Session, community_id: int) -> int:
    """Bump and return the community's allow-list version (serialised on its row)."""
    row = session.get(AccessSequence, community_id, with_for_update=True)
    if row is None:
        row = AccessSequence(community_id=community_id, value=0)
        session.add(row)
    row.value += 1
    session.flush()
    return row.value
