"""Population, care and organisation statistics of a community (6.6.8.b, 6.6.9), and the
care list: every count runs through the reader's scope for its ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func
from sqlalchemy.orm import Session

from shequ.kit.fields import enum_label
from shequ.kit.i18n import t
from shequ.kit.ledger import Ledger
from shequ.kit.scope import Principal
from shequ.people.ledgers import (
    key_units,
    organisation_staff,
    persons,
    residencies,
    vehicles,
)
from shequ.people.models import CareTag, Person, Residency
from shequ.people.service import age_on
from shequ.platform.ledgers import organisations

AGE_BANDS = ((0, 17, "child"), (18, 59, "adult"), (60, 79, "senior"), (80, 200, "old"))


def _may(principal: Principal, ledger: Ledger[Any]) -> bool:
    return not principal.scope_for(f"{ledger.permission}:stats").empty


def _count(session: Session, principal: Principal, ledger: Ledger[Any], community_id: int,
           *where: ColumnElement[bool]) -> int:
    if not _may(principal, ledger):
        return 0
    model: Any = ledger.model
    stmt = ledger.visible(principal, "stats").where(model.community_id == community_id, *where)
    return int(session.scalar(stmt.with_only_columns(func.count())) or 0)


def grouped(session: Session, principal: Principal, ledger: Ledger[Any], community_id: int,
            field: str) -> list[dict[str, Any]]:
    """Counts of a ledger's visible rows in a community by an enum field, labelled."""
    if not _may(principal, ledger):
        return []
    model: Any = ledger.model
    column = getattr(model, field)
    stmt = ledger.visible(principal, "stats").where(model.community_id == community_id)
    rows = session.execute(stmt.with_only_columns(column, func.count()).group_by(column)
                           .order_by(column)).all()
    enum = ledger.fields[field].enum
    return [{"key": str(k), "label": enum_label(enum, k) if enum else str(k), "count": n}
            for k, n in rows]


def care_condition(tag: CareTag) -> ColumnElement[bool]:
    """Persons carrying a care tag (the JSON list holds the quoted tag)."""
    return cast(Person.care_tags, String).like(f'%"{tag.value}"%')


def _ages(session: Session, principal: Principal, community_id: int,
          today: dt.date) -> list[dict[str, Any]]:
    if not _may(principal, persons):
        return []
    stmt = persons.visible(principal, "stats").where(Person.community_id == community_id)
    counts = dict.fromkeys([band for *_, band in AGE_BANDS] + ["unknown"], 0)
    for born, n in session.execute(stmt.with_only_columns(Person.birth_date, func.count())
                                   .group_by(Person.birth_date)):
        counts[_band(age_on(born, today)) if born else "unknown"] += n
    return [{"key": k, "label": t(f"people.age.{k}"), "count": n} for k, n in counts.items()]


def _households(session: Session, principal: Principal, community_id: int) -> tuple[int, int]:
    """Households with someone living there now, and how many live in them."""
    if not _may(principal, residencies):
        return 0, 0
    stmt = residencies.visible(principal, "stats").where(
        Residency.community_id == community_id, Residency.move_out_date.is_(None))
    rooms, people = session.execute(stmt.with_only_columns(
        func.count(func.distinct(Residency.room_id)),
        func.count(func.distinct(Residency.person_id)))).one()
    return int(rooms), int(people)


def _band(age: int) -> str:
    return next((band for low, high, band in AGE_BANDS if low <= age <= high), "unknown")


def summary(session: Session, principal: Principal, community_id: int,
            today: dt.date) -> dict[str, Any]:
    """Every headline count of the community's population and organisations."""
    total = _count(session, principal, persons, community_id)
    households, residents = _households(session, principal, community_id)
    return {
        "community_id": community_id, "persons": total, "households": households,
        "average_household_size": round(residents / households, 2) if households else 0.0,
        "by_population": grouped(session, principal, persons, community_id, "population"),
        "by_identity": grouped(session, principal, persons, community_id, "identity"),
        "by_age": _ages(session, principal, community_id, today),
        "by_care_tag": [{"key": tag.value, "label": enum_label(CareTag, tag),
                         "count": _count(session, principal, persons, community_id,
                                         care_condition(tag))} for tag in CareTag],
        "key_persons": _count(session, principal, persons, community_id,
                              Person.is_key_person.is_(True)),
        "organisations_by_kind": grouped(session, principal, organisations, community_id,
                                         "kind"),
        "key_units_by_risk": grouped(session, principal, key_units, community_id,
                                     "risk_level"),
        "staff": _count(session, principal, organisation_staff, community_id,
                        organisation_staff.model.until_date.is_(None)),
        "vehicles_by_category": grouped(session, principal, vehicles, community_id,
                                        "category"),
    }
