"""People verbs and the checks behind every write: documents, blind indexes, duplicates,
references, households.

The ledgers in `ledgers.py` call the `prepare_*` functions before a write and the `after_*`
functions after it, so generic create, update and import go through the same rules as the
verbs. `PeopleService` holds the verbs that compose several writes (moving a person).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cim.models import ParkingSpace, Room
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.errors import Conflict, ValidationFailed
from shequ.kit.i18n import t
from shequ.kit.ledger import AuditSink
from shequ.kit.scope import Principal
from shequ.people.identity import (
    Gender,
    IdType,
    normalise_document,
    parse_plate,
    parse_resident_id,
)
from shequ.people.models import KeyUnit, OrganisationStaff, Person, Residency, Vehicle
from shequ.people.schemas import MoveRequest, ResidencyCreate, ResidencyUpdate
from shequ.platform.models import Organisation, User
from shequ.platform.security.sm import blind_index


class DuplicatePerson(Conflict):
    """A person with the same identity number exists in the community."""

    code = "people.duplicate_person"


def invalid(field: str, code: str, **params: Any) -> ValidationFailed:
    """A 422 naming the field and the precise reason (the code is a message key)."""
    return ValidationFailed(code=code, errors=[{"field": field, "code": code,
                                                "message": t(code, **params)}], **params)


def check_document(id_type: IdType, number: str, field: str = "id_number") -> str:
    """The canonical document number, or a 422 saying what is wrong with it."""
    try:
        return normalise_document(id_type, number)
    except PydanticCustomError as exc:
        raise invalid(field, exc.type) from None


def _merged(data: dict[str, Any], current: Any, name: str, default: Any = None) -> Any:
    if name in data:
        return data[name]
    return getattr(current, name, default) if current is not None else default


# -- persons ------------------------------------------------------------------------------------


def prepare_person(session: Session, data: dict[str, Any], current: Person | None,
                   ) -> dict[str, Any]:
    """Validate the document, derive gender and birth date, index, refuse duplicates."""
    community_id = _merged(data, current, "community_id")
    if {"id_type", "id_number", "gender", "birth_date"} & data.keys() or current is None:
        _identity(data, current)
    if "id_number" in data:
        data["id_index"] = blind_index(data["id_number"]) if data["id_number"] else None
        if data["id_index"]:
            _refuse_duplicate(session, community_id, data["id_index"], current)
    if "phone" in data:
        data["phone_index"] = blind_index(data["phone"]) if data["phone"] else None
    if data.get("user_id") and session.get(User, data["user_id"]) is None:
        raise invalid("user_id", "people.user_missing", id=data["user_id"])
    if "care_tags" in data:
        data["care_tags"] = [str(tag) for tag in data["care_tags"] or []]
    return data


def _identity(data: dict[str, Any], current: Person | None) -> None:
    """Validate the number; a resident ID decides gender and birth date (given ones must match)."""
    id_type = IdType(_merged(data, current, "id_type", IdType.resident_id))
    number = _merged(data, current, "id_number")
    if not number:
        return
    data["id_number"] = check_document(id_type, number)
    if id_type != IdType.resident_id:
        return
    parsed = parse_resident_id(data["id_number"])
    for field, derived, code in (("gender", parsed.gender, "people.id.gender_mismatch"),
                                 ("birth_date", parsed.birth_date, "people.id.birth_mismatch")):
        given = data.get(field)
        if given in (None, Gender.unknown):
            data[field] = derived
        elif given != derived:
            raise invalid(field, code)


def _refuse_duplicate(session: Session, community_id: int, index: str,
                      current: Person | None) -> None:
    stmt = select(Person.id).where(Person.community_id == community_id,
                                   Person.id_index == index, Person.deleted_at.is_(None))
    if current is not None:
        stmt = stmt.where(Person.id != current.id)
    existing = session.scalar(stmt.limit(1))
    if existing is not None:
        raise DuplicatePerson(extra={"existing_id": existing})


def find_by_index(session: Session, community_ids: frozenset[int] | None,
                  id_number: str | None, phone: str | None) -> list[Person]:
    """Persons whose identity number or phone is exactly the given value."""
    stmt = select(Person).where(Person.deleted_at.is_(None))
    if community_ids is not None:
        stmt = stmt.where(Person.community_id.in_(sorted(community_ids)))
    if id_number:
        stmt = stmt.where(Person.id_index == blind_index(id_number))
    if phone:
        stmt = stmt.where(Person.phone_index == blind_index(phone))
    return list(session.scalars(stmt.order_by(Person.id).limit(50)))


# -- residency ----------------------------------------------------------------------------------


def prepare_residency(session: Session, data: dict[str, Any], current: Residency | None,
                      ) -> dict[str, Any]:
    """Person and room must exist in the community; one open residency per person and room."""
    if current is None:
        community_id = data["community_id"]
        parent(session, Person, data["person_id"], community_id, "person_id")
        room = parent(session, Room, data["room_id"], community_id, "room_id")
        data["building_id"] = room.building_id
        if open_residency(session, data["person_id"], data["room_id"]) is not None:
            raise Conflict(code="people.already_resident")
    moved_in = _merged(data, current, "move_in_date")
    moved_out = _merged(data, current, "move_out_date")
    if moved_out is not None and moved_out < moved_in:
        raise invalid("move_out_date", "people.move_out_before_in")
    return data


def open_residency(session: Session, person_id: int, room_id: int) -> Residency | None:
    """The person's current residency in the room, if any."""
    return session.scalar(select(Residency).where(
        Residency.person_id == person_id, Residency.room_id == room_id,
        Residency.move_out_date.is_(None), Residency.deleted_at.is_(None)))


def refresh_household(session: Session, person_id: int) -> None:
    """Set the person's current household to their latest open residency's room."""
    session.flush()
    room_id = session.scalar(select(Residency.room_id).where(
        Residency.person_id == person_id, Residency.move_out_date.is_(None),
        Residency.deleted_at.is_(None)).order_by(Residency.move_in_date.desc(),
                                                 Residency.id.desc()).limit(1))
    person = session.get(Person, person_id)
    if person is not None and person.household_id != room_id:
        person.household_id = room_id


# -- vehicles, staff, key units, rentals ----------------------------------------------------


def prepare_vehicle(session: Session, data: dict[str, Any], current: Vehicle | None,
                    ) -> dict[str, Any]:
    """Plate kind from the plate; owner, household and space must exist; one row per plate."""
    community_id = _merged(data, current, "community_id")
    if data.get("plate"):
        data["plate_kind"] = parse_plate(data["plate"]).kind
        stmt = select(Vehicle.id).where(Vehicle.community_id == community_id,
                                        Vehicle.plate == data["plate"],
                                        Vehicle.deleted_at.is_(None))
        if current is not None:
            stmt = stmt.where(Vehicle.id != current.id)
        if session.scalar(stmt.limit(1)) is not None:
            raise Conflict(code="people.duplicate_vehicle", plate=data["plate"])
    _parents(session, data, community_id, owner_person_id=Person, room_id=Room,
             parking_space_id=ParkingSpace)
    return data


def _parents(session: Session, data: dict[str, Any], community_id: int, **models: Any) -> None:
    for field, model in models.items():
        if data.get(field):
            parent(session, model, data[field], community_id, field)


def prepare_staff(session: Session, data: dict[str, Any], current: OrganisationStaff | None,
                  ) -> dict[str, Any]:
    """Organisation and person must exist; the end date follows the start."""
    community_id = _merged(data, current, "community_id")
    _parents(session, data, community_id, organisation_id=Organisation, person_id=Person)
    since, until = _merged(data, current, "since_date"), _merged(data, current, "until_date")
    if since and until and until < since:
        raise invalid("until_date", "people.dates_reversed")
    return data


def prepare_key_unit(session: Session, data: dict[str, Any], current: KeyUnit | None,
                     ) -> dict[str, Any]:
    """The organisation and the safety person must exist in the community."""
    community_id = _merged(data, current, "community_id")
    _parents(session, data, community_id, organisation_id=Organisation,
             safety_person_id=Person)
    return data


def mark_key_unit(session: Session, row: KeyUnit) -> None:
    """Keep the organisation's key-unit flag in step with its profile."""
    organisation = session.get(Organisation, row.organisation_id)
    if organisation is not None:
        organisation.is_key_unit = row.deleted_at is None


def prepare_rental(session: Session, data: dict[str, Any], current: Any) -> dict[str, Any]:
    """Room, landlord and tenant must exist; the lease ends after it starts."""
    community_id = _merged(data, current, "community_id")
    if current is None:
        room = parent(session, Room, data["room_id"], community_id, "room_id")
        data["building_id"] = room.building_id
    _parents(session, data, community_id, landlord_person_id=Person, tenant_person_id=Person)
    start, end = _merged(data, current, "lease_start"), _merged(data, current, "lease_end")
    if start and end and end <= start:
        raise invalid("lease_end", "people.dates_reversed")
    return data


# -- verbs ------------------------------------------------------------------------------------


class PeopleService:
    """Verbs that compose several ledger writes; each write is audited by the ledger."""

    def __init__(self, audit: AuditSink) -> None:
        self.audit = audit

    def move(self, session: Session, principal: Principal, person_id: int,
             request: MoveRequest) -> list[Residency]:
        """End the person's open residencies on `request.on`; start one in `room_id` if given."""
        from shequ.people.ledgers import persons, residencies

        person = persons.get(session, principal, person_id, "update")
        ended = []
        for row in session.scalars(select(Residency).where(
                Residency.person_id == person.id, Residency.move_out_date.is_(None),
                Residency.deleted_at.is_(None))).all():
            if row.room_id == request.room_id:
                raise Conflict(code="people.already_resident")
            ended.append(residencies.update(session, principal, row.id,
                                            ResidencyUpdate(move_out_date=request.on),
                                            self.audit))
        if request.room_id is None:
            if not ended:
                raise Conflict(code="people.not_resident")
            return ended
        body = ResidencyCreate(community_id=person.community_id, person_id=person.id,
                               room_id=request.room_id, relation=request.relation,
                               is_householder=request.is_householder, move_in_date=request.on)
        return [*ended, residencies.create(session, principal, body, self.audit)]


def age_on(born: dt.date, day: dt.date) -> int:
    """Whole years between a birth date and a day."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def today() -> dt.date:
    """Today's date in UTC."""
    return utcnow().date()
