"""Holographic archives (全息档案) of a person, a vehicle and a house (6.6.9.j, 6.5.8.g,
6.6.10.h): one call gathers everything linked to the subject.

An archive is a set of named sections registered per subject kind; packages add theirs
(`access` adds passes, credentials, visits and watch-lists; the case engine's cases join
when that package is installed). Every section reads through its ledger's `visible()` and
`present()`, so the reader's scope and masks apply; a section whose ledger the reader may
not read is listed as omitted. Unmasked personal data shown is collected for the audit.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from shequ.kit.errors import BadRequest, NotFound
from shequ.kit.ledger import AuditSink, Ledger
from shequ.kit.scope import Principal

KINDS = {"person": "persons", "vehicle": "vehicles", "house": "rooms"}


@dataclass
class ArchiveReader:
    """Reads for one archive: scoped, masked, and remembering what was shown unmasked."""

    session: Session
    principal: Principal
    revealed: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def may_read(self, ledger_name: str) -> bool:
        """Whether the ledger is installed and the reader may read it somewhere."""
        ledger = Ledger.registry.get(ledger_name)
        return ledger is not None and not self.principal.scope_for(
            f"{ledger.permission}:read").empty

    def present(self, ledger_name: str, row: Any) -> dict[str, Any]:
        """One row as the reader may see it."""
        ledger = Ledger.registry[ledger_name]
        if ledger.reveals(self.principal, row):
            self.revealed.setdefault(ledger_name, []).append((row.community_id, row.id))
        return ledger.present(row, self.principal)

    def rows(self, ledger_name: str, *where: ColumnElement[bool], order: str = "-id",
             limit: int = 100) -> list[dict[str, Any]]:
        """Visible rows of a ledger matching the conditions."""
        ledger = Ledger.registry[ledger_name]
        column = ledger.model.__table__.c[order.lstrip("-")]
        stmt = ledger.visible(self.principal).where(*where).order_by(
            column.desc() if order.startswith("-") else column).limit(limit)
        return [self.present(ledger_name, row) for row in self.session.scalars(stmt)]

    def column(self, ledger_name: str, name: str) -> Any:
        """A column of a ledger's table."""
        return Ledger.registry[ledger_name].model.__table__.c[name]

    def record(self, session: Session, audit: AuditSink) -> None:
        """Audit every unmasked read this archive made."""
        for name, rows in self.revealed.items():
            Ledger.registry[name].audit_read(session, self.principal, audit, "archive", rows)


Builder = Callable[[ArchiveReader, Any], Any]


@dataclass(frozen=True)
class Section:
    """One part of an archive: what it needs to read and how it is built."""

    ledger: str
    build: Builder


_sections: dict[str, dict[str, Section]] = {kind: {} for kind in KINDS}


def register_section(kind: str, name: str, ledger: str, build: Builder) -> None:
    """Add a section to the archives of a kind (person, vehicle, house)."""
    _sections[kind][name] = Section(ledger, build)


def linked(kind: str, name: str, ledger: str, column: str, key: str = "id",
           order: str = "-id", limit: int = 100) -> None:
    """Add a section listing the ledger's rows whose `column` equals the subject's `key`."""

    def build(reader: ArchiveReader, subject: Any) -> list[dict[str, Any]]:
        value = getattr(subject, key)
        if value is None:
            return []
        return reader.rows(ledger, reader.column(ledger, column) == value, order=order,
                           limit=limit)

    register_section(kind, name, ledger, build)


def section_names(kind: str) -> list[str]:
    """The sections an archive of this kind can have."""
    return list(_sections[kind])


def build_archive(reader: ArchiveReader, kind: str, subject_id: int,
                  wanted: Iterable[str] | None = None) -> dict[str, Any]:
    """The archive of one subject: itself, its sections, and the sections left out."""
    if kind not in KINDS:
        raise NotFound(code="request.not_found")
    sections = _sections[kind]
    names = list(wanted) if wanted is not None else list(sections)
    unknown = [n for n in names if n not in sections]
    if unknown:
        raise BadRequest(code="people.archive.unknown_section", name=unknown[0][:40])
    ledger_name = KINDS[kind]
    ledger = Ledger.registry[ledger_name]
    subject = ledger.get(reader.session, reader.principal, subject_id)
    body: dict[str, Any] = {}
    omitted = []
    for name in names:
        section = sections[name]
        if reader.may_read(section.ledger):
            body[name] = section.build(reader, subject)
        else:
            omitted.append(name)
    return {"kind": kind, "id": subject_id, "subject": reader.present(ledger_name, subject),
            "sections": body, "omitted": omitted}


# -- the people sections ----------------------------------------------------------------------


def _household(reader: ArchiveReader, person: Any) -> list[dict[str, Any]]:
    if person.household_id is None:
        return []
    return reader.rows("persons", reader.column("persons", "household_id")
                       == person.household_id, order="id")


def _owner(reader: ArchiveReader, vehicle: Any) -> list[dict[str, Any]]:
    if vehicle.owner_person_id is None:
        return []
    return reader.rows("persons", reader.column("persons", "id") == vehicle.owner_person_id)


def _residents(current: bool) -> Builder:
    def build(reader: ArchiveReader, room: Any) -> list[dict[str, Any]]:
        moved_out = reader.column("residencies", "move_out_date")
        rows = reader.rows("residencies", reader.column("residencies", "room_id") == room.id,
                           moved_out.is_(None) if current else moved_out.is_not(None),
                           order="-move_in_date")
        people = _people(reader, {r["person_id"] for r in rows})
        return [{**r, "person": people.get(r["person_id"])} for r in rows]

    return build


def _people(reader: ArchiveReader, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids or not reader.may_read("persons"):
        return {}
    found = reader.rows("persons", reader.column("persons", "id").in_(sorted(ids)),
                        limit=len(ids))
    return {p["id"]: p for p in found}


def _declare() -> None:
    linked("person", "residency", "residencies", "person_id", order="-move_in_date")
    register_section("person", "household", "persons", _household)
    linked("person", "vehicles", "vehicles", "owner_person_id")
    linked("person", "employment", "organisation_staff", "person_id")
    linked("person", "tenancies", "rentals", "tenant_person_id", order="-lease_start")
    linked("person", "lettings", "rentals", "landlord_person_id", order="-lease_start")
    register_section("vehicle", "owner", "persons", _owner)
    register_section("house", "occupants", "residencies", _residents(current=True))
    register_section("house", "history", "residencies", _residents(current=False))
    linked("house", "vehicles", "vehicles", "room_id")
    linked("house", "rentals", "rentals", "room_id", order="-lease_start")
    if importlib.util.find_spec("shequ.cases.models") is not None:
        linked("person", "cases", "cases", "person_id", limit=50)
        linked("vehicle", "cases", "cases", "vehicle_id", limit=50)
        linked("house", "cases", "cases", "room_id", limit=50)


_declare()

