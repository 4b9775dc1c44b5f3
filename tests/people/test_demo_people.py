"""The demo community's people: about 8,000 residents in households, valid identity numbers
and plates, staff and key units, cards, a month of passes with real watch-list hits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.access.models import Credential, PassRecord, Registration, Visitor, WatchlistHit
from shequ.api.app import create_app
from shequ.demo import DEMO_PASSWORD, STEPS, load_foundation
from shequ.people.identity import parse_plate, parse_resident_id
from shequ.people.models import KeyUnit, OrganisationStaff, Person, Rental, Residency, Vehicle
from tests.conftest import fresh_database_url, make_settings, migrated_services


@pytest.fixture(scope="module")
def demo(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url, drop = fresh_database_url(backend, tmp_path_factory.mktemp("demo-people"))
    settings = make_settings(url)
    services = migrated_services(settings)
    with services.db.write() as session:
        community = load_foundation(session, services.platform)
        for _, step in STEPS:
            step(session, services.platform, community)
    yield services, TestClient(create_app(settings, services))
    services.db.dispose()
    drop()


def _count(services: Any, model: Any, *where: Any) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_about_eight_thousand_residents_in_households(demo: Any) -> None:
    services, _ = demo
    residents = _count(services, Residency, Residency.move_out_date.is_(None))
    assert 7_000 <= residents <= 9_500
    with services.db.read() as session:
        sizes = session.execute(select(Residency.room_id, func.count()).group_by(
            Residency.room_id)).all()
        sample = session.scalars(select(Person).order_by(Person.id).limit(300)).all()
        for person in sample:
            assert person.id_number is not None
            parsed = parse_resident_id(person.id_number)
            assert parsed.birth_date == person.birth_date and parsed.gender == person.gender
        plates = session.scalars(select(Vehicle.plate)).all()
    average = residents / len(sizes)
    assert 2.5 <= average <= 4.0
    assert len(plates) > 300 and all(parse_plate(p).text == p for p in plates)
    assert any(len(p) == 8 for p in plates)
    assert _count(services, Person, Person.care_tags.is_not(None)) > 0
    assert _count(services, Rental) > 100
    assert _count(services, OrganisationStaff) > 50 and _count(services, KeyUnit) == 3


def test_passes_cards_visits_and_hits(demo: Any) -> None:
    services, client = demo
    assert _count(services, PassRecord) > 100_000
    assert _count(services, Credential) > 5_000
    assert _count(services, Visitor) == 40 and _count(services, Registration) == 6
    assert _count(services, WatchlistHit) > 0
    overdue = client.get("/api/v1/communities/DEMO/passes/overdue",
                         headers=_login(client, "security"))
    assert overdue.status_code == 200 and len(overdue.json()) >= 5
    summary = client.get("/api/v1/communities/DEMO/people/summary",
                         headers=_login(client, "committee"))
    assert summary.status_code == 200 and summary.json()["persons"] > 7_000
    assert any(label.startswith("People") for label, _ in STEPS)


def _login(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/login", json={"username": username,
                                                     "password": DEMO_PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}
