"""Migration 0005: it goes down and up again on both backends; on PostgreSQL the pass
stream is partitioned by month, stragglers wait in the default partition until their month
is created, and retention drops whole months."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shequ.access.ingest import PassEvent, record_passes
from shequ.migrations import current, upgrade
from tests.conftest import fresh_database_url, make_settings, migrated_services


@pytest.fixture
def scratch(backend: str, tmp_path: Path) -> Iterator[Any]:
    url, drop = fresh_database_url(backend, tmp_path)
    services = migrated_services(make_settings(url))
    yield services
    services.db.dispose()
    drop()


def test_down_and_up_again(scratch: Any) -> None:
    upgrade(scratch.db.engine, "0005")
    from alembic import command

    from shequ.migrations import alembic_config

    command.downgrade(alembic_config(scratch.db.engine), "0004")
    assert current(scratch.db.engine) == "0004"
    upgrade(scratch.db.engine)
    assert current(scratch.db.engine) is not None


def test_months_are_partitions_and_retention_drops_them(scratch: Any, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    old = dt.datetime.now(dt.UTC).replace(day=15) - dt.timedelta(days=800)
    with scratch.db.write() as session:
        community = scratch.platform.create_community(session, None, "PART", "分区")
        [record_id] = record_passes(session, [PassEvent(
            community_id=community.id, device_id=None, occurred_at=old, person_id=1)])

    def home() -> str:
        with scratch.db.read() as session:
            return str(session.execute(text(
                "SELECT tableoid::regclass::text FROM pass_records WHERE id = :id"),
                {"id": record_id}).scalar_one())

    assert home() == "pass_records_default"
    with scratch.db.write() as session:
        created = session.execute(text("SELECT shequ_pass_partitions(30, 0)")).scalar_one()
    assert created >= 20
    assert home() == f"pass_records_p{old:%Y%m}"
    cutoff = (old.replace(day=1) + dt.timedelta(days=40)).replace(day=1)
    with scratch.db.write() as session:
        dropped = session.execute(text("SELECT shequ_pass_drop_before(:c)"),
                                  {"c": cutoff}).scalar_one()
        remaining = session.execute(text("SELECT count(*) FROM pass_records WHERE id = :id"),
                                    {"id": record_id}).scalar_one()
    assert dropped >= 1 and remaining == 0
