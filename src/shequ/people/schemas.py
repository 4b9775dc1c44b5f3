"""Input and output models of persons, residency, vehicles, staff, key units and rentals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator

from shequ.kit.schema import FromRow, Id, StrictInput, partial
from shequ.people.identity import Gender, IdType, PlateKind, parse_plate
from shequ.people.models import (
    CareTag,
    KeyUnitCategory,
    PersonIdentity,
    PersonSource,
    PersonStatus,
    Population,
    Relation,
    RentalPurpose,
    RentalStatus,
    RiskLevel,
    VehicleCategory,
    VehicleType,
)
from shequ.platform.schemas import Phone

Name = Annotated[str, Field(min_length=1, max_length=60)]
DocumentNumber = Annotated[str, Field(min_length=1, max_length=30)]
FileKey = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z/._-]+$")]


def canonical_plate(raw: str | None) -> str | None:
    """A valid plate in canonical form (None passes: update models make fields optional)."""
    return None if raw is None else parse_plate(raw).text


PlateText = Annotated[str, Field(min_length=7, max_length=12), AfterValidator(canonical_plate)]
Note = Annotated[str, Field(max_length=2000)]


class Input(BaseModel):
    """Every input of this package refuses unknown fields and may name its community."""

    model_config = StrictInput
    community_id: Id | None = None


# -- persons ------------------------------------------------------------------------------------


class PersonCreate(Input):
    """A person of the actual population; gender and birth date follow a resident ID."""

    name: Name
    id_type: IdType = IdType.resident_id
    id_number: DocumentNumber | None = None
    gender: Gender | None = None
    birth_date: dt.date | None = None
    ethnicity: str | None = Field(default=None, max_length=20)
    phone: Phone | None = None
    population: Population = Population.registered
    identity: PersonIdentity = PersonIdentity.owner
    is_key_person: bool = False
    key_category: str | None = Field(default=None, max_length=40)
    care_tags: list[CareTag] = Field(default_factory=list, max_length=len(CareTag))
    domicile: str | None = Field(default=None, max_length=200)
    face_photo_key: FileKey | None = None
    status: PersonStatus = PersonStatus.active
    user_id: Id | None = None
    notes: Note | None = None

    @field_validator("care_tags")
    @classmethod
    def _unique_tags(cls, tags: list[CareTag] | None) -> list[CareTag] | None:
        return None if tags is None else list(dict.fromkeys(tags))


PersonUpdate = partial(PersonCreate, "PersonUpdate")


class PersonRead(BaseModel):
    """A person as the API shows it (confidential fields masked without `:personal`)."""

    model_config = FromRow
    id: int
    community_id: int
    name: str
    gender: Gender
    birth_date: dt.date | None
    ethnicity: str | None
    id_type: IdType
    id_number: str | None
    phone: str | None
    population: Population
    identity: PersonIdentity
    is_key_person: bool | None
    key_category: str | None
    care_tags: list[str] | None
    domicile: str | None
    face_photo_key: str | None
    household_id: int | None
    status: PersonStatus
    source: PersonSource
    user_id: int | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonLookup(BaseModel):
    """Find persons by exact identity number or phone (through the blind indexes)."""

    model_config = StrictInput
    community_id: Id | None = None
    id_number: DocumentNumber | None = None
    phone: Phone | None = None


# -- residency ----------------------------------------------------------------------------------


class ResidencyCreate(Input):
    """A person moves into a household."""

    person_id: Id
    room_id: Id
    relation: Relation
    is_householder: bool = False
    move_in_date: dt.date = Field(default_factory=dt.date.today)
    notes: Note | None = None


class ResidencyChange(ResidencyCreate):
    """Every field a residency has; setting `move_out_date` ends it (the row stays)."""

    move_out_date: dt.date | None = None


ResidencyUpdate = partial(ResidencyChange, "ResidencyUpdate",
                          exclude=("community_id", "person_id", "room_id"))


class ResidencyRead(BaseModel):
    """A residency: current when `move_out_date` is empty, history otherwise."""

    model_config = FromRow
    id: int
    community_id: int
    person_id: int
    room_id: int
    building_id: int
    relation: Relation
    is_householder: bool
    move_in_date: dt.date
    move_out_date: dt.date | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class MoveRequest(BaseModel):
    """Move a person: end their current residencies and, given a room, start a new one."""

    model_config = StrictInput
    room_id: Id | None = None
    relation: Relation = Relation.family_member
    is_householder: bool = False
    on: dt.date = Field(default_factory=dt.date.today)


# -- vehicles -----------------------------------------------------------------------------------


class VehicleCreate(Input):
    """A vehicle by plate; the plate's kind (ordinary, new-energy) is derived."""

    plate: PlateText
    vehicle_type: VehicleType = VehicleType.car
    category: VehicleCategory = VehicleCategory.resident
    owner_person_id: Id | None = None
    room_id: Id | None = None
    brand: str | None = Field(default=None, max_length=40)
    colour: str | None = Field(default=None, max_length=20)
    parking_space_id: Id | None = None
    notes: Note | None = None


VehicleUpdate = partial(VehicleCreate, "VehicleUpdate")


class VehicleRead(BaseModel):
    """A vehicle."""

    model_config = FromRow
    id: int
    community_id: int
    plate: str
    plate_kind: PlateKind
    vehicle_type: VehicleType
    category: VehicleCategory
    owner_person_id: int | None
    room_id: int | None
    brand: str | None
    colour: str | None
    parking_space_id: int | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


# -- organisations: staff and key units ---------------------------------------------------------


class StaffCreate(Input):
    """A person working for an organisation."""

    organisation_id: Id
    person_id: Id
    position: str | None = Field(default=None, max_length=60)
    since_date: dt.date | None = None
    until_date: dt.date | None = None
    notes: Note | None = None


StaffUpdate = partial(StaffCreate, "StaffUpdate",
                      exclude=("community_id", "organisation_id", "person_id"))


class StaffRead(BaseModel):
    """A staff link."""

    model_config = FromRow
    id: int
    community_id: int
    organisation_id: int
    person_id: int
    position: str | None
    since_date: dt.date | None
    until_date: dt.date | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class KeyUnitCreate(Input):
    """The key-unit profile of an organisation."""

    organisation_id: Id
    category: KeyUnitCategory
    risk_level: RiskLevel = RiskLevel.low
    risk_notes: Note | None = None
    safety_person_id: Id | None = None
    last_inspected_on: dt.date | None = None
    next_inspection_due: dt.date | None = None


KeyUnitUpdate = partial(KeyUnitCreate, "KeyUnitUpdate",
                        exclude=("community_id", "organisation_id"))


class KeyUnitRead(BaseModel):
    """A key unit."""

    model_config = FromRow
    id: int
    community_id: int
    organisation_id: int
    category: KeyUnitCategory
    risk_level: RiskLevel
    risk_notes: str | None
    safety_person_id: int | None
    last_inspected_on: dt.date | None
    next_inspection_due: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


# -- rentals ------------------------------------------------------------------------------------


class RentalCreate(Input):
    """A lease of a rented room."""

    room_id: Id
    landlord_person_id: Id | None = None
    tenant_person_id: Id | None = None
    lease_start: dt.date
    lease_end: dt.date
    monthly_rent: float | None = Field(default=None, ge=0, le=10_000_000)
    purpose: RentalPurpose = RentalPurpose.residential
    occupants: int = Field(default=1, ge=1, le=200)
    filed: bool = False
    status: RentalStatus = RentalStatus.active
    notes: Note | None = None


RentalUpdate = partial(RentalCreate, "RentalUpdate", exclude=("community_id", "room_id"))


class RentalRead(BaseModel):
    """A lease."""

    model_config = FromRow
    id: int
    community_id: int
    room_id: int
    building_id: int
    landlord_person_id: int | None
    tenant_person_id: int | None
    lease_start: dt.date
    lease_end: dt.date
    monthly_rent: float | None
    purpose: RentalPurpose
    occupants: int
    filed: bool
    status: RentalStatus
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


# -- summaries ------------------------------------------------------------------------------


class Count(BaseModel):
    """One labelled count."""

    key: str
    label: str
    count: int


class PeopleSummary(BaseModel):
    """Population, care and organisation statistics of a community (6.6.8.b, 6.6.9)."""

    community_id: int
    persons: int
    households: int
    average_household_size: float
    by_population: list[Count]
    by_identity: list[Count]
    by_age: list[Count]
    by_care_tag: list[Count]
    key_persons: int
    organisations_by_kind: list[Count]
    key_units_by_risk: list[Count]
    staff: int
    vehicles_by_category: list[Count]

