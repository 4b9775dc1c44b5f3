"""Case engine benchmark (issue 8): lifecycle throughput through the verbs, and list and
statistics latency over 1,000,000 cases on PostgreSQL.

The million rows are bulk-loaded with COPY (multi-row INSERT on SQLite): 20 communities of
50,000 cases over two years, six case types, most of them closed. The verbs are measured
separately on a real `shequ serve`: each client loops report → dispatch → accept → start →
resolve → confirm, as a property manager and a maintenance worker would.

Prints one JSON object: `cases_per_s` (whole lifecycles), `steps_per_s`, `list_p95_ms` (a
filtered, sorted page of 50 with its total, as a community's property manager),
`stats_p95_ms` (counts and mean times to accept and close by type, month and building over
a quarter, and by state over the community's whole history), `search_p95_ms` (keyword
search over the summaries, reported apart: it scans the community's cases), with p50/p99
and the data shape.
Usage: python bench/cases.py [--quick] [--db postgresql|sqlite] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database, load, server, summary

PASSWORD = "Bench-Passw0rd!x"
COMMUNITIES = 20
BUILDINGS = 30
TYPES = {"repair_request": 40, "alarm_order": 20, "complaint": 15, "hazard_fire": 10,
         "maintenance_task": 10, "inspection_task": 5}
COLUMNS = ("community_id", "case_type", "category", "priority", "state", "source", "summary",
           "building_id", "device_id", "data", "accepted_at", "closed_at", "ended_at",
           "accept_due", "close_due", "warn_at", "version", "created_at", "updated_at")
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _states(case_type: Any) -> tuple[list[str], str]:
    """Open states a case of this type may rest in, and its closed state."""
    closed = next(s.key for s in case_type.states if s.closed)
    opened = [case_type.initial, *(s.key for s in case_type.states
                                   if s.accepted and not s.terminal)]
    return opened, closed


def _rows(communities: list[int], buildings: dict[int, list[int]], total: int,
          ) -> Iterator[tuple[Any, ...]]:
    """Synthetic cases: deterministic, spread over two years, ~80 % closed."""
    from shequ.cases.definitions import builtin_case_types, sla_due

    rng = random.Random(8)
    types = builtin_case_types()
    names = [t for t, weight in TYPES.items() for _ in range(weight)]
    shapes = {t: (_states(types[t]), types[t].categories) for t in TYPES}
    for n in range(total):
        cid = communities[n % len(communities)]
        type_id = names[rng.randrange(len(names))]
        (opened, closed), categories = shapes[type_id]
        created = NOW - dt.timedelta(seconds=rng.randrange(730 * 86400))
        priority = rng.choice(("low", "normal", "normal", "normal", "high", "urgent"))
        due = sla_due(types[type_id], priority, created)
        done = rng.random() < 0.8
        accepted = created + dt.timedelta(minutes=rng.randrange(5, 600)) if done or \
            rng.random() < 0.5 else None
        ended = accepted + dt.timedelta(hours=rng.randrange(1, 96)) if done and accepted \
            else None
        state = closed if ended else (opened[-1] if accepted else opened[0])
        category = rng.choice(categories).key if categories else None
        yield (cid, type_id, category, priority, state,
               "device_alarm" if type_id == "alarm_order" else "resident_app",
               f"{types[type_id].name.zh}{n}", rng.choice(buildings[cid]),
               rng.randrange(1, 5000) if type_id == "alarm_order" else None,
               json.dumps({"description": f"示例{n}"}, ensure_ascii=False), accepted, ended,
               ended, due.accept_due, due.close_due, due.warn_at, 1, created,
               ended or accepted or created)


def _copy(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[attr-defined]
                f"COPY cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        driver: Any = raw.driver_connection
        driver.autocommit = True
        driver.execute("VACUUM ANALYZE cases")
    finally:
        raw.close()
        engine.dispose()


def _insert(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    from sqlalchemy import create_engine, insert

    from shequ.cases.models import Case

    engine = create_engine(url)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            values = dict(zip(COLUMNS, row, strict=True))
            values["data"] = json.loads(values["data"])
            batch.append(values)
            if len(batch) == 5000:
                conn.execute(insert(Case), batch)
                batch = []
        if batch:
            conn.execute(insert(Case), batch)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def seed(url: str, rows: int, count: int = COMMUNITIES) -> dict[str, Any]:
    """Migrate; communities, buildings, a manager and workers; then bulk-load the cases."""
    from shequ.api.app import build_services
    from shequ.cim.models import Building
    from shequ.config import Settings
    from shequ.migrations import upgrade
    from shequ.platform.models import ScopeKind
    from shequ.platform.scoping import SYSTEM

    services = build_services(Settings(database_url=url))
    upgrade(services.db.engine)
    buildings: dict[int, list[int]] = {}
    with services.db.write() as session:
        services.platform.sync_roles(session)
        communities = []
        for c in range(count):
            community = services.platform.create_community(session, SYSTEM, f"B{c:02d}",
                                                            f"压测社区{c}")
            communities.append(community.id)
            found = [Building(community_id=community.id, code=f"{b + 1}幢", name=f"{b + 1}号楼",
                              address_code=f"B{c:02d}-{b:03d}") for b in range(BUILDINGS)]
            session.add_all(found)
            session.flush()
            buildings[community.id] = [b.id for b in found]
        people = {"manager": "property_manager", "worker": "maintenance_worker"}
        for name, role in people.items():
            user = services.platform.create_user(session, SYSTEM, name, PASSWORD)
            services.platform.assign_role(session, SYSTEM, user, role, ScopeKind.community,
                                          community=community)
    services.db.dispose()
    load_rows = _insert if url.startswith("sqlite") else _copy
    load_rows(url, _rows(communities, buildings, rows))
    return {"community_id": communities[-1], "building_id": buildings[communities[-1]][0]}


async def _login(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    answer = await http.post("/api/v1/auth/login", json={"username": username,
                                                         "password": PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def measure_lifecycle(base: str, place: dict[str, Any], clients: int,
                            seconds: float) -> dict[str, Any]:
    """Whole cases per second: report, dispatch, accept, start, resolve, confirm."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        manager, worker = await _login(http, "manager"), await _login(http, "worker")
        me = (await http.get("/api/v1/me", headers=worker)).json()["id"]
        report = {"case_type": "repair_request", "category": "plumbing", "data": {
            "description": "压测：水管漏水", "contact_phone": "13800001234",
            "place": {"kind": "building", "id": place["building_id"]}}}
        steps = [(manager, "dispatch", {"assignee": me}), (worker, "accept", {}),
                 (worker, "start", {}), (worker, "resolve", {"feedback": "已修复",
                                                              "time_spent": 30}),
                 (manager, "confirm", {})]

        async def lifecycle() -> None:
            """One case from report to confirmation."""
            answer = await http.post("/api/v1/cases", headers=manager, json=report)
            assert answer.status_code == 201, answer.text
            case = answer.json()
            version = case["version"]
            for headers, transition, data in steps:
                answer = await http.post(f"/api/v1/cases/{case['id']}/transitions",
                                         headers=headers, json={"transition": transition,
                                                                "data": data,
                                                                "version": version})
                assert answer.status_code == 200, answer.text
                version = answer.json()["version"]

        await lifecycle()
        latencies, elapsed = await load(lifecycle, clients, seconds)
    return {"cases_per_s": round(len(latencies) / elapsed, 1),
            "steps_per_s": round(6 * len(latencies) / elapsed, 1),
            "lifecycle_p95_ms": summary(latencies, elapsed)["p95_ms"],
            "lifecycle_clients": clients}


async def measure_reads(base: str, place: dict[str, Any], clients: int,
                        seconds: float) -> dict[str, Any]:
    """Filtered pages, keyword searches and statistics as the community's property manager."""
    quarter = (NOW - dt.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = "/api/v1/cases?page_size=50&"
    groups = {
        "list": [f"{page}case_type=repair_request&state=submitted&sort=-id",
                 f"{page}state=closed&sort=-created_at&page=3",
                 f"{page}building_id={place['building_id']}&sort=-id",
                 f"{page}case_type=alarm_order&priority=urgent&sort=-created_at"],
        "search": [f"{page}q=报事报修12&sort=-id", f"{page}q=告警工单3&sort=-id"],
        "stats": [f"/api/v1/cases/statistics?by=case_type&created_at__gte={quarter}",
                  "/api/v1/cases/statistics?by=state",
                  f"/api/v1/cases/statistics?by=period&period=month&created_at__gte={quarter}",
                  "/api/v1/cases/statistics?by=building_id&case_type=repair_request"
                  f"&created_at__gte={quarter}"],
    }
    result: dict[str, Any] = {"read_clients": clients}
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=clients)) as http:
        manager = await _login(http, "manager")
        for name, urls in groups.items():
            result.update(await _latency(http, manager, name, urls, clients, seconds))
    return result


async def _latency(http: httpx.AsyncClient, headers: dict[str, str], name: str,
                   urls: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """p50/p95/p99 of GETs cycling through `urls` from `clients` loops."""
    turn = 0

    async def call() -> None:
        """The next GET of the cycle."""
        nonlocal turn
        turn += 1
        answer = await http.get(urls[turn % len(urls)], headers=headers)
        assert answer.status_code == 200, answer.text

    for _ in urls:
        await call()
    figures = summary(*await load(call, clients, seconds))
    return {f"{name}_p50_ms": figures["p50_ms"], f"{name}_p95_ms": figures["p95_ms"],
            f"{name}_p99_ms": figures["p99_ms"], f"{name}_rps": figures["rps"]}


def run(kind: str, rows: int, communities: int, seconds: float,
        workers: int) -> dict[str, Any]:
    """Seed, serve, measure reads over the bulk data, then the verbs' throughput."""
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        started = time.perf_counter()
        place = seed(url, rows, communities)
        result: dict[str, Any] = {"seed_s": round(time.perf_counter() - started, 1)}
        with server(url, workers, SHEQU_LOGIN_RATE_PER_MINUTE="100000",
                    SHEQU_NOTIFY_CHANNELS="inapp", SHEQU_FILES_DIR=tmp) as base:
            result.update(asyncio.run(measure_reads(base, place, 4, seconds)))
            result.update(asyncio.run(measure_lifecycle(base, place, 8, seconds)))
    return result


def main() -> None:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 cases, short runs")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--rows", type=int, help="cases to bulk-load (default 1,000,000)")
    parser.add_argument("--communities", type=int, default=COMMUNITIES,
                        help="communities the cases are spread over")
    args = parser.parse_args()
    rows, seconds = (20_000, 5.0) if args.quick else (1_000_000, 20.0)
    rows = args.rows or rows
    out: dict[str, Any] = {"benchmark": "cases", "db": args.db, "rows": rows,
                           "communities": args.communities,
                           "rows_per_community": rows // args.communities,
                           "workers": args.workers}
    try:
        out.update(run(args.db, rows, args.communities, seconds, args.workers))
    except Exception as exc:  # noqa: BLE001 - report instead of a traceback
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
