"""Generic ledger list latency over a 100,000-row ledger and log-in throughput (issue 3).

Prints one JSON object: per database `list_p50_ms`, `list_p95_ms`, `list_rps`; and
`logins_per_s` with the health-check latency measured while log-ins run.
Usage: python bench/ledger.py [--quick] [--db sqlite --db postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database, load, server, summary

PASSWORD = "Bench-Passw0rd!x"
KINDS = ["property_company", "residents_committee", "owners_committee", "street_office",
         "service_company", "commercial_company", "key_unit", "government", "other"]


def seed(url: str, rows: int) -> None:
    """Migrate, create a community with `rows` organisations and a manager account."""
    from sqlalchemy import insert

    from shequ.api.app import build_services
    from shequ.config import Settings
    from shequ.kit.db import utcnow
    from shequ.migrations import upgrade
    from shequ.platform.models import Organisation, ScopeKind
    from shequ.platform.scoping import SYSTEM

    services = build_services(Settings(database_url=url))
    upgrade(services.db.engine)
    with services.db.write() as session:
        services.platform.sync_roles(session)
        community = services.platform.create_community(session, SYSTEM, "BENCH", "压测社区")
        user = services.platform.create_user(session, SYSTEM, "manager", PASSWORD)
        services.platform.assign_role(session, SYSTEM, user, "property_manager",
                                      ScopeKind.community, community=community)
        now = utcnow()
        batch = []
        for n in range(rows):
            batch.append({"community_id": community.id, "name": f"单位{n:06d}",
                          "kind": KINDS[n % len(KINDS)], "contact_person": f"联系人{n}",
                          "contact_phone": f"138{n:08d}", "is_key_unit": n % 7 == 0,
                          "created_at": now, "updated_at": now})
            if len(batch) == 5000:
                session.execute(insert(Organisation), batch)
                batch = []
        if batch:
            session.execute(insert(Organisation), batch)
    services.db.dispose()


async def measure_list(base: str, clients: int, seconds: float) -> dict[str, Any]:
    """20 clients paging one filter + one sort."""
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 limits=httpx.Limits(max_connections=clients)) as http:
        token = (await http.post("/api/v1/auth/login", json={
            "username": "manager", "password": PASSWORD})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        page = 0

        async def call() -> None:
            nonlocal page
            page = page % 20 + 1
            response = await http.get(
                f"/api/v1/organisations?kind=key_unit&sort=-created_at&page={page}&page_size=50",
                headers=headers)
            assert response.status_code == 200, response.text

        await call()
        latencies, elapsed = await load(call, clients, seconds)
    stats = summary(latencies, elapsed)
    return {"list_p50_ms": stats["p50_ms"], "list_p95_ms": stats["p95_ms"],
            "list_p99_ms": stats["p99_ms"], "list_rps": stats["rps"],
            "requests": stats["requests"]}


async def measure_logins(base: str, seconds: float) -> dict[str, Any]:
    """Log-ins from 4 clients while a fifth checks the server still answers quickly."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def login() -> None:
            response = await http.post("/api/v1/auth/login", json={
                "username": "manager", "password": PASSWORD})
            assert response.status_code == 200, response.text

        async def health() -> None:
            await http.get("/api/v1/health")

        logins, probe = await asyncio.gather(load(login, 4, seconds), load(health, 1, seconds))
    health_stats = summary(*probe)
    return {"logins_per_s": round(len(logins[0]) / logins[1], 1),
            "health_p95_ms_during_logins": health_stats["p95_ms"]}


def run(kind: str, rows: int, seconds: float, with_logins: bool,
        workers: int) -> dict[str, Any]:
    """Seed a database of one kind, serve it, measure."""
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        started = time.perf_counter()
        seed(url, rows)
        seeded = time.perf_counter() - started
        # The log-in measurement uses production argon2 parameters (the defaults).
        with server(url, workers, SHEQU_LOGIN_RATE_PER_MINUTE="100000") as base:
            result = asyncio.run(measure_list(base, 20, seconds))
            result["seed_s"] = round(seeded, 1)
            if with_logins:
                result.update(asyncio.run(measure_logins(base, seconds)))
    return result


def main() -> None:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, short runs")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=2,
                        help="server worker processes (one per core is the deployment default)")
    args = parser.parse_args()
    rows, seconds = (10_000, 4.0) if args.quick else (100_000, 15.0)
    out: dict[str, Any] = {"benchmark": "ledger", "rows": rows, "clients": 20,
                           "workers": args.workers,
                           "query": "kind=key_unit&sort=-created_at, page of 50"}
    for index, kind in enumerate(args.db or ["sqlite", "postgresql"]):
        try:
            result = run(kind, rows, seconds, index == 0, args.workers)
        except Exception as exc:  # noqa: BLE001 - report, keep the other database
            out[kind] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        for key in ("logins_per_s", "health_p95_ms_during_logins"):
            if key in result:
                out[key] = result.pop(key)
        out[kind] = result
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
