"""The demo community (issues 3 and 4): tenancy, parties, log-ins and a CIM at levels 2–4."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.api.app import create_app
from shequ.cim.models import Building, Facility, FacilityCategory, Room, StructureKind
from shequ.demo import DEMO_PASSWORD, load_foundation
from shequ.demo.community import load_cim
from tests.conftest import fresh_database_url, make_settings, migrated_services


@pytest.fixture(scope="module")
def demo(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url, drop = fresh_database_url(backend, tmp_path_factory.mktemp("demo"))
    settings = make_settings(url)
    services = migrated_services(settings)
    with services.db.write() as session:
        community = load_foundation(session, services.platform)
        load_cim(session, services.platform, community)
    yield services, TestClient(create_app(settings, services))
    services.db.dispose()
    drop()


def test_demo_logins_and_parties(demo: Any) -> None:
    _, client = demo
    token = client.post("/api/v1/auth/login", json={"username": "property",
                                                     "password": DEMO_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    kinds = {p["kind"] for p in client.get("/api/v1/communities/DEMO/parties",
                                           headers=headers).json()}
    assert kinds == {"residents_committee", "owners_committee", "property_company",
                     "street_office", "service_company", "commercial_company"}


def test_demo_cim_has_every_level_and_mandatory_data(demo: Any) -> None:
    services, client = demo
    token = client.post("/api/v1/auth/login", json={"username": "admin",
                                                     "password": DEMO_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    levels = client.get("/api/v1/communities/DEMO/cim/levels", headers=headers).json()
    assert set(levels["counts"]["buildings"]) == {"2", "3", "4"}
    assert levels["missing_mandatory"] == []
    with services.db.read() as session:
        households = session.scalar(select(func.count()).select_from(Room)) or 0
        categories = set(session.scalars(select(Facility.category).distinct()))
        ifc_level = session.scalar(select(Building.cim_level).where(
            Building.geometry_source == "ifc"))
        floors = session.scalars(select(Building.floors_above)).all()
    assert 2500 <= households <= 3500
    assert categories == set(FacilityCategory)
    assert ifc_level == 4
    assert min(floors) <= 6 and max(floors) == 33
    structures = client.get("/api/v1/structures?page_size=100", headers=headers).json()
    kinds = {s["kind"] for s in structures["items"]}
    assert {StructureKind.pump_room, StructureKind.shelter, StructureKind.pavilion} <= kinds


def test_demo_ifc_ships_with_the_package() -> None:
    from shequ.demo.community import duplex_ifc

    head = duplex_ifc()[:64]
    assert head.startswith(b"ISO-10303-21;")
    assert (Path(__file__).resolve().parents[2] / "src/shequ/demo/data/NOTICE.txt").is_file()
