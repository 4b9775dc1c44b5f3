"""Helpers shared by the people and access tests: rooms, persons, users and API calls."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from shequ.people.identity import compose_resident_id
from shequ.people.ledgers import example_room
from tests.conftest import World

_serial = itertools.count(100)


def resident_id(born: dt.date = dt.date(1985, 6, 15), region: str = "330106") -> str:
    """A fresh valid resident ID number (unique within a test run)."""
    return compose_resident_id(region, born, next(_serial))


def room(world: World) -> int:
    """A new room (household) in the world's community."""
    with world.services.db.write() as session:
        return example_room(session, world.community_id).id


def building_of(world: World, room_id: int) -> int:
    """The building of a room."""
    from shequ.cim.models import Room

    with world.services.db.read() as session:
        found = session.get(Room, room_id)
        assert found is not None
        return found.building_id


def headers(world: World, role: str, **scope: Any) -> dict[str, str]:
    """Headers of a new user holding one role (community scope unless told otherwise)."""
    return world.headers(world.user(role, **scope))


def person(world: World, h: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Create a person through the API; the response body."""
    body = {"name": "张伟", "id_number": resident_id(), "phone": "13905710001", **fields}
    response = world.client.post("/api/v1/persons", headers=h,
                                 json={"community_id": world.community_id, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def move_in(world: World, h: dict[str, str], person_id: int, room_id: int,
            relation: str = "owner") -> dict[str, Any]:
    """Move a person into a room through the residency ledger."""
    response = world.client.post("/api/v1/residencies", headers=h, json={
        "community_id": world.community_id, "person_id": person_id, "room_id": room_id,
        "relation": relation})
    assert response.status_code == 201, response.text
    return dict(response.json())


def audit_actions(world: World, action: str) -> list[dict[str, Any]]:
    """Audit entries of the world's community with one action, newest first."""
    from sqlalchemy import select

    from shequ.platform.models import AuditEntry

    with world.services.db.read() as session:
        rows = session.scalars(select(AuditEntry).where(
            AuditEntry.community_id == world.community_id, AuditEntry.action == action)
            .order_by(AuditEntry.seq.desc())).all()
        return [{"actor": r.actor, "resource_id": r.resource_id, "before": r.before,
                 "after": r.after} for r in rows]
