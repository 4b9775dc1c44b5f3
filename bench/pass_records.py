"""Pass records at scale (issue 7): ingest rate through the ingest hook, search latency over
a year of passes, and the "inside with no exit for more than 72 h" query beside full scans.

The history is bulk-loaded (COPY on PostgreSQL, multi-row inserts on SQLite) with the
secondary indexes dropped and rebuilt afterwards, time-ordered by day as a live system would
write it. Ingest is then measured through `shequ.access.ingest.record_passes` (door, card and
plate resolution, watch-list check, one multi-row insert per batch of 500, a commit each)
against the full table and its indexes. Searches go through `shequ.access.queries
.search_passes` with a community-scoped property manager: by person, by plate, by time range,
and by person within the last 30 days; each returns the newest page of 50.

Prints one JSON object: `rows`, `ingest_per_s`, `search_p95_ms` (over all searches), per-kind
latencies, load and index times, and the 72 h query beside the same question answered by a
full scan (index scans disabled) and beside a plain `count(*)` scan.

Usage: python bench/pass_records.py [--quick] [--db postgresql|sqlite] [--persons N]
       [--days N] [--doors N]   (full: 15,000 persons, 50 doors, 365 days ≈ 15 million rows)
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database

PASSWORD = "Bench-Passw0rd!x"
TRIPS = [0] * 8 + [1] * 52 + [2] * 33 + [3] * 7  # round trips a day: about 2.78 passes
COLUMNS = ("community_id", "occurred_at", "created_at", "door_id", "device_id", "subject",
           "person_id", "vehicle_id", "plate", "direction", "method", "result")
STAYERS = 0.02  # persons who stop going out five days before the end (overdue at the end)


@dataclass
class World:
    """What the seeding made."""

    services: Any
    community_id: int
    subject: Any
    persons: list[int]
    gates: list[tuple[int, int]]
    vehicle_gates: list[tuple[int, int]]
    inner: list[tuple[int, int]]
    cars: dict[int, tuple[int, str]]
    cards: dict[int, str]
    start: dt.datetime
    end: dt.datetime


def seed(url: str, persons: int, doors: int, days: int) -> World:
    """Migrate; a community, its persons, doors, vehicles, cards and a manager account."""
    from sqlalchemy import insert, select

    from shequ.access.ingest import credential_index
    from shequ.access.models import Credential, Door, DoorKind
    from shequ.api.app import build_services
    from shequ.config import Settings
    from shequ.kit.db import utcnow
    from shequ.migrations import upgrade
    from shequ.people.models import Person, Vehicle
    from shequ.platform.models import ScopeKind, User
    from shequ.platform.scoping import SYSTEM, subject_for_user

    services = build_services(Settings(database_url=url, argon2_time_cost=1,
                                       argon2_memory_kib=8192))
    upgrade(services.db.engine)
    end = utcnow().replace(microsecond=0)
    with services.db.write() as session:
        services.platform.sync_roles(session)
        community = services.platform.create_community(session, SYSTEM, "PASSBENCH", "通行压测")
        user = services.platform.create_user(session, SYSTEM, "manager", PASSWORD)
        services.platform.assign_role(session, SYSTEM, user, "property_manager",
                                      ScopeKind.community, community=community)
        cid = community.id
        session.execute(insert(Person), [{"community_id": cid, "name": f"居民{n:05d}"}
                                         for n in range(persons)])
        ids = list(session.scalars(select(Person.id).where(Person.community_id == cid)
                                   .order_by(Person.id)))
        gates, vehicle_gates = max(2, doors // 5), max(1, doors // 12)
        kinds = ([DoorKind.pedestrian_gate] * gates + [DoorKind.vehicle_gate] * vehicle_gates
                 + [DoorKind.building_door] * (doors - gates - vehicle_gates))
        session.execute(insert(Door), [
            {"community_id": cid, "name": f"门{n:02d}", "kind": kind, "device_id": 10_000 + n,
             "perimeter": kind != DoorKind.building_door} for n, kind in enumerate(kinds)])
        rows = session.execute(select(Door.id, Door.device_id, Door.kind).where(
            Door.community_id == cid).order_by(Door.id)).all()
        owners = ids[::5]
        session.execute(insert(Vehicle), [
            {"community_id": cid, "plate": f"浙A{n:05d}", "plate_kind": "ordinary",
             "owner_person_id": pid} for n, pid in enumerate(owners)])
        cars = {pid: (vid, plate) for pid, vid, plate in session.execute(select(
            Vehicle.owner_person_id, Vehicle.id, Vehicle.plate).where(
            Vehicle.community_id == cid))}
        cards = {pid: f"CARD{pid:08d}" for pid in ids[:2000]}
        session.execute(insert(Credential), [
            {"community_id": cid, "serial": f"S{pid:015d}", "kind": "card", "person_id": pid,
             "identifier": card, "identifier_index": credential_index("card", card),
             "change_seq": 0} for pid, card in cards.items()])
        subject = subject_for_user(session, session.get(User, user.id))
    by_kind: dict[str, list[tuple[int, int]]] = {}
    for door_id, device_id, kind in rows:
        by_kind.setdefault(kind, []).append((door_id, device_id))
    return World(services, cid, subject, ids, by_kind["pedestrian_gate"],
                 by_kind["vehicle_gate"], by_kind.get("building_door", []), cars, cards,
                 end - dt.timedelta(days=days), end)


# -- history --------------------------------------------------------------------------------


def history(world: World, days: int, rng: random.Random) -> Iterator[list[tuple[Any, ...]]]:
    """One list of passes per day: round trips out and back, on foot or by car."""
    stayers = set(rng.sample(world.persons, int(len(world.persons) * STAYERS)))
    cid = world.community_id
    for day in range(days):
        base = world.start + dt.timedelta(days=day)
        rows: list[tuple[Any, ...]] = []
        late = day >= days - 5
        for pid in world.persons:
            if late and pid in stayers:
                continue
            for _ in range(TRIPS[rng.randrange(100)]):
                rows += _trip(world, cid, pid, base, rng)
        yield rows


def _trip(world: World, cid: int, pid: int, base: dt.datetime,
          rng: random.Random) -> list[tuple[Any, ...]]:
    leave = base + dt.timedelta(seconds=rng.randrange(6 * 3600, 20 * 3600))
    back = leave + dt.timedelta(seconds=rng.randrange(1800, 6 * 3600))
    car = world.cars.get(pid)
    if car is not None and rng.random() < 0.6:
        door, device = world.vehicle_gates[rng.randrange(len(world.vehicle_gates))]
        return [(cid, at, at, door, device, "vehicle", None, car[0], car[1], way, "plate",
                 "granted") for at, way in ((leave, "out"), (back, "in"))]
    doors = world.gates if rng.random() < 0.7 or not world.inner else world.inner
    door, device = doors[rng.randrange(len(doors))]
    method = "card" if pid in world.cards else "face"
    return [(cid, at, at, door, device, "person", pid, None, None, way, method, "granted")
            for at, way in ((leave, "out"), (back, "in"))]


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    out = io.StringIO()
    for row in rows:
        out.write("\t".join("\\N" if v is None else (
            v.isoformat() if isinstance(v, dt.datetime) else str(v)) for v in row))
        out.write("\n")
    return out.getvalue().encode("utf-8")


def _indexes() -> list[Any]:
    from shequ.access.models import PassRecord

    return sorted(PassRecord.__table__.indexes, key=lambda i: str(i.name))


def bulk_load(world: World, days: int, seed_value: int) -> dict[str, Any]:
    """Load the history with the secondary indexes dropped, then rebuild and analyse."""
    engine = world.services.db.engine
    postgres = engine.dialect.name == "postgresql"
    months = days // 28 + 2
    with engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql(f"SELECT shequ_pass_partitions({months}, 1)")
        for index in _indexes():
            index.drop(conn)
    rows = 0
    started = time.perf_counter()
    for day_rows in history(world, days, random.Random(seed_value)):
        rows += len(day_rows)
        _insert(engine, day_rows, postgres)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            conn.exec_driver_sql("SET max_parallel_maintenance_workers = 2")
        for index in _indexes():
            index.create(conn)
        conn.exec_driver_sql("ANALYZE pass_records" if postgres else "ANALYZE")
    return {"rows": rows, "load_s": round(loaded, 1),
            "load_rows_per_s": round(rows / loaded), "index_build_s":
            round(time.perf_counter() - started, 1)}


def _insert(engine: Any, rows: list[tuple[Any, ...]], postgres: bool) -> None:
    if postgres:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor, cursor.copy(
                    f"COPY pass_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write(_copy_text(rows))
            raw.commit()
        finally:
            raw.close()
        return
    from sqlalchemy import insert

    from shequ.access.models import PassRecord

    with engine.begin() as conn:
        conn.execute(insert(PassRecord), [dict(zip(COLUMNS, r, strict=True)) for r in rows])


# -- measurements ---------------------------------------------------------------------------


def measure_ingest(world: World, count: int, batch: int = 500) -> dict[str, Any]:
    """Passes through the ingest hook in batches, one transaction each."""
    from shequ.access.ingest import PassEvent, record_passes

    rng = random.Random(11)
    people = list(world.cards.items())
    events = []
    for n in range(count):
        at = world.end + dt.timedelta(seconds=n)
        if n % 5 == 0:
            pid = rng.choice(list(world.cars))
            _, device = world.vehicle_gates[n % len(world.vehicle_gates)]
            events.append(PassEvent(community_id=world.community_id, device_id=device,
                                    occurred_at=at, method="plate", plate=world.cars[pid][1],
                                    direction=("in", "out")[n % 2],
                                    source_key=f"b{n}"))
            continue
        pid, card = people[rng.randrange(len(people))]
        _, device = world.gates[n % len(world.gates)]
        events.append(PassEvent(community_id=world.community_id, device_id=device,
                                occurred_at=at, method="card", credential=card,
                                direction=("in", "out")[n % 2],
                                source_key=f"b{n}"))
    started = time.perf_counter()
    stored = 0
    for offset in range(0, count, batch):
        with world.services.db.write() as session:
            stored += len(record_passes(session, events[offset:offset + batch]))
    elapsed = time.perf_counter() - started
    return {"ingest_per_s": round(stored / elapsed), "ingest_rows": stored,
            "ingest_batch": batch}


def _timed(world: World, flt: Any) -> float:
    from shequ.access.queries import search_passes

    with world.services.db.read() as session:
        started = time.perf_counter()
        rows, _ = search_passes(session, world.subject, flt)
        elapsed = time.perf_counter() - started
    assert rows or flt.person_id or flt.plate, "a time-range search found nothing"
    return elapsed * 1000


def measure_search(world: World, per_kind: int) -> dict[str, Any]:
    """Newest page of 50 by person, plate, time range, and person in the last 30 days."""
    from shequ.access.queries import PassFilter

    rng = random.Random(5)
    span = (world.end - world.start).total_seconds()
    plates = [plate for _, plate in world.cars.values()]

    def window(hours: float) -> tuple[dt.datetime, dt.datetime]:
        start = world.start + dt.timedelta(seconds=rng.uniform(0, span - hours * 3600))
        return start, start + dt.timedelta(hours=hours)

    def kinds() -> dict[str, Any]:
        recent = world.end - dt.timedelta(days=30)
        return {
            "person": PassFilter(world.community_id, person_id=rng.choice(world.persons)),
            "plate": PassFilter(world.community_id, plate=rng.choice(plates)),
            "time_range": PassFilter(world.community_id,
                                     **dict(zip(("start", "end"), window(24), strict=True))),
            "person_30_days": PassFilter(world.community_id,
                                         person_id=rng.choice(world.persons), start=recent,
                                         end=world.end),
        }

    for flt in kinds().values():  # warm the plans and the connection pool
        _timed(world, flt)
    latencies: dict[str, list[float]] = {}
    for _ in range(per_kind):
        for name, flt in kinds().items():
            latencies.setdefault(name, []).append(_timed(world, flt))
    every = [x for values in latencies.values() for x in values]
    out: dict[str, Any] = {"search_p95_ms": _p95(every),
                           "search_p50_ms": round(statistics.median(every), 2),
                           "searches": len(every)}
    out["search"] = {name: {"p50_ms": round(statistics.median(v), 2), "p95_ms": _p95(v)}
                     for name, v in latencies.items()}
    return out


def _p95(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[94], 2)


FULL_SCAN = """
SELECT count(*) FROM (
  SELECT DISTINCT ON (person_id) person_id, direction, occurred_at FROM pass_records
  WHERE community_id = :c AND person_id IS NOT NULL AND deleted_at IS NULL
    AND result = 'granted' AND door_id IN (SELECT id FROM doors WHERE community_id = :c
                                           AND perimeter AND deleted_at IS NULL)
  ORDER BY person_id, occurred_at DESC) last
WHERE direction = 'in' AND occurred_at < :cutoff
"""


def measure_overdue(world: World) -> dict[str, Any]:
    """The 72 h query (one index probe per person) beside full scans on the same engine."""
    from sqlalchemy import text

    from shequ.access.queries import inside_overdue

    runs = []
    found = 0
    for _ in range(3):
        with world.services.db.read() as session:
            started = time.perf_counter()
            found = len(inside_overdue(session, world.subject, world.community_id, 72,
                                       world.end))
            runs.append((time.perf_counter() - started) * 1000)
    out: dict[str, Any] = {"overdue_72h_ms": round(min(runs), 1),
                           "overdue_72h_runs_ms": [round(r, 1) for r in runs],
                           "overdue_found": found}
    postgres = world.services.db.engine.dialect.name == "postgresql"
    with world.services.db.read() as session:
        if postgres:
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                session.execute(text(f"SET LOCAL {setting} = off"))
        cutoff = world.end - dt.timedelta(hours=72)
        started = time.perf_counter()
        same = session.execute(text(FULL_SCAN if postgres else _sqlite_full_scan()),
                               {"c": world.community_id, "cutoff": cutoff}).scalar_one()
        out["overdue_full_scan_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out["overdue_full_scan_found"] = same
        started = time.perf_counter()
        session.execute(text("SELECT count(*) FROM pass_records")).scalar_one()
        out["count_full_scan_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return out


def _sqlite_full_scan() -> str:
    return """
    SELECT count(*) FROM (
      SELECT p.person_id, p.direction, max(p.occurred_at) AS at FROM pass_records p NOT INDEXED
      WHERE p.community_id = :c AND p.person_id IS NOT NULL AND p.result = 'granted'
        AND p.door_id IN (SELECT id FROM doors WHERE community_id = :c AND perimeter)
      GROUP BY p.person_id) last
    WHERE direction = 'in' AND at < strftime('%Y-%m-%d %H:%M:%f', :cutoff)
    """


def run(kind: str, persons: int, doors: int, days: int, ingest: int,
        per_kind: int) -> dict[str, Any]:
    """Seed, load, measure; the result object."""
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        started = time.perf_counter()
        world = seed(url, persons, doors, days)
        result: dict[str, Any] = {"db": kind, "persons": persons, "doors": doors,
                                  "days": days, "seed_s": round(time.perf_counter() - started,
                                                                1)}
        result.update(bulk_load(world, days, 7))
        result.update(measure_ingest(world, ingest))
        result["rows"] += result["ingest_rows"]
        result.update(measure_search(world, per_kind))
        result.update(measure_overdue(world))
        world.services.db.dispose()
    return result


def main() -> None:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 persons over 30 days (about 170,000 rows), under a minute")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--persons", type=int)
    parser.add_argument("--doors", type=int, default=50)
    parser.add_argument("--days", type=int)
    args = parser.parse_args()
    persons = args.persons or (2_000 if args.quick else 15_000)
    days = args.days or (30 if args.quick else 365)
    ingest, per_kind = (5_000, 50) if args.quick else (20_000, 150)
    out = {"benchmark": "pass_records", "quick": args.quick,
           **run(args.db, persons, args.doors, days, ingest, per_kind)}
    print(json.dumps(out, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
