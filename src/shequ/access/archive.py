"""The access sections of the holographic archives: passes, credentials, watch-lists,
registrations and visits (registered with `shequ.people.archive`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func

from shequ.access.ledgers import pass_records
from shequ.access.models import PassRecord
from shequ.kit.db import utcnow
from shequ.people.archive import ArchiveReader, linked, register_section

RECENT = 20
WINDOW = dt.timedelta(days=30)


def _passes(column: str, key: str) -> Any:
    """Recent passes of the subject and its pass count over the last 30 days."""

    def build(reader: ArchiveReader, subject: Any) -> dict[str, Any]:
        value = getattr(subject, key)
        if value is None:
            return {"recent": [], "last_30_days": 0}
        where = getattr(PassRecord, column) == value
        since = utcnow() - WINDOW
        count = reader.session.scalar(pass_records.visible(reader.principal).where(
            where, PassRecord.occurred_at >= since).with_only_columns(func.count()))
        recent = reader.rows("pass_records", where, order="-occurred_at", limit=RECENT)
        return {"recent": recent, "last_30_days": count or 0}

    return build


def declare() -> None:
    """Register the access sections."""
    register_section("person", "passes", "pass_records", _passes("person_id", "id"))
    linked("person", "credentials", "credentials", "person_id")
    linked("person", "watchlists", "watchlists", "person_id")
    linked("person", "watch_hits", "watchlist_hits", "person_id", order="-occurred_at",
           limit=RECENT)
    linked("person", "registrations", "registrations", "person_id")
    linked("person", "visits_hosted", "visitors", "host_person_id", order="-window_start",
           limit=RECENT)
    register_section("vehicle", "passes", "pass_records", _passes("plate", "plate"))
    linked("vehicle", "watchlists", "watchlists", "plate", key="plate")
    linked("vehicle", "watch_hits", "watchlist_hits", "plate", key="plate",
           order="-occurred_at", limit=RECENT)
    linked("house", "visitors", "visitors", "room_id", order="-window_start", limit=50)


declare()
