"""Background jobs: rollups (with late and duplicate data), offline detection, retention and
partitions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from shequ.sensing import rollups, tasks
from shequ.sensing.catalogue import default_catalogue
from shequ.sensing.models import (
    Connectivity,
    Device,
    DeviceLatest,
    Rollup1h,
    Rollup1m,
    RollupDirty,
    Telemetry,
)
from shequ.sensing.settings import SensingSettings
from shequ.sensing.storage import Samples, insert_samples
from tests.conftest import World
from tests.sensing.fleet import Harness, add_device, minutes_ago, now, raw, telemetry


def _minute_rows(world: World, device_id: int) -> list[tuple[Any, ...]]:
    with world.services.db.read() as session:
        return [tuple(row) for row in session.execute(
            select(Rollup1m.bucket, Rollup1m.count, Rollup1m.total, Rollup1m.minimum,
                   Rollup1m.maximum).where(Rollup1m.device_id == device_id,
                                           Rollup1m.metric == "pm25")
            .order_by(Rollup1m.bucket))]


def _refresh(world: World, at: Any = None) -> int:
    with world.services.db.write() as session:
        return rollups.refresh(session, at or now())


def test_rollups_follow_late_and_duplicate_data(world: World) -> None:
    device_id = add_device(world, "env-roll")
    harness = Harness(world)
    start = minutes_ago(30).replace(second=0, microsecond=0)
    first = [raw(world, "env-roll", telemetry({"pm25": float(v)}, start + timedelta(seconds=s)))
             for s, v in ((0, 10), (20, 20), (40, 30), (60, 5))]
    harness.ingest(first)
    _refresh(world, start + timedelta(seconds=30))
    assert _minute_rows(world, device_id) == []  # the minute is still open
    _refresh(world)
    assert _minute_rows(world, device_id) == [(start, 3, 60.0, 10.0, 30.0),
                                              (start + timedelta(minutes=1), 1, 5.0, 5.0, 5.0)]
    harness.ingest(first[:2])  # a redelivery changes nothing
    late = raw(world, "env-roll", telemetry({"pm25": 50.0}, start + timedelta(seconds=50)))
    harness.ingest([late])
    with world.services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(RollupDirty).where(
            RollupDirty.community_id == world.community_id)) == 1
    _refresh(world)
    assert _minute_rows(world, device_id)[0] == (start, 4, 110.0, 10.0, 50.0)
    with world.services.db.read() as session:
        hour = session.execute(select(Rollup1h.count, Rollup1h.total, Rollup1h.maximum).where(
            Rollup1h.device_id == device_id, Rollup1h.metric == "pm25")).all()
    assert sum(row[0] for row in hour) == 5 and sum(row[1] for row in hour) == 115.0


def test_silent_devices_go_offline(world: World) -> None:
    quiet, chatty = add_device(world, "env-quiet"), add_device(world, "env-chatty")
    harness = Harness(world)
    harness.ingest([raw(world, "env-quiet", b"", "heartbeat"),
                    raw(world, "env-chatty", b"", "heartbeat")])
    timeout = default_catalogue().get("environment_station").heartbeat_timeout_s
    with world.services.db.write() as session:
        session.execute(update(DeviceLatest).where(DeviceLatest.device_id == quiet).values(
            last_seen_at=now() - timedelta(seconds=timeout + 60)))
    published: list[Any] = []
    bus = harness.bus
    bus.subscribe("sensing.device.offline", lambda e: published.append(e.data["device_id"]))
    with world.services.db.write() as session:
        gone = tasks.mark_offline(session, now(), bus)
    assert quiet in gone and chatty not in gone
    assert quiet in published
    with world.services.db.read() as session:
        states = dict(session.execute(select(Device.id, Device.connectivity).where(
            Device.id.in_([quiet, chatty]))).all())
    assert states == {quiet: Connectivity.offline, chatty: Connectivity.online}
    harness.ingest([raw(world, "env-quiet", b"", "heartbeat")])
    assert ("sensing.device.online", {"device_id": quiet, "community_id": world.community_id}
            ) in harness.published


@pytest.fixture
def short_lived() -> Iterator[None]:
    """Give waste bin sensors a 30-day retention for one test."""
    types: Any = default_catalogue().types
    original = types["waste_bin_sensor"]
    types["waste_bin_sensor"] = dataclasses.replace(original, retention_days=30)
    yield
    types["waste_bin_sensor"] = original


def _samples(world: World, device_id: int, days_ago: float) -> Samples:
    samples = Samples()
    samples.add(world.community_id, device_id, "fill_level", now() - timedelta(days=days_ago),
                50.0, None)
    return samples


def test_retention_per_type(world: World, backend: str, short_lived: None) -> None:
    env, waste = add_device(world, "env-old"), add_device(world, "bin-old", "waste_bin_sensor")
    with world.services.db.write() as session:
        if backend == "postgresql":
            session.execute(text("SELECT shequ_telemetry_partitions(120, 0)"))
        for device_id, days in ((env, 100), (env, 40), (waste, 40), (waste, 10)):
            insert_samples(session, _samples(world, device_id, days))
    with world.services.db.write() as session:
        tasks.apply_retention(session, now())
    with world.services.db.read() as session:
        left = sorted((device_id, round((now() - ts).total_seconds() / 86400))
                      for device_id, ts in session.execute(
                          select(Telemetry.device_id, Telemetry.ts).where(
                              Telemetry.device_id.in_([env, waste]))))
    assert left == sorted([(env, 40), (waste, 10)])


def test_partitions_are_created_ahead(world: World, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite keeps telemetry in a plain table")
    with world.services.db.write() as session:
        tasks.ensure_partitions(session, SensingSettings(partitions_ahead_days=5))
        names = set(session.scalars(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry'::regclass")))
    for days in (-8, 0, 5):
        assert f"telemetry_p{(now() + timedelta(days=days)):%Y%m%d}" in names


def test_maintenance_runs_every_job(world: World) -> None:
    maintenance = tasks.Maintenance(world.services.db, SensingSettings(maintenance_interval_s=3600))
    results = maintenance.run_due(force=True)
    assert set(results) == {"partitions", "rollups", "offline", "retention"}
    assert "failed" not in results.values()
    assert maintenance.run_due() == {}  # nothing is due right after
