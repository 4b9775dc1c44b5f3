"""Electronic patrol (5.3.8): routes and points as ledgers, a patrol plan's rounds, online
check-ins, an offline collector's batch of thousands of records uploaded later (idempotent),
and missed-point detection."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from shequ.cases.models import PlanRun
from tests.cases.conftest import Estate
from tests.cases.test_plans import at, make_plan, run

CODES = ["A", "B", "C", "D", "E"]


def _route(e: Estate) -> int:
    route = e.post("/patrol_routes", "manager", {"community_id": e.world.community_id,
                                                 "name": "夜间巡更一号线", "round_minutes": 60},
                   201)["id"]
    for seq, code in enumerate(CODES, 1):
        e.post("/patrol_points", "manager", {
            "community_id": e.world.community_id, "route_id": route, "seq": seq,
            "code": code, "name": f"巡更点{code}", "device_id": 900 + seq}, 201)
    return int(route)


def _round(day: int, skip: str | None = None, reads: int = 210) -> list[dict[str, Any]]:
    """A collector's reads of one evening's round: each tag read `reads` times, in order."""
    start = at(f"2026-03-{day:02d} 20:00")
    records = []
    for index, code in enumerate(CODES):
        if code == skip:
            continue
        first = start + dt.timedelta(minutes=5 + 10 * index)
        records += [{"point": code, "at": (first + dt.timedelta(seconds=s)).isoformat()}
                    for s in range(reads)]
    return records


def test_an_offline_batch_finds_the_missed_points(estate: Estate) -> None:
    e = estate
    route = _route(e)
    plan = make_plan(e, at("2026-02-28 12:00"), name="夜间巡更", kind="patrol",
                     route_id=route, responsible_user_id=e.uid("guard"), reminder_leads=[],
                     building_id=None, checklist=None,
                     schedule={"frequency": "daily", "times": ["20:00"], "start": "2026-03-01"})
    records = [*_round(1), *_round(2), *_round(3, skip="D"), *_round(4)]
    records += records[:100]  # the collector sends some reads twice
    records += [{"point": "Z", "at": at("2026-03-01 20:30").isoformat()},  # not on the route
                {"point": "A", "at": at("2026-03-02 12:00").isoformat()}]  # outside any round
    assert len(records) >= 4000
    batch = {"collector": "COLLECTOR-07", "records": records}
    first = e.post(f"/patrol_routes/{route}/checkins", "guard", batch)
    assert first["records"] == len(records) and first["duplicates"] == 100
    assert first["stored"] == len(records) - 100
    assert (first["unknown_points"], first["unmatched"]) == (1, 1)
    rounds = {r["planned_at"][:10]: r for r in first["rounds"]}
    assert sorted(rounds) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert rounds["2026-03-03"]["missed"] == ["D"] and not rounds["2026-03-03"]["complete"]
    assert all(rounds[d]["complete"] for d in ("2026-03-01", "2026-03-02", "2026-03-04"))
    assert rounds["2026-03-01"]["visited"]["A"] == "2026-03-01T12:05:00Z"

    again = e.post(f"/patrol_routes/{route}/checkins", "guard", batch)
    assert (again["stored"], again["duplicates"]) == (0, len(records))

    tasks, _ = run(e, at("2026-03-05 21:30"))
    assert tasks == 5  # one patrol task per evening, caught up
    with e.world.services.db.read() as session:
        runs = session.scalars(select(PlanRun).where(PlanRun.plan_id == plan)
                               .order_by(PlanRun.planned_at)).all()
        assert [r.missed_points for r in runs] == [0, 0, 1, 0, 5]
        assert [r.checked_points for r in runs] == [5, 5, 4, 5, 0]
    missed = [text for text in e.inbox("guard") if "Missed patrol points" in text]
    assert len(missed) == 2 and any("missed 5 points" in text for text in missed)
    assert run(e, at("2026-03-05 21:30")) == (0, 0)
    assert len([t for t in e.inbox("guard") if "Missed patrol points" in t]) == 2

    listed = e.get(f"/patrol_routes/{route}/rounds", "manager", params={
        "start": "2026-03-01T00:00:00+08:00", "end": "2026-03-06T00:00:00+08:00"})
    assert [len(r["missed"]) for r in listed] == [0, 0, 1, 0, 5]


def test_online_check_ins_and_their_checks(estate: Estate) -> None:
    e = estate
    route = _route(e)
    now = dt.datetime.now(dt.UTC)
    online = e.post(f"/patrol_routes/{route}/checkins", "guard",
                    {"records": [{"point": "A", "at": now.isoformat()}]})
    assert online["stored"] == 1 and online["rounds"] == []
    future = e.world.client.post(f"/api/v1/patrol_routes/{route}/checkins",
                                 headers=e.h("guard", "en"), json={"records": [
                                     {"point": "B", "at": (now + dt.timedelta(hours=2))
                                      .isoformat()}]})
    assert future.status_code == 422 and future.json()["code"] == "cases.checkins_invalid"
    assert future.json()["errors"][0]["field"] == "records[0].at"
    naive = e.world.client.post(f"/api/v1/patrol_routes/{route}/checkins",
                                headers=e.h("guard"),
                                json={"records": [{"point": "B", "at": "2026-03-01T20:00:00"}]})
    assert naive.status_code == 422
    too_many = e.world.client.post(f"/api/v1/patrol_routes/{route}/checkins",
                                   headers=e.h("guard"), json={"records": [
                                       {"point": "A", "at": now.isoformat()}] * 10_001})
    assert too_many.status_code in (413, 422)
    resident = e.world.client.post(f"/api/v1/patrol_routes/{route}/checkins",
                                   headers=e.h("resident"),
                                   json={"records": [{"point": "A", "at": now.isoformat()}]})
    assert resident.status_code == 403
