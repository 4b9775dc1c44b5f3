"""Access control (出入管理): doors, credentials, the allow-list sequence, pass records,
watch-lists (布控) and their hits, visitors (访客) and self-registrations (自助登记).

Doors and gates are sensing devices; a `Door` is the access-control view of one (where it
is, which way it counts, whether it is on the community's perimeter) and names its device
by id only. Pass records are an append-only event stream: no foreign keys, narrow rows,
indexes for search by person, plate, door and time.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import LIVE, Base, BigId, LedgerBase, live_index, utcnow
from shequ.people.identity import IdType
from shequ.people.models import Relation, live_unique
from shequ.platform.security.fields import BlindIndex, EncryptedText


class DoorKind(enum.StrEnum):
    """What a door or gate is."""

    pedestrian_gate = "pedestrian_gate"
    vehicle_gate = "vehicle_gate"
    building_door = "building_door"
    unit_door = "unit_door"
    other = "other"


class Direction(enum.StrEnum):
    """Which way a pass goes."""

    in_ = "in"
    out = "out"


class DoorDirection(enum.StrEnum):
    """Which way a door counts passes when the device does not say."""

    in_ = "in"
    out = "out"
    both = "both"


class Door(LedgerBase, Base):
    """An access point (门禁点): a door or gate served by a sensing device."""

    __tablename__ = "doors"
    __table_args__ = (
        live_unique("uq_doors_community_device", "community_id", "device_id",
                    where=f"{LIVE} AND device_id IS NOT NULL"),
        live_index("ix_doors_community_kind", "community_id", "kind", "id"),
    )

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[DoorKind] = mapped_column(String(20))
    device_id: Mapped[int | None] = mapped_column(BigId)
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    place: Mapped[str | None] = mapped_column(String(100))
    direction: Mapped[DoorDirection] = mapped_column(String(8), default=DoorDirection.both)
    perimeter: Mapped[bool] = mapped_column(default=True)


class CredentialKind(enum.StrEnum):
    """Kinds of credential (凭证)."""

    card = "card"
    qr = "qr"
    face = "face"
    pin = "pin"


class CredentialState(enum.StrEnum):
    """Whether a credential opens doors."""

    active = "active"
    revoked = "revoked"


class VisitOrigin(enum.StrEnum):
    """How a visit came about (6.6.7)."""

    invitation = "invitation"
    gate = "gate"
    booking = "booking"


class VisitStatus(enum.StrEnum):
    """Where a visit stands."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"


class Visitor(LedgerBase, Base):
    """A visit to a household: the visitor, the window, and who approved it."""

    __tablename__ = "visitors"
    __table_args__ = (
        live_index("ix_visitors_community_window", "community_id", "window_start"),
        live_index("ix_visitors_room", "room_id", "window_start"),
        live_index("ix_visitors_community_status", "community_id", "status", "id"),
        Index("ix_visitors_phone_index", "community_id", "phone_index"),
    )

    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id"))
    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"))
    host_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(BlindIndex)
    id_type: Mapped[IdType | None] = mapped_column(String(20))
    id_number: Mapped[str | None] = mapped_column(EncryptedText)
    id_index: Mapped[str | None] = mapped_column(BlindIndex, index=True)
    plate: Mapped[str | None] = mapped_column(String(10))
    purpose: Mapped[str | None] = mapped_column(String(100))
    party_size: Mapped[int] = mapped_column(default=1)
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    origin: Mapped[VisitOrigin] = mapped_column(String(16))
    status: Mapped[VisitStatus] = mapped_column(String(16), default=VisitStatus.pending)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(String(200))
    ticket_digest: Mapped[str | None] = mapped_column(String(64), unique=True)


ACTIVE_CREDENTIAL = f"{LIVE} AND state = 'active' AND identifier_index IS NOT NULL"


class Credential(LedgerBase, Base):
    """A card, QR pass, face or PIN that opens the community's doors.

    `identifier` is the card number, face template id or PIN (encrypted); QR passes carry a
    signed token instead, named by `serial`. `change_seq` is the community's allow-list
    version at the credential's last change, so doors fetch only what changed.
    """

    __tablename__ = "credentials"
    __table_args__ = (
        live_unique("uq_credentials_active_identifier", "community_id", "kind",
                    "identifier_index", where=ACTIVE_CREDENTIAL),
        Index("ix_credentials_community_seq", "community_id", "change_seq"),
        live_index("ix_credentials_person", "person_id", "kind"),
        live_index("ix_credentials_visitor", "visitor_id"),
    )

    serial: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[CredentialKind] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    visitor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("visitors.id"))
    identifier: Mapped[str | None] = mapped_column(EncryptedText)
    identifier_index: Mapped[str | None] = mapped_column(BlindIndex)
    building_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("buildings.id"))
    valid_from: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    state: Mapped[CredentialState] = mapped_column(String(8), default=CredentialState.active)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
    change_seq: Mapped[int] = mapped_column(default=0)


class AccessSequence(Base):
    """The community's allow-list version: bumped by every credential change."""

    __tablename__ = "access_sequences"

    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"),
                                              primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class SubjectKind(enum.StrEnum):
    """Who or what passed."""

    person = "person"
    vehicle = "vehicle"
    visitor = "visitor"
    unknown = "unknown"


class PassMethod(enum.StrEnum):
    """How a door was opened (6.4.8.a)."""

    card = "card"
    face = "face"
    qr = "qr"
    pin = "pin"
    fingerprint = "fingerprint"
    id_card = "id_card"
    nfc = "nfc"
    plate = "plate"
    call = "call"
    app = "app"
    remote = "remote"
    visitor_code = "visitor_code"


class PassResult(enum.StrEnum):
    """Whether the door let the subject through."""

    granted = "granted"
    denied = "denied"


class PassRecord(Base):
    """One pass (通行记录) through a door or gate; append-only.

    No foreign keys (an event stream, written in batches); `building_id` is the door's,
    copied so that building-scoped staff see their doors' passes. On PostgreSQL the table is
    partitioned by month on `occurred_at` (migration 0005), so its keys include the time.
    """

    __tablename__ = "pass_records"
    __table_args__ = (
        live_index("ix_pass_records_community_time", "community_id", "occurred_at"),
        live_index("ix_pass_records_person_time", "community_id", "person_id", "occurred_at"),
        live_index("ix_pass_records_plate_time", "community_id", "plate", "occurred_at"),
        live_index("ix_pass_records_door_time", "community_id", "door_id", "occurred_at"),
        Index("uq_pass_records_source", "device_id", "source_key", "occurred_at", unique=True,
              sqlite_where=text("source_key IS NOT NULL"),
              postgresql_where=text("source_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(BigId)
    occurred_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    door_id: Mapped[int | None] = mapped_column(BigId)
    device_id: Mapped[int | None] = mapped_column(BigId)
    building_id: Mapped[int | None] = mapped_column(BigId)
    subject: Mapped[SubjectKind] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(BigId)
    vehicle_id: Mapped[int | None] = mapped_column(BigId)
    visitor_id: Mapped[int | None] = mapped_column(BigId)
    credential_id: Mapped[int | None] = mapped_column(BigId)
    plate: Mapped[str | None] = mapped_column(String(10))
    direction: Mapped[Direction] = mapped_column(String(3))
    method: Mapped[PassMethod] = mapped_column(String(12))
    result: Mapped[PassResult] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(40))
    snapshot_key: Mapped[str | None] = mapped_column(String(200))
    source_key: Mapped[str | None] = mapped_column(String(64))


class WatchKind(enum.StrEnum):
    """What a watch-list entry watches."""

    person = "person"
    vehicle = "vehicle"


class WatchLevel(enum.StrEnum):
    """How urgent a hit is."""

    info = "info"
    warning = "warning"
    critical = "critical"


class WatchState(enum.StrEnum):
    """Whether the entry is watching."""

    active = "active"
    cancelled = "cancelled"


class Watchlist(LedgerBase, Base):
    """A watch-list entry (布控): a person or a plate whose passes raise an alert."""

    __tablename__ = "watchlists"
    __table_args__ = (
        live_index("ix_watchlists_community_state", "community_id", "state", "kind"),
    )

    kind: Mapped[WatchKind] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    plate: Mapped[str | None] = mapped_column(String(10))
    level: Mapped[WatchLevel] = mapped_column(String(8), default=WatchLevel.warning)
    reason: Mapped[str] = mapped_column(Text)
    active_from: Mapped[dt.datetime] = mapped_column(default=utcnow)
    active_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    state: Mapped[WatchState] = mapped_column(String(10), default=WatchState.active)


class WatchlistHit(Base):
    """A pass by a watched subject; the event the alarm pipeline receives is emitted too."""

    __tablename__ = "watchlist_hits"
    __table_args__ = (
        live_index("ix_watchlist_hits_community_time", "community_id", "occurred_at"),
        live_index("ix_watchlist_hits_watchlist", "watchlist_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(BigId, ForeignKey("communities.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    watchlist_id: Mapped[int] = mapped_column(BigId, ForeignKey("watchlists.id"))
    pass_record_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[WatchKind] = mapped_column(String(8))
    level: Mapped[WatchLevel] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(BigId)
    plate: Mapped[str | None] = mapped_column(String(10))
    door_id: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[dt.datetime]


class RegistrationStatus(enum.StrEnum):
    """Where a self-registration stands."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class Registration(LedgerBase, Base):
    """A resident's self-registration from the community QR code (6.6.9.b), under review."""

    __tablename__ = "registrations"
    __table_args__ = (
        live_index("ix_registrations_community_status", "community_id", "status", "id"),
    )

    name: Mapped[str] = mapped_column(String(60))
    id_type: Mapped[IdType] = mapped_column(String(20))
    id_number: Mapped[str] = mapped_column(EncryptedText)
    id_index: Mapped[str] = mapped_column(BlindIndex, index=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(BlindIndex)
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id"))
    relation: Mapped[Relation] = mapped_column(String(16))
    face_photo_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[RegistrationStatus] = mapped_column(String(10),
                                                       default=RegistrationStatus.pending)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    credential_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("credentials.id"))
    ticket_digest: Mapped[str] = mapped_column(String(64), unique=True)
