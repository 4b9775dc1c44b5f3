"""People routes beyond the generic ledgers: exact lookup through the blind indexes, moving
a person, community statistics, the care list, holographic archives and the field
classification. Thin: parse, authorise, call, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from shequ.api.deps import CurrentSubject, ReadSession, ServicesDep, WriteSession
from shequ.cim.api import community_for
from shequ.kit import features
from shequ.kit.errors import BadRequest
from shequ.kit.ledger import MAX_PAGE_SIZE
from shequ.kit.ledger_api import json_response
from shequ.kit.schema import MAX_ID
from shequ.people import reports
from shequ.people.archive import ArchiveReader, build_archive, section_names
from shequ.people.ledgers import persons, residencies
from shequ.people.models import CareTag, Person
from shequ.people.privacy import classification, present_audited
from shequ.people.schemas import (
    MoveRequest,
    PeopleSummary,
    PersonLookup,
    PersonRead,
    ResidencyRead,
)
from shequ.people.service import PeopleService, find_by_index, today

router = APIRouter(tags=["people"])
features.provide("feature:people")
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def people_service(services: ServicesDep) -> PeopleService:
    """The people verbs bound to the platform's audit log."""
    return PeopleService(audit=services.platform.record)


PeopleVerbs = Annotated[PeopleService, Depends(people_service)]


@router.post("/people/lookup", response_model=list[PersonRead],
             summary="Find persons by exact document number or phone (blind index)")
def lookup(body: PersonLookup, subject: CurrentSubject, services: ServicesDep,
           session: ReadSession, writer: WriteSession) -> Any:
    """Exact-value search over encrypted fields; the values travel in the body, not the URL."""
    if not body.id_number and not body.phone:
        raise BadRequest(code="people.lookup_empty")
    reach = persons.scope(subject, "read").community_ids()
    if body.community_id is not None:
        reach = frozenset({body.community_id}) if reach is None else reach & {body.community_id}
    found = find_by_index(session, reach, body.id_number, body.phone)
    visible = {row.id for row in session.scalars(persons.visible(subject).where(
        Person.id.in_([p.id for p in found])))}
    rows = [p for p in found if p.id in visible]
    return json_response(present_audited(persons, rows, subject, writer,
                                         services.platform.record, "lookup"))


@router.post("/persons/{person_id}/move", response_model=list[ResidencyRead],
             summary="Move a person out of their household and, given a room, into another")
def move(person_id: RowId, body: MoveRequest, subject: CurrentSubject, verbs: PeopleVerbs,
         session: WriteSession) -> Any:
    """End current residencies on the date; start one in the new room (history is kept)."""
    rows = verbs.move(session, subject, person_id, body)
    return json_response([residencies.present(r, subject) for r in rows])


@router.get("/communities/{code}/people/summary", response_model=PeopleSummary,
            summary="Population, care, organisation and vehicle statistics")
def summary(code: str, subject: CurrentSubject, session: ReadSession) -> Any:
    """Counts by class, standing, age band and care tag; organisations, key units, staff."""
    community = community_for(session, subject, code, "persons:stats")
    return reports.summary(session, subject, community.id, today())


@router.get("/communities/{code}/people/care", response_model=list[PersonRead],
            summary="Persons with a care tag (living alone, elderly, disabled ...)")
def care(code: str, subject: CurrentSubject, services: ServicesDep, session: ReadSession,
         writer: WriteSession, tag: CareTag,
         limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100) -> Any:
    """The people the community looks after, by tag."""
    community = community_for(session, subject, code, "persons:read")
    rows = session.scalars(persons.visible(subject).where(
        Person.community_id == community.id, reports.care_condition(tag))
        .order_by(Person.id).limit(limit)).all()
    return json_response(present_audited(persons, rows, subject, writer,
                                         services.platform.record, "care"))


@router.get("/archives/{kind}/{subject_id}", tags=["archives"],
            summary="Holographic archive (全息档案) of a person, vehicle or house")
def archive(kind: Annotated[str, Path(pattern="^(person|vehicle|house)$")],
            subject_id: RowId, subject: CurrentSubject, services: ServicesDep,
            session: ReadSession, writer: WriteSession,
            sections: Annotated[str | None, Query(max_length=400)] = None) -> Any:
    """Everything linked to the subject that the caller may see; unmasked reads audited."""
    reader = ArchiveReader(session, subject)
    wanted = [s for s in sections.split(",") if s] if sections else None
    body = build_archive(reader, kind, subject_id, wanted)
    reader.record(writer, services.platform.record)
    return json_response(body)


@router.get("/archives/{kind}", tags=["archives"], summary="The sections an archive can have")
def archive_sections(kind: Annotated[str, Path(pattern="^(person|vehicle|house)$")],
                     subject: CurrentSubject) -> list[str]:
    """Section names of an archive kind."""
    return section_names(kind)


@router.get("/privacy/classification", tags=["privacy"],
            summary="Field classification and export desensitisation policies (6.8.1)")
def field_classification(subject: CurrentSubject) -> dict[str, Any]:
    """Every classified ledger's fields with level, display mask and export policy."""
    return {ledger: {name: {"level": rule.level, "mask": rule.mask, "export": rule.export}
                     for name, rule in rules.items()}
            for ledger, rules in classification().items()}
