"""Dynamic management (动态管理): persons (实有人口), residency and households, vehicles,
organisation staff and key units (实有单位), rentals (出租房屋).

Identity numbers and phones are SM4-encrypted at rest (`EncryptedText`) and found by exact
value through HMAC-SM3 blind indexes (`*_index`). A room (`rooms.id`) is a household (户):
`Person.household_id` is the person's current household, kept by the residency verbs.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import LIVE, Base, BigId, LedgerBase, live_index
from shequ.people.identity import Gender, IdType, PlateKind
from shequ.platform.security.fields import BlindIndex, EncryptedText


def live_unique(name: str, *columns: str, where: str = LIVE) -> Index:
    """A unique index over live rows only (soft-deleted rows keep their history)."""
    return Index(name, *columns, unique=True, sqlite_where=text(where),
                 postgresql_where=text(where))


class Population(enum.StrEnum):
    """Population class (人口类别, 6.6.9.a)."""

    registered = "registered"
    resident = "resident"
    floating = "floating"
    overseas = "overseas"


class PersonIdentity(enum.StrEnum):
    """A person's standing in the community."""

    owner = "owner"
    tenant = "tenant"
    family_member = "family_member"
    staff = "staff"
    other = "other"


class PersonStatus(enum.StrEnum):
    """Whether the person is still part of the community."""

    active = "active"
    left = "left"
    deceased = "deceased"


class CareTag(enum.StrEnum):
    """Care tags (关爱标签) for people the community looks after."""

    living_alone = "living_alone"
    elderly = "elderly"
    disabled = "disabled"
    empty_nest = "empty_nest"
    low_income = "low_income"
    chronic_illness = "chronic_illness"


class PersonSource(enum.StrEnum):
    """How the person's record came in."""

    staff = "staff"
    self_registration = "self_registration"
    import_ = "import"


class Person(LedgerBase, Base):
    """A person of the actual population (实有人口)."""

    __tablename__ = "persons"
    __table_args__ = (
        live_unique("uq_persons_community_id_index", "community_id", "id_index"),
        live_index("ix_persons_community_population", "community_id", "population", "id"),
        live_index("ix_persons_community_household", "community_id", "household_id"),
        live_index("ix_persons_community_name", "community_id", "name"),
        Index("ix_persons_phone_index", "community_id", "phone_index"),
    )

    name: Mapped[str] = mapped_column(String(60))
    gender: Mapped[Gender] = mapped_column(String(8), default=Gender.unknown)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))
    id_type: Mapped[IdType] = mapped_column(String(20), default=IdType.resident_id)
    id_number: Mapped[str | None] = mapped_column(EncryptedText)
    id_index: Mapped[str | None] = mapped_column(BlindIndex)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(BlindIndex)
    population: Mapped[Population] = mapped_column(String(16), default=Population.registered)
    identity: Mapped[PersonIdentity] = mapped_column(String(16), default=PersonIdentity.owner)
    is_key_person: Mapped[bool] = mapped_column(default=False)
    key_category: Mapped[str | None] = mapped_column(String(40))
    care_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    domicile: Mapped[str | None] = mapped_column(String(200))
    face_photo_key: Mapped[str | None] = mapped_column(String(200))
    household_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    status: Mapped[PersonStatus] = mapped_column(String(16), default=PersonStatus.active)
    source: Mapped[PersonSource] = mapped_column(String(20), default=PersonSource.staff)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(Text)


class Relation(enum.StrEnum):
    """A person's relation to a household (与户关系)."""

    owner = "owner"
    family_member = "family_member"
    tenant = "tenant"
    co_resident = "co_resident"
    other = "other"


OPEN_RESIDENCY = f"{LIVE} AND move_out_date IS NULL"


class Residency(LedgerBase, Base):
    """A person living in a household from move-in to move-out; ended rows are history."""

    __tablename__ = "residencies"
    __table_args__ = (
        live_unique("uq_residencies_open", "person_id", "room_id", where=OPEN_RESIDENCY),
        live_index("ix_residencies_community_room", "community_id", "room_id", "move_in_date"),
        live_index("ix_residencies_person", "person_id", "move_in_date"),
    )

    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("persons.id"))
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id"))
    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"))
    relation: Mapped[Relation] = mapped_column(String(16))
    is_householder: Mapped[bool] = mapped_column(default=False)
    move_in_date: Mapped[dt.date] = mapped_column(Date)
    move_out_date: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)


class VehicleType(enum.StrEnum):
    """Vehicle types, as plate-recognition gates report them."""

    car = "car"
    suv = "suv"
    van = "van"
    truck = "truck"
    bus = "bus"
    motorcycle = "motorcycle"
    other = "other"


class VehicleCategory(enum.StrEnum):
    """Whose vehicle it is: registered to the community or a visitor's (6.5.8.e)."""

    resident = "resident"
    staff = "staff"
    visitor = "visitor"
    other = "other"


class Vehicle(LedgerBase, Base):
    """A vehicle known to the community, by plate (6.5.8.a)."""

    __tablename__ = "vehicles"
    __table_args__ = (
        live_unique("uq_vehicles_community_plate", "community_id", "plate"),
        live_index("ix_vehicles_community_category", "community_id", "category", "id"),
        live_index("ix_vehicles_owner", "owner_person_id"),
        live_index("ix_vehicles_room", "room_id"),
    )

    plate: Mapped[str] = mapped_column(String(10))
    plate_kind: Mapped[PlateKind] = mapped_column(String(20))
    vehicle_type: Mapped[VehicleType] = mapped_column(String(16), default=VehicleType.car)
    category: Mapped[VehicleCategory] = mapped_column(String(16),
                                                      default=VehicleCategory.resident)
    owner_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    room_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("rooms.id"))
    brand: Mapped[str | None] = mapped_column(String(40))
    colour: Mapped[str | None] = mapped_column(String(20))
    parking_space_id: Mapped[int | None] = mapped_column(BigId,
                                                         ForeignKey("parking_spaces.id"))
    notes: Mapped[str | None] = mapped_column(Text)


class OrganisationStaff(LedgerBase, Base):
    """A person working for an organisation of the community (从业人员, 6.6.8.c)."""

    __tablename__ = "organisation_staff"
    __table_args__ = (
        live_unique("uq_organisation_staff_open", "organisation_id", "person_id",
                    where=f"{LIVE} AND until_date IS NULL"),
        live_index("ix_organisation_staff_org", "community_id", "organisation_id"),
        live_index("ix_organisation_staff_person", "person_id"),
    )

    organisation_id: Mapped[int] = mapped_column(BigId, ForeignKey("organisations.id"))
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("persons.id"))
    position: Mapped[str | None] = mapped_column(String(60))
    since_date: Mapped[dt.date | None] = mapped_column(Date)
    until_date: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)


class KeyUnitCategory(enum.StrEnum):
    """Why an organisation is a key unit (重点单位)."""

    hazardous_materials = "hazardous_materials"
    crowded_place = "crowded_place"
    school = "school"
    childcare = "childcare"
    elderly_care = "elderly_care"
    medical = "medical"
    fuel_station = "fuel_station"
    construction_site = "construction_site"
    warehouse = "warehouse"
    other = "other"


class RiskLevel(enum.StrEnum):
    """A key unit's assessed risk."""

    low = "low"
    medium = "medium"
    high = "high"
    major = "major"


class KeyUnit(LedgerBase, Base):
    """The key-unit profile of an organisation: category, risk and inspections (6.6.8)."""

    __tablename__ = "key_units"
    __table_args__ = (
        live_unique("uq_key_units_organisation", "organisation_id"),
        live_index("ix_key_units_community_risk", "community_id", "risk_level", "id"),
    )

    organisation_id: Mapped[int] = mapped_column(BigId, ForeignKey("organisations.id"))
    category: Mapped[KeyUnitCategory] = mapped_column(String(24))
    risk_level: Mapped[RiskLevel] = mapped_column(String(8), default=RiskLevel.low)
    risk_notes: Mapped[str | None] = mapped_column(Text)
    safety_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    last_inspected_on: Mapped[dt.date | None] = mapped_column(Date)
    next_inspection_due: Mapped[dt.date | None] = mapped_column(Date)


class RentalPurpose(enum.StrEnum):
    """What a rented room is used for."""

    residential = "residential"
    group_rental = "group_rental"
    commercial = "commercial"
    other = "other"


class RentalStatus(enum.StrEnum):
    """Where a lease stands."""

    active = "active"
    ended = "ended"
    terminated = "terminated"


class Rental(LedgerBase, Base):
    """A lease of a rented room (出租房屋, 6.6.10.g): landlord, tenant, dates, filing."""

    __tablename__ = "rentals"
    __table_args__ = (
        live_index("ix_rentals_community_status", "community_id", "status", "lease_end"),
        live_index("ix_rentals_room", "room_id", "lease_start"),
    )

    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id"))
    building_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildings.id"))
    landlord_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    tenant_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persons.id"))
    lease_start: Mapped[dt.date] = mapped_column(Date)
    lease_end: Mapped[dt.date] = mapped_column(Date)
    monthly_rent: Mapped[float | None] = mapped_column(Float)
    purpose: Mapped[RentalPurpose] = mapped_column(String(16), default=RentalPurpose.residential)
    occupants: Mapped[int] = mapped_column(default=1)
    filed: Mapped[bool] = mapped_column(default=False)
    status: Mapped[RentalStatus] = mapped_column(String(16), default=RentalStatus.active)
    notes: Mapped[str | None] = mapped_column(Text)

