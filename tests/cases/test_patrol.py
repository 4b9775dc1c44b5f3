"""Patrol rounds (巡更): missed and out-of-order points from online check-ins and from an
offline collector's late batch (≥ 4,000 records, shuffled, with duplicates)."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from shequ.cases.schedule import (
    CalendarRule,
    CheckIn,
    PatrolPoint,
    PatrolRoute,
    RoundWindow,
    Schedule,
    dedupe_check_ins,
    evaluate_batch,
    missed_points,
    patrol_round,
    round_window,
    round_windows,
)

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2025, 3, 1, 8, 0, tzinfo=TZ)
MIN = dt.timedelta(minutes=1)


def _route(points: int = 20, minutes: int = 60) -> PatrolRoute:
    return PatrolRoute(
        id=1, points=tuple(PatrolPoint(f"P{i:02d}", f"点位{i}") for i in range(1, points + 1)),
        round_duration=dt.timedelta(minutes=minutes))


def _codes(points: list[PatrolPoint] | tuple[PatrolPoint, ...]) -> list[str]:
    return [p.code for p in points]


def test_online_round_with_two_missed_points() -> None:
    route = _route()
    window = round_window(route, START)
    check_ins = [CheckIn(p.code, START + i * 2 * MIN, "C1")
                 for i, p in enumerate(route.points) if p.code not in ("P05", "P17")]
    assert _codes(missed_points(route, window, check_ins)) == ["P05", "P17"]
    report = patrol_round(route, window, check_ins)
    assert not report.complete and report.out_of_order == ()
    assert report.visited["P01"] == START


def test_window_bounds_are_inclusive() -> None:
    route = _route(points=3)
    window = round_window(route, START)
    assert window == RoundWindow(START, START + 60 * MIN)
    check_ins = [CheckIn("P01", START), CheckIn("P02", window.end),
                 CheckIn("P03", window.end + dt.timedelta(seconds=1)),
                 CheckIn("P03", START - dt.timedelta(seconds=1)), CheckIn("X99", START + MIN)]
    report = patrol_round(route, window, check_ins)
    assert _codes(report.missed) == ["P03"]
    assert (report.outside_window, report.unknown_points) == (2, 1)


def test_out_of_order_points_are_the_fewest_that_break_the_sequence() -> None:
    route = _route(points=6)
    window = round_window(route, START)
    order = ["P01", "P03", "P02", "P04", "P06", "P05"]
    check_ins = [CheckIn(code, START + i * MIN) for i, code in enumerate(order)]
    report = patrol_round(route, window, check_ins)
    assert report.missed == ()
    assert len(report.out_of_order) == 2
    assert {"P02", "P03"} & set(_codes(report.out_of_order))
    assert {"P05", "P06"} & set(_codes(report.out_of_order))


def test_the_first_check_in_of_a_point_counts() -> None:
    route = _route(points=3)
    window = round_window(route, START)
    check_ins = [CheckIn("P02", START + 9 * MIN), CheckIn("P01", START + 5 * MIN),
                 CheckIn("P02", START + 2 * MIN), CheckIn("P03", START + 10 * MIN)]
    report = patrol_round(route, window, check_ins)
    assert report.visited["P02"] == START + 2 * MIN
    assert _codes(report.out_of_order) == ["P02"]


def test_routes_are_checked() -> None:
    with pytest.raises(ValueError, match="unique"):
        PatrolRoute(1, (PatrolPoint("A"), PatrolPoint("A")), dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="at least one"):
        PatrolRoute(1, (), dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="positive"):
        PatrolRoute(1, (PatrolPoint("A"),), dt.timedelta())
    with pytest.raises(ValueError, match="timezone-aware"):
        patrol_round(_route(), round_window(_route(), START),
                     [CheckIn("P01", dt.datetime(2025, 3, 1, 8, 5))])


def test_round_windows_follow_the_schedule() -> None:
    route = _route(minutes=90)
    schedule = Schedule(CalendarRule("daily", times=(dt.time(8), dt.time(20))),
                        start=dt.date(2025, 3, 1))
    windows = round_windows(route, schedule, START - MIN, START + dt.timedelta(days=2))
    assert [w.start.hour for w in windows] == [8, 20, 8, 20]
    assert windows[1].end == dt.datetime(2025, 3, 1, 21, 30, tzinfo=TZ)


def _offline_batch(route: PatrolRoute, windows: list[RoundWindow], seed: int
                   ) -> tuple[list[CheckIn], list[set[str]], int, int]:
    """A collector's upload: per round some points skipped, some read twice; then exact
    re-uploaded duplicates, stray reads outside every window, all shuffled."""
    rng = random.Random(seed)
    records: list[CheckIn] = []
    truth: list[set[str]] = []
    for window in windows:
        skipped = {p.code for p in route.points if rng.random() < 0.08}
        truth.append(skipped)
        span = int((window.end - window.start).total_seconds())
        for point in route.points:
            if point.code in skipped:
                continue
            for _ in range(rng.choice((1, 1, 1, 2))):
                offset = dt.timedelta(seconds=rng.randint(0, span))
                records.append(CheckIn(point.code, window.start + offset, "COLLECTOR-7"))
    stray = [CheckIn(rng.choice(route.points).code,
                     window.end + dt.timedelta(minutes=rng.randint(1, 50)), "COLLECTOR-7")
             for window in rng.sample(windows, 30)]
    copies = rng.sample(records, len(records) // 10)
    batch = records + stray + copies
    rng.shuffle(batch)
    return batch, truth, len(copies), len(stray)


def test_offline_batch_of_thousands_shuffled_with_duplicates() -> None:
    route = _route(points=40)
    windows = [round_window(route, START + k * dt.timedelta(hours=2)) for k in range(110)]
    batch, truth, copies, stray = _offline_batch(route, windows, seed=20250301)
    assert len(batch) >= 4000
    report = evaluate_batch(route, reversed(windows), batch)
    assert report.records == len(batch)
    assert report.duplicates >= copies
    assert report.unmatched == stray
    assert len(report.rounds) == len(windows)
    for window, round_report, skipped in zip(windows, report.rounds, truth, strict=True):
        assert round_report.window == window
        assert set(_codes(round_report.missed)) == skipped
        assert set(round_report.visited) == {p.code for p in route.points} - skipped


def test_offline_batch_matches_online_evaluation_and_is_idempotent() -> None:
    route = _route(points=40)
    windows = [round_window(route, START + k * dt.timedelta(hours=2)) for k in range(110)]
    batch, _, _, _ = _offline_batch(route, windows, seed=7)
    offline = evaluate_batch(route, windows, batch)
    online_order = sorted(batch, key=lambda c: c.at)
    for k in (0, 37, 109):
        online = patrol_round(route, windows[k], online_order)
        assert online.missed == offline.rounds[k].missed
        assert online.visited == offline.rounds[k].visited
        assert online.out_of_order == offline.rounds[k].out_of_order
    again = evaluate_batch(route, windows, batch + batch)
    assert again.rounds == offline.rounds
    assert again.duplicates == offline.duplicates + len(batch)


def test_dedupe_keeps_one_record_per_identity_in_time_order() -> None:
    base = [CheckIn("P02", START + 2 * MIN, "C1"), CheckIn("P01", START + MIN, "C1"),
            CheckIn("P01", START + MIN, "C2")]
    unique = dedupe_check_ins(base + base[::-1] + base)
    assert unique == [base[1], base[2], base[0]]


def test_overlapping_rounds_share_check_ins() -> None:
    route = _route(points=2, minutes=90)
    windows = [round_window(route, START), round_window(route, START + 60 * MIN)]
    check_ins = [CheckIn("P01", START + 70 * MIN), CheckIn("P02", START + 10 * MIN)]
    report = evaluate_batch(route, windows, check_ins)
    assert _codes(report.rounds[0].missed) == []
    assert _codes(report.rounds[1].missed) == ["P02"]
    with pytest.raises(ValueError, match="round duration"):
        evaluate_batch(route, [RoundWindow(START, START + MIN)], check_ins)
