"""Fixtures for the case product tests: an estate (building, unit, floor, rooms) built through
the CIM ledgers, people in their roles, a private file store, and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shequ.api.deps import ServicesDep
from shequ.cases.api import case_service
from shequ.cases.service import CaseService
from shequ.kit.files import LocalFileStore
from tests.conftest import World

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
PDF = b"%PDF-1.7\n" + bytes(64)
FILE_LIMIT = 64 * 1024


@dataclass
class Estate:
    """A community with one building, one unit, one floor and two rooms, and its people."""

    world: World
    admin: str
    building_id: int
    floor_id: int
    room_id: int
    other_room_id: int
    people: dict[str, str] = field(default_factory=dict)

    def h(self, who: str, lang: str = "zh-CN") -> dict[str, str]:
        """Headers of one of the estate's people (by role nickname) or the admin."""
        return self.world.headers(self.people.get(who, who), lang)

    def uid(self, who: str) -> int:
        """The user id of one of the estate's people."""
        return self.world.users[self.people.get(who, who)]

    def post(self, path: str, who: str, body: Any, status: int = 200,
             **kwargs: Any) -> Any:
        """POST as someone and check the status; the JSON answer."""
        response = self.world.client.post(f"/api/v1{path}", headers=self.h(who), json=body,
                                          **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def get(self, path: str, who: str, status: int = 200, lang: str = "zh-CN",
            **kwargs: Any) -> Any:
        """GET as someone and check the status; the JSON answer."""
        response = self.world.client.get(f"/api/v1{path}", headers=self.h(who, lang), **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def step(self, case_id: int, who: str, transition: str, status: int = 200,
             **data: Any) -> Any:
        """Take a step on a case as someone."""
        return self.post(f"/cases/{case_id}/transitions", who,
                         {"transition": transition, "data": data}, status)

    def inbox(self, who: str) -> list[str]:
        """The texts in someone's inbox (English), newest first."""
        answer = self.world.client.get("/api/v1/me/notifications", headers=self.h(who, "en"))
        assert answer.status_code == 200, answer.text
        return [item["text"] for item in answer.json()["items"]]


def build_estate(world: World) -> Estate:
    """Create the building, unit, floor and rooms as a platform admin, through the API."""
    admin = world.user("platform_admin", scope="platform")
    h = world.headers(admin)
    client, cid = world.client, world.community_id

    def create(path: str, body: dict[str, Any]) -> int:
        response = client.post(f"/api/v1/{path}", headers=h, json={"community_id": cid, **body})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    building = create("buildings", {"code": "1幢", "name": "1号楼", "floors_above": 6})
    unit = create("units", {"building_id": building, "number": 1})
    floor = create("floors", {"building_id": building, "unit_id": unit, "level_index": 3})
    room = create("rooms", {"floor_id": floor, "number": "301", "state": "occupied"})
    other = create("rooms", {"floor_id": floor, "number": "302", "state": "occupied"})
    return Estate(world, admin, building, floor, room, other)


@pytest.fixture
def estate(world: World, file_store: LocalFileStore) -> Estate:
    """An estate with a resident of room 301, a neighbour in 302, and staff."""
    place = build_estate(world)
    people = {
        "resident": world.user("resident", scope="household", scope_id=place.room_id),
        "neighbour": world.user("resident", scope="household", scope_id=place.other_room_id),
        "manager": world.user("property_manager"),
        "worker": world.user("maintenance_worker"),
        "worker2": world.user("maintenance_worker"),
        "guard": world.user("security_operator"),
        "committee": world.user("community_committee"),
    }
    place.people.update(people)
    return place


@pytest.fixture
def file_store(app: Any, tmp_path: Path) -> Iterator[LocalFileStore]:
    """A small private file store for the API's case verbs."""
    store = LocalFileStore(tmp_path / "files", max_bytes=FILE_LIMIT)

    def verbs(services: ServicesDep) -> CaseService:
        return CaseService(audit=services.platform.record, files=store)

    app.dependency_overrides[case_service] = verbs
    yield store
    app.dependency_overrides.pop(case_service, None)


LEAK = {"description": "厨房水管漏水", "place": {"kind": "room", "id": 0},
        "contact_phone": "13800001234"}


def leak(estate: Estate) -> dict[str, Any]:
    """A repair request for a leaking pipe in the resident's room."""
    return {"case_type": "repair_request", "category": "plumbing",
            "data": {**LEAK, "place": {"kind": "room", "id": estate.room_id}}}
