"""Case statistics (6.5.x.e): counts by type, state, place and period, and mean times to
accept and to close that agree with the engine's definition over the timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shequ.cases.definitions import case_durations, mean_duration
from shequ.cases.models import Case, CaseStep
from shequ.cases.schemas import CaseReport
from shequ.cases.service import AlarmCase, case_type
from tests.cases.conftest import Estate, leak
from tests.cases.test_plans import at, verbs, who


def _report(e: Estate, when: str) -> int:
    with e.world.services.db.write() as session:
        row = verbs(e, at(when)).report_case(session, who(session, e, "resident"),
                                             CaseReport(**leak(e)))
        return row.id


def _step(e: Estate, when: str, name: str, case_id: int, transition: str, **data: Any) -> None:
    with e.world.services.db.write() as session:
        verbs(e, at(when)).transition_case(session, who(session, e, name), case_id,
                                           transition, data)


def _cases(e: Estate) -> dict[str, int]:
    closed = _report(e, "2026-06-01 10:00")
    _step(e, "2026-06-01 10:30", "manager", closed, "dispatch", assignee=e.uid("worker"))
    _step(e, "2026-06-01 11:00", "worker", closed, "accept")
    _step(e, "2026-06-01 11:30", "worker", closed, "start")
    _step(e, "2026-06-01 13:00", "worker", closed, "resolve", feedback="好了")
    _step(e, "2026-06-01 14:00", "resident", closed, "confirm")
    taken = _report(e, "2026-06-01 10:00")
    _step(e, "2026-06-01 10:20", "worker2", taken, "take")
    cancelled = _report(e, "2026-07-02 10:00")
    _step(e, "2026-07-02 10:10", "resident", cancelled, "cancel")
    alarm = AlarmCase(community_id=e.world.community_id, alarm_id=1, device_id=2,
                      kind="门磁告警", occurred_at=at("2026-07-03 10:00"), room_id=e.room_id)
    with e.world.services.db.write() as session:
        false_alarm = verbs(e, at("2026-07-03 10:00")).open_case_from_alarm(
            session, alarm, category="intrusion").id
    _step(e, "2026-07-03 10:05", "guard", false_alarm, "mark_false", handling_note="误报")
    return {"closed": closed, "taken": taken, "cancelled": cancelled, "alarm": false_alarm}


def _engine_means(e: Estate, ids: list[int]) -> tuple[float | None, float | None]:
    """Mean times computed by the engine from each case's timeline."""
    with e.world.services.db.read() as session:
        durations = []
        for case_id in ids:
            row = session.get(Case, case_id)
            assert row is not None
            history = session.execute(select(CaseStep.to_state, CaseStep.at).where(
                CaseStep.case_id == case_id, CaseStep.action != "report")).all()
            durations.append(case_durations(case_type(row.case_type), row.created_at,
                                            [(s, a) for s, a in history]))
    means = (mean_duration(d.to_accept for d in durations),
             mean_duration(d.to_close for d in durations))
    return tuple(m.total_seconds() if m is not None else None for m in means)  # type: ignore[return-value]


def test_counts_and_mean_times_by_type(estate: Estate) -> None:
    e = estate
    ids = _cases(e)
    stats = e.get("/cases/statistics", "manager", params={"by": "case_type"})
    groups = {g["key"]: g for g in stats["groups"]}
    repair, alarm = groups["repair_request"], groups["alarm_order"]
    assert (repair["count"], repair["open"], repair["accepted"], repair["closed"]) == (3, 1, 2, 1)
    assert repair["mean_accept_s"] == (3600 + 1200) / 2 and repair["mean_close_s"] == 4 * 3600
    assert repair["overdue"] == 1 and repair["label"] == "报事报修"
    assert (alarm["count"], alarm["mean_accept_s"], alarm["mean_close_s"]) == (1, 300, 300)
    repairs = [ids["closed"], ids["taken"], ids["cancelled"]]
    assert (repair["mean_accept_s"], repair["mean_close_s"]) == _engine_means(e, repairs)
    assert stats["total"] == 4
    assert stats["mean_accept_s"] == _engine_means(e, list(ids.values()))[0]


def test_other_dimensions_filters_and_refusals(estate: Estate) -> None:
    e = estate
    _cases(e)
    by_state = e.get("/cases/statistics", "manager", params={
        "by": "state", "case_type": "repair_request"}, lang="en")
    assert {g["key"]: g["count"] for g in by_state["groups"]} == {
        "accepted": 1, "cancelled": 1, "closed": 1}
    assert {g["label"] for g in by_state["groups"]} == {"Accepted", "Cancelled", "Closed"}
    by_month = e.get("/cases/statistics", "manager", params={"by": "period",
                                                            "period": "month"})
    assert [(g["key"], g["count"]) for g in by_month["groups"]] == [("2026-06", 2),
                                                                    ("2026-07", 2)]
    by_building = e.get("/cases/statistics", "manager", params={"by": "building_id"})
    assert [(g["key"], g["count"]) for g in by_building["groups"]] == [(e.building_id, 4)]
    june = e.get("/cases/statistics", "committee", params={
        "by": "source", "created_at__lt": "2026-07-01T00:00:00Z"})
    assert [(g["key"], g["count"]) for g in june["groups"]] == [("resident_app", 2)]
    generic = e.get("/cases/stats", "manager", params={"by": "state"})
    assert generic["total"] == 4
    bad = e.get("/cases/statistics", "manager", 400, params={"by": "reporter_phone"})
    assert bad["code"] == "stats.bad_field"
    e.get("/cases/statistics", "resident", 403)
