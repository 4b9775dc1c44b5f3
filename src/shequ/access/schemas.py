"""Input and output models of doors, credentials, passes, watch-lists, visitors and
self-registrations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from shequ.access.models import (
    CredentialKind,
    CredentialState,
    Direction,
    DoorDirection,
    DoorKind,
    PassMethod,
    PassResult,
    RegistrationStatus,
    SubjectKind,
    VisitOrigin,
    VisitStatus,
    WatchKind,
    WatchLevel,
    WatchState,
)
from shequ.kit.schema import FromRow, Id, StrictInput, partial
from shequ.people.identity import IdType
from shequ.people.models import Relation
from shequ.people.schemas import DocumentNumber, FileKey, Input, Name, PlateText
from shequ.platform.schemas import Phone

Reason = Annotated[str, Field(min_length=1, max_length=200)]
MAX_VISIT = dt.timedelta(days=7)


def aware(value: dt.datetime) -> dt.datetime:
    """A timestamp with a time zone (UTC assumed when none is given)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- doors --------------------------------------------------------------------------------------


class DoorCreate(Input):
    """An access point served by a sensing device."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: DoorKind
    device_id: Id | None = None
    building_id: Id | None = None
    place: str | None = Field(default=None, max_length=100)
    direction: DoorDirection = DoorDirection.both
    perimeter: bool = True


DoorUpdate = partial(DoorCreate, "DoorUpdate")


class DoorRead(BaseModel):
    """A door or gate."""

    model_config = FromRow
    id: int
    community_id: int
    name: str
    kind: DoorKind
    device_id: int | None
    building_id: int | None
    place: str | None
    direction: DoorDirection
    perimeter: bool
    created_at: dt.datetime
    updated_at: dt.datetime


# -- credentials ----------------------------------------------------------------------------


class CredentialIssue(BaseModel):
    """Issue a credential to a person: a card, face id or PIN (with its identifier) or a QR
    pass (signed by the platform; no identifier)."""

    model_config = StrictInput
    person_id: Id
    kind: CredentialKind
    identifier: str | None = Field(default=None, min_length=1, max_length=64)
    building_id: Id | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None

    @model_validator(mode="after")
    def _shape(self) -> CredentialIssue:
        if (self.kind == CredentialKind.qr) != (self.identifier is None):
            raise ValueError("a QR pass has no identifier; cards, faces and PINs need one")
        if self.kind == CredentialKind.pin and not (
                self.identifier and self.identifier.isascii() and self.identifier.isdigit()
                and 4 <= len(self.identifier) <= 8):
            raise ValueError("a PIN has 4 to 8 digits")
        if self.valid_until and self.valid_from and aware(self.valid_until) <= aware(
                self.valid_from):
            raise ValueError("valid_until must come after valid_from")
        return self


class RevokeRequest(BaseModel):
    """Why a credential stops working."""

    model_config = StrictInput
    reason: Reason


class CredentialRead(BaseModel):
    """A credential (its identifier masked without `credentials:personal`)."""

    model_config = FromRow
    id: int
    community_id: int
    serial: str
    kind: CredentialKind
    person_id: int | None
    visitor_id: int | None
    identifier: str | None
    building_id: int | None
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    state: CredentialState
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    change_seq: int
    created_at: dt.datetime
    updated_at: dt.datetime


class IssuedPass(BaseModel):
    """A credential just issued; `token` is the QR pass text for QR credentials."""

    credential: CredentialRead
    token: str | None = None


# -- passes -------------------------------------------------------------------------------------


class PassRecordRead(BaseModel):
    """One pass."""

    model_config = FromRow
    id: int
    community_id: int
    occurred_at: dt.datetime
    created_at: dt.datetime
    door_id: int | None
    device_id: int | None
    building_id: int | None
    subject: SubjectKind
    person_id: int | None
    vehicle_id: int | None
    visitor_id: int | None
    credential_id: int | None
    plate: str | None
    direction: Direction
    method: PassMethod
    result: PassResult
    reason: str | None
    snapshot_key: str | None


class ScanRequest(BaseModel):
    """A QR pass scanned at a door, for an online decision."""

    model_config = StrictInput
    token: str = Field(min_length=1, max_length=2000)
    direction: Direction | None = None
    snapshot_key: FileKey | None = None


class Decision(BaseModel):
    """The platform's answer to a scan: granted or denied, with the reason."""

    result: PassResult
    reason: str | None
    message: str | None
    pass_record_id: int
    person_id: int | None
    visitor_id: int | None


class PassPage(BaseModel):
    """Passes, newest first; `next` continues the search (keyset pagination)."""

    items: list[PassRecordRead]
    next: str | None


class CountRow(BaseModel):
    """One group of a pass statistic."""

    key: Any
    label: str
    count: int


class PassStats(BaseModel):
    """Passes counted by hour of day, day, door, method, direction or result."""

    by: str
    start: dt.datetime
    end: dt.datetime
    groups: list[CountRow]
    total: int


class OverdueRead(BaseModel):
    """A person whose last perimeter pass was an entry longer ago than the threshold."""

    person_id: int
    last_in_at: dt.datetime
    hours: float


# -- watch-lists ----------------------------------------------------------------------------


class WatchlistCreate(Input):
    """Watch a person (by record) or a vehicle (by plate, registered or not)."""

    kind: WatchKind
    person_id: Id | None = None
    plate: PlateText | None = None
    level: WatchLevel = WatchLevel.warning
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    active_from: dt.datetime | None = None
    active_until: dt.datetime | None = None
    state: WatchState = WatchState.active


WatchlistUpdate = partial(WatchlistCreate, "WatchlistUpdate",
                          exclude=("community_id", "kind", "person_id", "plate"))


class WatchlistRead(BaseModel):
    """A watch-list entry (its reason hidden without `watchlists:personal`)."""

    model_config = FromRow
    id: int
    community_id: int
    kind: WatchKind
    person_id: int | None
    plate: str | None
    level: WatchLevel
    reason: str | None
    active_from: dt.datetime
    active_until: dt.datetime | None
    state: WatchState
    created_at: dt.datetime
    updated_at: dt.datetime


class WatchlistHitRead(BaseModel):
    """A pass by a watched subject."""

    model_config = FromRow
    id: int
    community_id: int
    created_at: dt.datetime
    watchlist_id: int
    pass_record_id: int
    kind: WatchKind
    level: WatchLevel
    person_id: int | None
    plate: str | None
    door_id: int | None
    occurred_at: dt.datetime


# -- visitors -------------------------------------------------------------------------------


class VisitFields(BaseModel):
    """Who visits and when."""

    model_config = StrictInput
    name: Name
    phone: Phone | None = None
    id_type: IdType | None = None
    id_number: DocumentNumber | None = None
    plate: PlateText | None = None
    purpose: str | None = Field(default=None, max_length=100)
    party_size: int = Field(default=1, ge=1, le=50)
    window_start: dt.datetime
    window_end: dt.datetime

    @model_validator(mode="after")
    def _window(self) -> VisitFields:
        start, end = aware(self.window_start), aware(self.window_end)
        if not start < end <= start + MAX_VISIT:
            raise ValueError("the visit window must end after it starts, within 7 days")
        if self.id_number and not self.id_type:
            raise ValueError("an id_number needs its id_type")
        self.window_start, self.window_end = start, end
        return self


class VisitInvite(VisitFields):
    """A resident invites a visitor to their household (approved by the invitation)."""

    room_id: Id
    host_person_id: Id | None = None


class GateVisit(VisitFields):
    """A guard registers a visitor at the gate; approved at once or left for the host."""

    room_id: Id
    host_person_id: Id | None = None
    approve_now: bool = False


class VisitBooking(VisitFields):
    """A visitor books a visit from the community's QR code (6.6.7.a)."""

    room_id: Id
    link: str = Field(min_length=1, max_length=300)


class VisitDecision(BaseModel):
    """Approve or reject a pending visit."""

    model_config = StrictInput
    approve: bool
    reason: str | None = Field(default=None, max_length=200)


class VisitorRead(BaseModel):
    """A visit (phone and document masked without `visitors:personal`)."""

    model_config = FromRow
    id: int
    community_id: int
    room_id: int
    building_id: int
    host_person_id: int | None
    name: str
    phone: str | None
    id_type: IdType | None
    id_number: str | None
    plate: str | None
    purpose: str | None
    party_size: int
    window_start: dt.datetime
    window_end: dt.datetime
    origin: VisitOrigin
    status: VisitStatus
    decided_by: int | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class VisitTicket(BaseModel):
    """What the inviter or the visitor gets: the visit and a ticket to follow it."""

    visit: VisitorRead
    ticket: str
    link: str
    token: str | None = None


class PublicVisit(BaseModel):
    """A visit as its ticket holder sees it: status, window and, once approved, the pass."""

    status: VisitStatus
    window_start: dt.datetime
    window_end: dt.datetime
    token: str | None


# -- self-registration ------------------------------------------------------------------------


class RegistrationForm(BaseModel):
    """The mobile form behind the community QR code (6.6.9.b)."""

    model_config = StrictInput
    link: str = Field(min_length=1, max_length=300)
    name: Name
    id_type: IdType = IdType.resident_id
    id_number: DocumentNumber
    phone: Phone | None = None
    room_id: Id
    relation: Relation = Relation.family_member
    face_photo_key: FileKey | None = None


class RegistrationDecision(BaseModel):
    """Approve or reject a registration."""

    model_config = StrictInput
    approve: bool
    reason: str | None = Field(default=None, max_length=200)
    valid_days: int = Field(default=365, ge=1, le=3650)


class RegistrationRead(BaseModel):
    """A self-registration under review."""

    model_config = FromRow
    id: int
    community_id: int
    name: str
    id_type: IdType
    id_number: str | None
    phone: str | None
    room_id: int
    relation: Relation
    face_photo_key: str | None
    status: RegistrationStatus
    decided_by: int | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    person_id: int | None
    credential_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RegistrationReceipt(BaseModel):
    """What the registrant gets: a ticket to follow the review and fetch the pass."""

    id: int
    status: RegistrationStatus
    ticket: str


class PublicRegistration(BaseModel):
    """A registration as its ticket holder sees it."""

    status: RegistrationStatus
    reason: str | None
    token: str | None


class CommunityLink(BaseModel):
    """The community's registration and booking link (what its QR code encodes)."""

    community: str
    link: str
    register_url: str
    visit_url: str


class NoInput(BaseModel):
    """Verb-only ledgers accept no generic input."""

    model_config = StrictInput
    community_id: Id | None = None
