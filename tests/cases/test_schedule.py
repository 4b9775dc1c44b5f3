"""Plan schedules: cron and calendar rules, end dates, never-firing rejection, reminders and
execution rate. All in Asia/Shanghai (no DST) with fixed times."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shequ.cases.schedule import (
    CalendarRule,
    CronRule,
    Schedule,
    ScheduleInvalid,
    execution_rate,
    next_runs,
    parse_schedule,
    reminders,
    runs_between,
    validate_schedule,
)

TZ = ZoneInfo("Asia/Shanghai")
EARLY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=TZ)


def day(y: int, mo: int, d: int) -> dt.date:
    return dt.date(y, mo, d)


def _codes(info: pytest.ExceptionInfo[ScheduleInvalid]) -> dict[str, str]:
    return {e["field"]: e["code"] for e in info.value.errors}


# Cron ---------------------------------------------------------------------------------------------


def test_cron_weekdays_from_the_start_date() -> None:
    schedule = Schedule(CronRule("0 9 * * 1-5"), start=day(2025, 3, 1))  # a Saturday
    runs = next_runs(schedule, EARLY, 3)
    assert runs == [at(2025, 3, 3), at(2025, 3, 4), at(2025, 3, 5)]
    assert all(r.utcoffset() == dt.timedelta(hours=8) for r in runs)
    assert next_runs(schedule, at(2025, 3, 3), 1) == [at(2025, 3, 4)]


def test_cron_after_is_compared_as_an_instant() -> None:
    schedule = Schedule(CronRule("0 22 * * *"), start=day(2025, 3, 1))
    after = dt.datetime(2025, 3, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai
    assert next_runs(schedule, after, 1) == [at(2025, 3, 2, 22)]
    assert next_runs(schedule, after - dt.timedelta(seconds=1), 1) == [at(2025, 3, 1, 22)]


def test_cron_end_date_is_inclusive_and_exceptions_are_skipped() -> None:
    schedule = Schedule(CronRule("0 22 * * *"), start=day(2025, 3, 1), end=day(2025, 3, 3))
    assert next_runs(schedule, EARLY, 10) == [at(2025, 3, 1, 22), at(2025, 3, 2, 22),
                                              at(2025, 3, 3, 22)]
    holiday = Schedule(CronRule("0 22 * * *"), start=day(2025, 3, 1), end=day(2025, 3, 3),
                       exceptions=frozenset({day(2025, 3, 2)}))
    assert next_runs(holiday, EARLY, 10) == [at(2025, 3, 1, 22), at(2025, 3, 3, 22)]


def test_cron_aliases_and_leap_days() -> None:
    assert validate_schedule(Schedule(CronRule("@daily"), day(2025, 3, 1))) == at(2025, 3, 1, 0)
    leap = Schedule(CronRule("0 8 29 2 *"), day(2025, 1, 1))
    assert next_runs(leap, EARLY, 2) == [at(2028, 2, 29, 8), at(2032, 2, 29, 8)]


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *"])
def test_cron_that_cannot_match_is_rejected(expression: str) -> None:
    with pytest.raises(ScheduleInvalid) as info:
        validate_schedule(Schedule(CronRule(expression), day(2025, 1, 1)))
    assert _codes(info) == {"rule": "cases.schedule.never_fires"}
    assert info.value.status == 422


def test_cron_that_only_matches_after_the_end_is_rejected() -> None:
    schedule = Schedule(CronRule("0 9 1 1 *"), day(2025, 3, 1), end=day(2025, 12, 31))
    with pytest.raises(ScheduleInvalid) as info:
        validate_schedule(schedule)
    assert _codes(info) == {"rule": "cases.schedule.never_fires"}


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *", "*/15 * * * * *", "often",
                                        "@reboot"])
def test_bad_cron_is_rejected(expression: str) -> None:
    with pytest.raises(ScheduleInvalid) as info:
        validate_schedule(Schedule(CronRule(expression), day(2025, 1, 1)))
    assert _codes(info) == {"cron": "cases.schedule.bad_cron"}


# Calendar rules -----------------------------------------------------------------------------------


def test_every_three_days_twice_a_day() -> None:
    rule = CalendarRule("daily", interval=3, times=(dt.time(20), dt.time(8)))
    schedule = Schedule(rule, start=day(2025, 3, 1))
    assert next_runs(schedule, EARLY, 3) == [at(2025, 3, 1, 8), at(2025, 3, 1, 20),
                                             at(2025, 3, 4, 8)]
    assert next_runs(schedule, at(2025, 3, 5, 0), 3) == [at(2025, 3, 7, 8), at(2025, 3, 7, 20),
                                                         at(2025, 3, 10, 8)]


def test_every_other_week_on_monday_and_thursday() -> None:
    rule = CalendarRule("weekly", interval=2, weekdays=(4, 1), times=(dt.time(9),))
    schedule = Schedule(rule, start=day(2025, 3, 5))  # a Wednesday; its week counts
    assert next_runs(schedule, EARLY, 5) == [at(2025, 3, 6), at(2025, 3, 17), at(2025, 3, 20),
                                             at(2025, 3, 31), at(2025, 4, 3)]
    assert next_runs(schedule, at(2025, 3, 18), 2) == [at(2025, 3, 20), at(2025, 3, 31)]


def test_weekly_defaults_to_the_start_weekday() -> None:
    schedule = Schedule(CalendarRule("weekly"), start=day(2025, 3, 5))
    assert next_runs(schedule, EARLY, 3) == [at(2025, 3, 5), at(2025, 3, 12), at(2025, 3, 19)]


def test_monthly_last_day_and_short_months() -> None:
    rule = CalendarRule("monthly", month_days=(31, -1))
    schedule = Schedule(rule, start=day(2025, 1, 1))
    assert next_runs(schedule, EARLY, 4) == [at(2025, 1, 31), at(2025, 2, 28), at(2025, 3, 31),
                                             at(2025, 4, 30)]
    only_31 = Schedule(CalendarRule("monthly", month_days=(31,)), start=day(2025, 1, 1))
    assert next_runs(only_31, EARLY, 3) == [at(2025, 1, 31), at(2025, 3, 31), at(2025, 5, 31)]


def test_quarterly_and_leap_day_rules() -> None:
    quarterly = Schedule(CalendarRule("monthly", interval=3), start=day(2025, 1, 15))
    assert next_runs(quarterly, at(2025, 2, 1), 3) == [at(2025, 4, 15), at(2025, 7, 15),
                                                       at(2025, 10, 15)]
    leap = Schedule(CalendarRule("monthly", month_days=(29,), months=(2,)), day(2025, 1, 1))
    assert next_runs(leap, EARLY, 2) == [at(2028, 2, 29), at(2032, 2, 29)]


def test_calendar_end_date_and_exceptions() -> None:
    schedule = Schedule(CalendarRule("daily"), start=day(2025, 3, 1), end=day(2025, 3, 4),
                        exceptions=frozenset({day(2025, 3, 2)}))
    assert next_runs(schedule, EARLY, 10) == [at(2025, 3, 1), at(2025, 3, 3), at(2025, 3, 4)]
    assert next_runs(schedule, at(2025, 3, 4), 10) == []


@pytest.mark.parametrize("schedule", [
    Schedule(CalendarRule("monthly", month_days=(30,), months=(2,)), day(2025, 1, 1)),
    Schedule(CalendarRule("monthly", interval=12, month_days=(30,)), day(2025, 2, 1)),
    Schedule(CalendarRule("monthly", interval=12, months=(3,)), day(2025, 2, 1)),
    Schedule(CalendarRule("monthly", month_days=(31,)), day(2025, 4, 1), end=day(2025, 4, 30)),
    Schedule(CalendarRule("weekly", weekdays=(6,)), day(2025, 3, 3), end=day(2025, 3, 7)),
    Schedule(CalendarRule("daily"), day(2025, 3, 1), end=day(2025, 3, 2),
             exceptions=frozenset({day(2025, 3, 1), day(2025, 3, 2)})),
], ids=["feb-30", "feb-30-yearly", "month-never-aligned", "april-31", "saturday-in-workweek",
        "all-excepted"])
def test_calendar_schedules_that_never_fire_are_rejected(schedule: Schedule) -> None:
    with pytest.raises(ScheduleInvalid) as info:
        validate_schedule(schedule)
    assert _codes(info) == {"rule": "cases.schedule.never_fires"}
    assert "never" in info.value.errors[0]["message"] or "永远" in info.value.errors[0]["message"]


@pytest.mark.parametrize(("schedule", "field", "code"), [
    (Schedule(CalendarRule("daily"), day(2025, 3, 5), end=day(2025, 3, 1)),
     "end", "end_before_start"),
    (Schedule(CalendarRule("daily"), day(2025, 3, 5), timezone="Mars/Olympus"),
     "timezone", "bad_timezone"),
    (Schedule(CalendarRule("hourly"), day(2025, 3, 5)), "frequency", "bad_frequency"),
    (Schedule(CalendarRule("daily", interval=0), day(2025, 3, 5)), "interval", "bad_interval"),
    (Schedule(CalendarRule("weekly", weekdays=(0,)), day(2025, 3, 5)), "weekdays",
     "bad_weekday"),
    (Schedule(CalendarRule("daily", weekdays=(1,)), day(2025, 3, 5)), "weekdays",
     "not_applicable"),
    (Schedule(CalendarRule("monthly", month_days=(0,)), day(2025, 3, 5)), "month_days",
     "bad_month_day"),
    (Schedule(CalendarRule("monthly", months=(13,)), day(2025, 3, 5)), "months", "bad_month"),
    (Schedule(CalendarRule("daily", times=()), day(2025, 3, 5)), "times", "no_times"),
])
def test_malformed_schedules(schedule: Schedule, field: str, code: str) -> None:
    with pytest.raises(ScheduleInvalid) as info:
        validate_schedule(schedule)
    assert _codes(info) == {field: f"cases.schedule.{code}"}


# Parsing ------------------------------------------------------------------------------------------


def test_parse_and_round_trip() -> None:
    data: dict[str, Any] = {"frequency": "weekly", "interval": 2, "weekdays": [1, 4],
                            "times": ["09:00", "21:30"], "timezone": "Asia/Shanghai",
                            "start": "2025-03-05", "end": "2025-06-30",
                            "exceptions": ["2025-05-01"]}
    schedule = parse_schedule(data)
    assert schedule.rule == CalendarRule("weekly", 2, (1, 4), (), (),
                                         (dt.time(9), dt.time(21, 30)))
    assert schedule.exceptions == {day(2025, 5, 1)}
    assert parse_schedule(schedule.to_dict()) == schedule
    cron = parse_schedule({"cron": "30 8 * * 1", "start": "2025-03-01"})
    assert cron == Schedule(CronRule("30 8 * * 1"), day(2025, 3, 1))
    assert parse_schedule(cron.to_dict()) == cron


def test_parse_reports_each_bad_field() -> None:
    with pytest.raises(ScheduleInvalid) as info:
        parse_schedule({"frequency": "daily", "times": ["25:00"], "start": "2025-02-30",
                        "colour": "red"})
    assert _codes(info) == {"colour": "cases.schedule.unknown_key",
                            "times[0]": "cases.schedule.bad_time",
                            "start": "cases.schedule.bad_date"}
    with pytest.raises(ScheduleInvalid) as info:
        parse_schedule({"cron": "0 0 30 2 *", "start": "2025-01-01"})
    assert _codes(info) == {"rule": "cases.schedule.never_fires"}
    with pytest.raises(ScheduleInvalid) as info:
        parse_schedule({"cron": "0 9 * * *", "start": "2025-03-05", "end": "2025-03-01"})
    assert _codes(info) == {"end": "cases.schedule.end_before_start"}


def test_runs_between_is_half_open_and_batches() -> None:
    hourly = Schedule(CronRule("0 * * * *"), start=day(2025, 3, 1))
    runs = runs_between(hourly, at(2025, 3, 1, 0), at(2025, 3, 31, 0))
    assert len(runs) == 30 * 24
    assert runs[0] == at(2025, 3, 1, 0) and runs[-1] == at(2025, 3, 30, 23)
    assert len(set(runs)) == len(runs)


# Reminders ----------------------------------------------------------------------------------------


def test_reminders_before_a_run() -> None:
    daily = Schedule(CalendarRule("daily"), start=day(2025, 3, 1))
    assert reminders(daily, at(2025, 3, 5), "1h") == [at(2025, 3, 5, 8)]
    assert reminders(daily, at(2025, 3, 5), ["1d", dt.timedelta(hours=2)]) == [
        at(2025, 3, 4), at(2025, 3, 5, 7)]
    weekly = Schedule(CalendarRule("weekly", weekdays=(1,)), start=day(2025, 3, 1))
    assert reminders(weekly, at(2025, 3, 10), "1d") == [at(2025, 3, 9)]


def test_reminders_never_precede_the_previous_run_or_the_start() -> None:
    daily = Schedule(CalendarRule("daily"), start=day(2025, 3, 1))
    assert reminders(daily, at(2025, 3, 5), "2d") == [at(2025, 3, 4)]
    assert reminders(daily, at(2025, 3, 5), ["2d", "36h", "1d"]) == [at(2025, 3, 4)]
    assert reminders(daily, at(2025, 3, 1), "1d") == [at(2025, 3, 1, 0)]


def test_reminders_for_something_that_is_not_a_run() -> None:
    daily = Schedule(CalendarRule("daily"), start=day(2025, 3, 1))
    with pytest.raises(ValueError, match="not a run"):
        reminders(daily, at(2025, 3, 5, 10), "1h")
    with pytest.raises(ValueError, match="positive"):
        reminders(daily, at(2025, 3, 5), [])
    with pytest.raises(ValueError, match="timezone-aware"):
        reminders(daily, dt.datetime(2025, 3, 5, 9), "1h")


# Execution rate -----------------------------------------------------------------------------------


def test_execution_rate_counts_due_done_late_missed_and_pending() -> None:
    planned = [at(2025, 3, d) for d in range(1, 11)]
    completed = {
        at(2025, 3, 1): at(2025, 3, 1, 9, 30),
        at(2025, 3, 2): at(2025, 3, 3, 10),        # late
        at(2025, 3, 3): at(2025, 3, 3, 10, 59),
        at(2025, 3, 9): at(2025, 3, 8, 16),        # done before it was due
        at(2025, 3, 15): at(2025, 3, 15, 10),      # not a planned run
    }
    rate = execution_rate(planned + planned[:2], completed, as_of=at(2025, 3, 8, 12),
                          grace=dt.timedelta(hours=2))
    assert rate.planned == 10
    assert (rate.counted, rate.executed, rate.on_time, rate.late) == (9, 4, 3, 1)
    assert (rate.missed, rate.pending, rate.unplanned) == (5, 1, 1)
    assert rate.rate == pytest.approx(4 / 9)
    assert rate.on_time_rate == pytest.approx(3 / 9)


def test_execution_rate_without_as_of_counts_every_run() -> None:
    planned = [at(2025, 3, d) for d in range(1, 5)]
    rate = execution_rate(planned, {planned[0]: planned[0]})
    assert (rate.counted, rate.executed, rate.missed, rate.pending) == (4, 1, 3, 0)
    assert rate.rate == 0.25
    empty = execution_rate([], {})
    assert empty.rate is None and empty.on_time_rate is None
    future = execution_rate(planned, {}, as_of=at(2025, 2, 1))
    assert (future.counted, future.pending, future.rate) == (0, 4, None)


def test_execution_rate_from_a_schedule_period() -> None:
    schedule = Schedule(CalendarRule("weekly", weekdays=(1, 3, 5)), start=day(2025, 3, 1))
    planned = runs_between(schedule, at(2025, 3, 1, 0), at(2025, 4, 1, 0))
    assert len(planned) == 13
    completed = {run: run + dt.timedelta(hours=1) for run in planned[::2]}
    rate = execution_rate(planned, completed, as_of=at(2025, 4, 1, 0))
    assert (rate.executed, rate.missed) == (7, 6)
