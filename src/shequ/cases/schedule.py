"""Plan schedules (计划周期) for maintenance, inspection and patrol, and patrol rounds (巡更).

A schedule is data: either a five-field cron expression (evaluated by `croniter`) or a
calendar rule (every N days, weeks on given ISO weekdays, or months on given days), with a
time zone, a first and an optional last date (both inclusive, local dates) and exception
dates on which nothing runs. `next_runs()` lists the coming runs, `reminders()` when to
remind of one, `execution_rate()` how many planned runs were executed (6.4.1.e/g).

Patrol (5.3.8): a route is an ordered list of points and the length of a round's time
window; `missed_points()` compares the points with check-ins that arrive online one by one
or in an offline collector's batch (late, out of order, with duplicates) in O(n log n).

Local times that do not exist because of a daylight-saving jump run at the same instant
shifted forward (02:30 in a spring-forward gap runs at 03:30); ambiguous times run once, at
their first occurrence. China's zone (Asia/Shanghai) has no DST.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import t

from .definitions import parse_duration

DEFAULT_TIMEZONE = "Asia/Shanghai"
FREQUENCIES = ("daily", "weekly", "monthly")
CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
LAST_DAY = -1
HORIZON_YEARS = 400  # the Gregorian calendar repeats every 400 years
MAX_EXCEPTIONS = 1000
_LAST_DATE = dt.date(9970, 1, 1)  # leaves room for the longest interval step


class ScheduleInvalid(ValidationFailed):
    """A schedule is malformed or never fires; `errors` names each field."""

    code = "cases.schedule_invalid"


@dataclass(frozen=True)
class CronRule:
    """A five-field cron expression (minute hour day-of-month month day-of-week)."""

    expression: str


@dataclass(frozen=True)
class CalendarRule:
    """Every `interval` days/weeks/months, counted from the schedule's start date.

    `weekdays` (ISO: 1 = Monday … 7 = Sunday) apply to weekly rules and default to the start
    date's weekday; `month_days` (1–31, or -1 for the last day) to monthly rules and default
    to the start date's day; a month without that day (31 April, 30 February) is skipped.
    `months` (1–12) limits a monthly rule to some months of the year.
    """

    frequency: str
    interval: int = 1
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    times: tuple[dt.time, ...] = (dt.time(9, 0),)


@dataclass(frozen=True)
class Schedule:
    """When a plan runs: a rule, a time zone, first/last local date and exception dates."""

    rule: CronRule | CalendarRule
    start: dt.date
    end: dt.date | None = None
    timezone: str = DEFAULT_TIMEZONE
    exceptions: frozenset[dt.date] = frozenset()

    @property
    def tz(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form read by `parse_schedule()`."""
        data: dict[str, Any] = {"timezone": self.timezone, "start": self.start.isoformat(),
                                "end": self.end.isoformat() if self.end else None,
                                "exceptions": sorted(d.isoformat() for d in self.exceptions)}
        if isinstance(self.rule, CronRule):
            return {"cron": self.rule.expression, **data}
        rule = self.rule
        return {"frequency": rule.frequency, "interval": rule.interval,
                "weekdays": list(rule.weekdays), "month_days": list(rule.month_days),
                "months": list(rule.months),
                "times": [x.strftime("%H:%M") for x in rule.times], **data}


# ---------------------------------------------------------------------------------------------
# Parsing and validation


class _Problems:
    """Per-field schedule errors, rendered like other 422 errors."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, path: str, code: str, **params: Any) -> None:
        key = f"cases.schedule.{code}"
        self.errors.append({"field": path, "code": key, "message": t(key, **params)})

    def raise_if_any(self) -> None:
        if self.errors:
            raise ScheduleInvalid(errors=self.errors)


_CRON_KEYS = {"cron", "timezone", "start", "end", "exceptions"}
_CALENDAR_KEYS = {"frequency", "interval", "weekdays", "month_days", "months", "times",
                  "timezone", "start", "end", "exceptions"}


def _date(problems: _Problems, value: Any, field: str) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        problems.add(field, "bad_date", value=str(value)[:40])
        return None


def _time(problems: _Problems, value: Any, field: str) -> dt.time | None:
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    try:
        return dt.time.fromisoformat(value).replace(tzinfo=None)
    except (TypeError, ValueError):
        problems.add(field, "bad_time", value=str(value)[:40])
        return None


def _ints(problems: _Problems, value: Any, field: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        problems.add(field, "bad_value", name=field)
        return ()
    return tuple(value)


def _calendar_rule(problems: _Problems, data: Mapping[str, Any]) -> CalendarRule:
    times = tuple(x for i, v in enumerate(_list(data.get("times", ["09:00"])))
                  if (x := _time(problems, v, f"times[{i}]")) is not None)
    interval = data.get("interval", 1)
    if not isinstance(interval, int) or isinstance(interval, bool):
        problems.add("interval", "bad_value", name="interval")
        interval = 1
    return CalendarRule(
        frequency=str(data.get("frequency")), interval=interval,
        weekdays=_ints(problems, data.get("weekdays", []), "weekdays"),
        month_days=_ints(problems, data.get("month_days", []), "month_days"),
        months=_ints(problems, data.get("months", []), "months"), times=times,
    )


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def parse_schedule(data: Mapping[str, Any]) -> Schedule:
    """Read a schedule from its JSON form (`cron` or `frequency` …) and validate it (422)."""
    problems = _Problems()
    allowed = _CRON_KEYS if "cron" in data else _CALENDAR_KEYS
    for key in data:
        if key not in allowed:
            problems.add(key, "unknown_key", key=key)
    rule: CronRule | CalendarRule = (
        CronRule(str(data["cron"])) if "cron" in data else _calendar_rule(problems, data))
    start = _date(problems, data.get("start"), "start")
    end = _date(problems, data["end"], "end") if data.get("end") is not None else None
    exceptions = [_date(problems, v, f"exceptions[{i}]")
                  for i, v in enumerate(_list(data.get("exceptions", [])))]
    problems.raise_if_any()
    assert start is not None
    schedule = Schedule(rule, start, end, str(data.get("timezone", DEFAULT_TIMEZONE)),
                        frozenset(d for d in exceptions if d is not None))
    validate_schedule(schedule)
    return schedule


def _check_cron(problems: _Problems, rule: CronRule) -> None:
    expr = rule.expression.strip()
    if expr.lower() in CRON_ALIASES:
        return
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        problems.add("cron", "bad_cron", expression=expr[:80])


def _check_calendar(problems: _Problems, rule: CalendarRule) -> None:
    if rule.frequency not in FREQUENCIES:
        problems.add("frequency", "bad_frequency", allowed=", ".join(FREQUENCIES))
    if not 1 <= rule.interval <= 1000:
        problems.add("interval", "bad_interval")
    if rule.weekdays and rule.frequency != "weekly":
        problems.add("weekdays", "not_applicable", name="weekdays")
    if (rule.month_days or rule.months) and rule.frequency != "monthly":
        problems.add("month_days", "not_applicable", name="month_days")
    if any(not 1 <= d <= 7 for d in rule.weekdays):
        problems.add("weekdays", "bad_weekday")
    if any(not (1 <= d <= 31 or d == LAST_DAY) for d in rule.month_days):
        problems.add("month_days", "bad_month_day")
    if any(not 1 <= m <= 12 for m in rule.months):
        problems.add("months", "bad_month")
    if not rule.times:
        problems.add("times", "no_times")


def _check_frame(problems: _Problems, schedule: Schedule) -> None:
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("timezone", "bad_timezone", timezone=schedule.timezone[:60])
    if schedule.end is not None and schedule.end < schedule.start:
        problems.add("end", "end_before_start")
    if len(schedule.exceptions) > MAX_EXCEPTIONS:
        problems.add("exceptions", "too_many_exceptions", limit=MAX_EXCEPTIONS)


def validate_schedule(schedule: Schedule) -> dt.datetime:
    """Check a schedule and return its first run; 422 if it is malformed or never fires."""
    problems = _Problems()
    _check_frame(problems, schedule)
    if isinstance(schedule.rule, CronRule):
        _check_cron(problems, schedule.rule)
    else:
        _check_calendar(problems, schedule.rule)
    problems.raise_if_any()
    first = next_runs(schedule, _local_midnight(schedule, schedule.start)
                      - dt.timedelta(microseconds=1), 1)
    if not first:
        problems.add("rule", "never_fires")
        problems.raise_if_any()
    return first[0]


# ---------------------------------------------------------------------------------------------
# Runs


def _local_midnight(schedule: Schedule, day: dt.date) -> dt.datetime:
    return _localize(day, dt.time(0, 0), schedule.tz)


def _localize(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    naive = dt.datetime.combine(day, at)
    return naive.replace(tzinfo=tz).astimezone(dt.UTC).astimezone(tz)


def _aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _limit(schedule: Schedule, first: dt.date) -> dt.date:
    if schedule.end is not None:
        return min(schedule.end, _LAST_DATE)
    return min(_LAST_DATE, first.replace(year=min(first.year + HORIZON_YEARS, 9999), day=1))


def next_runs(schedule: Schedule, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` runs strictly after `after`, in the schedule's time zone.

    Fewer (or none) are returned when the schedule ends first or never fires again.
    """
    _aware(after, "after")
    tz = schedule.tz
    begin = max(after.astimezone(tz),
                _local_midnight(schedule, schedule.start) - dt.timedelta(microseconds=1))
    runs = _cron_runs(schedule, begin) if isinstance(schedule.rule, CronRule) \
        else _calendar_runs(schedule, schedule.rule, begin)
    result: list[dt.datetime] = []
    for run in runs:
        if len(result) >= count:
            break
        result.append(run)
    return result


def runs_between(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every run in [start, end): the planned runs of a reporting period."""
    _aware(start, "start")
    _aware(end, "end")
    runs: list[dt.datetime] = []
    cursor = start - dt.timedelta(microseconds=1)
    while True:
        batch = next_runs(schedule, cursor, 256)
        runs += [r for r in batch if r < end]
        if len(batch) < 256 or batch[-1] >= end:
            return runs
        cursor = batch[-1]


def _cron_runs(schedule: Schedule, begin: dt.datetime) -> Iterator[dt.datetime]:
    assert isinstance(schedule.rule, CronRule)
    stop = _local_midnight(schedule, _limit(schedule, begin.date()) + dt.timedelta(days=1))
    try:
        it = croniter(schedule.rule.expression.strip(), begin)
        while (run := it.get_next(dt.datetime)) < stop:
            if run.date() not in schedule.exceptions:
                yield run
    except CroniterBadDateError:
        return
    except CroniterError as exc:
        raise ValueError(f"bad cron expression {schedule.rule.expression!r}") from exc


def _calendar_runs(schedule: Schedule, rule: CalendarRule,
                   begin: dt.datetime) -> Iterator[dt.datetime]:
    tz = schedule.tz
    first = max(begin.date(), schedule.start)
    times = sorted(set(rule.times))
    for day in _dates(rule, schedule.start, first, _limit(schedule, first)):
        if day in schedule.exceptions:
            continue
        for at in times:
            run = _localize(day, at, tz)
            if run > begin:
                yield run


def _dates(rule: CalendarRule, start: dt.date, first: dt.date,
           last: dt.date) -> Iterator[dt.date]:
    """Dates the rule fires on in [first, last] (never before `start`), ascending."""
    if rule.frequency == "daily":
        days: Iterator[dt.date] = _daily(rule.interval, start, first, last)
    elif rule.frequency == "weekly":
        days = _weekly(rule, start, first, last)
    else:
        days = _monthly(rule, start, first, last)
    return (day for day in days if first <= day <= last)


def _daily(interval: int, start: dt.date, first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = start + dt.timedelta(days=max(0, math.ceil((first - start).days / interval)) * interval)
    while day <= last:
        yield day
        day += dt.timedelta(days=interval)


def _weekly(rule: CalendarRule, start: dt.date, first: dt.date,
            last: dt.date) -> Iterator[dt.date]:
    weekdays = sorted(set(rule.weekdays or (start.isoweekday(),)))
    week0 = start - dt.timedelta(days=start.weekday())
    weeks = (first - dt.timedelta(days=first.weekday()) - week0).days // 7
    monday = week0 + dt.timedelta(weeks=max(0, math.ceil(weeks / rule.interval)) * rule.interval)
    while monday <= last:
        for weekday in weekdays:
            yield monday + dt.timedelta(days=weekday - 1)
        monday += dt.timedelta(weeks=rule.interval)


def _month_days(days: Iterable[int], year: int, month: int) -> list[int]:
    length = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return sorted({length if d == LAST_DAY else d for d in days if d == LAST_DAY or d <= length})


def _monthly(rule: CalendarRule, start: dt.date, first: dt.date,
             last: dt.date) -> Iterator[dt.date]:
    m0 = start.year * 12 + start.month - 1
    behind = first.year * 12 + first.month - 1 - m0
    index = m0 + max(0, math.ceil(behind / rule.interval)) * rule.interval
    days = rule.month_days or (start.day,)
    while index <= last.year * 12 + last.month - 1:
        year, month = divmod(index, 12)
        if not rule.months or month + 1 in rule.months:
            for day in _month_days(days, year, month + 1):
                yield dt.date(year, month + 1, day)
        index += rule.interval


# ---------------------------------------------------------------------------------------------
# Reminders and execution rate


def _leads(lead: dt.timedelta | str | Sequence[dt.timedelta | str]) -> list[dt.timedelta]:
    items = [lead] if isinstance(lead, dt.timedelta | str) else list(lead)
    leads = [parse_duration(x) if isinstance(x, str) else x for x in items]
    if not leads or any(x <= dt.timedelta() for x in leads):
        raise ValueError("reminder leads must be positive durations")
    return leads


def reminders(schedule: Schedule, run_at: dt.datetime,
              lead: dt.timedelta | str | Sequence[dt.timedelta | str]) -> list[dt.datetime]:
    """When to remind of one run: `lead` before it (one lead or several, e.g. `["1d", "1h"]`).

    A reminder never comes before the previous run (it is moved to that run, so a daily
    plan with a two-day lead reminds once, at the previous run) nor before the schedule's
    first day; equal times are merged. Raises ValueError if `run_at` is not a run.
    """
    _aware(run_at, "run_at")
    if next_runs(schedule, run_at - dt.timedelta(microseconds=1), 1) != [run_at]:
        raise ValueError(f"{run_at.isoformat()} is not a run of this schedule")
    leads = _leads(lead)
    floor = _local_midnight(schedule, schedule.start)
    earliest = run_at - max(leads)
    before = [r for r in runs_between(schedule, max(earliest, floor), run_at) if r < run_at]
    if before:
        floor = before[-1]
    return sorted({max(run_at - x, floor).astimezone(schedule.tz) for x in leads})


class ExecutionRate(NamedTuple):
    """Execution of planned runs (执行率); `rate` is executed / counted (None if none)."""

    planned: int
    counted: int
    executed: int
    on_time: int
    late: int
    missed: int
    pending: int
    unplanned: int
    rate: float | None
    on_time_rate: float | None


def execution_rate(
    planned_runs: Iterable[dt.datetime], completed: Mapping[dt.datetime, dt.datetime], *,
    as_of: dt.datetime | None = None, grace: dt.timedelta = dt.timedelta(),
) -> ExecutionRate:
    """How many planned runs were executed, and how many were missed.

    - `planned_runs` are the runs of the period (e.g. `runs_between`); duplicates count once.
    - `completed` maps a planned run (its planned instant) to when it was completed.
    - A run is due at `run + grace`. A run counts once it is due or done, whichever comes
      first: runs neither due (at `as_of`, default: all due) nor done are `pending` and left
      out of the rate, so a plan is not punished for runs still ahead.
    - A counted run without a completion is `missed`; that includes skipped and cancelled
      runs — skipping is a decision not to execute. A completion after the due time counts
      as executed but `late`.
    - Completions of runs that are not planned (ad-hoc work) are `unplanned` and not counted.
    """
    planned = set(planned_runs)
    for value in (*planned, *completed, *completed.values(), *([as_of] if as_of else [])):
        _aware(value, "every time")
    due = {r for r in planned if as_of is None or r + grace <= as_of}
    done = {r for r in planned if r in completed}
    counted = due | done
    on_time = sum(1 for r in done if completed[r] <= r + grace)
    executed = len(done)
    return ExecutionRate(
        planned=len(planned), counted=len(counted), executed=executed, on_time=on_time,
        late=executed - on_time, missed=len(counted - done), pending=len(planned - counted),
        unplanned=sum(1 for r in completed if r not in planned),
        rate=executed / len(counted) if counted else None,
        on_time_rate=on_time / len(counted) if counted else None,
    )


# ---------------------------------------------------------------------------------------------
# Patrol rounds (巡更)


@dataclass(frozen=True)
class PatrolPoint:
    """A patrol point (巡更点), known by the code of its tag (e.g. an RFID tag number)."""

    code: str
    name: str = ""


@dataclass(frozen=True)
class PatrolRoute:
    """A route: points in patrol order and how long a round may take."""

    id: int
    points: tuple[PatrolPoint, ...]
    round_duration: dt.timedelta

    def __post_init__(self) -> None:
        codes = [p.code for p in self.points]
        if not codes:
            raise ValueError("a patrol route needs at least one point")
        if len(set(codes)) != len(codes):
            raise ValueError("patrol point codes must be unique within a route")
        if self.round_duration <= dt.timedelta():
            raise ValueError("the round duration must be positive")


@dataclass(frozen=True)
class RoundWindow:
    """The time window of one round; check-ins count from `start` to `end`, both included."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class CheckIn:
    """One check-in at a point: online as it happens, or from an offline collector later."""

    point: str
    at: dt.datetime
    collector: str | None = None

    @property
    def key(self) -> tuple[str | None, str, dt.datetime]:
        """The identity of a record: a re-uploaded record has the same key."""
        return (self.collector, self.point, self.at)


@dataclass(frozen=True)
class RoundReport:
    """A round's outcome: first check-in per point, missed and out-of-order points."""

    window: RoundWindow
    visited: dict[str, dt.datetime]
    missed: tuple[PatrolPoint, ...]
    out_of_order: tuple[PatrolPoint, ...]
    outside_window: int
    unknown_points: int

    @property
    def complete(self) -> bool:
        """Whether every point was checked within the window."""
        return not self.missed


def round_window(route: PatrolRoute, round_start: dt.datetime) -> RoundWindow:
    """The window of the round starting at `round_start` (a run of the route's schedule)."""
    _aware(round_start, "round_start")
    return RoundWindow(round_start, round_start + route.round_duration)


def round_windows(route: PatrolRoute, schedule: Schedule, start: dt.datetime,
                  end: dt.datetime) -> list[RoundWindow]:
    """The windows of every round of a route whose schedule runs in [start, end)."""
    return [round_window(route, run) for run in runs_between(schedule, start, end)]


def dedupe_check_ins(check_ins: Iterable[CheckIn]) -> list[CheckIn]:
    """Unique records (by collector, point, time) in time order: idempotent re-uploads."""
    unique: dict[tuple[str | None, str, dt.datetime], CheckIn] = {}
    for check_in in check_ins:
        _aware(check_in.at, "check-in time")
        unique[check_in.key] = check_in
    return sorted(unique.values(), key=lambda c: (c.at, c.point, c.collector or ""))


def _first_visits(route: PatrolRoute, window: RoundWindow,
                  check_ins: Iterable[CheckIn]) -> tuple[dict[str, dt.datetime], int, int]:
    codes = {p.code for p in route.points}
    first: dict[str, dt.datetime] = {}
    outside = unknown = 0
    for check_in in check_ins:
        _aware(check_in.at, "check-in time")
        if check_in.point not in codes:
            unknown += 1
        elif not window.start <= check_in.at <= window.end:
            outside += 1
        elif check_in.point not in first or check_in.at < first[check_in.point]:
            first[check_in.point] = check_in.at
    return first, outside, unknown


def _out_of_order(route: PatrolRoute, first: Mapping[str, dt.datetime]) -> set[str]:
    """Visited points outside a longest in-order subsequence (patience sort, k log k)."""
    position = {p.code: i for i, p in enumerate(route.points)}
    sequence = sorted(first, key=lambda code: (first[code], position[code]))
    tails: list[int] = []
    tail_at: list[int] = []
    parent: dict[int, int | None] = {}
    for i, code in enumerate(sequence):
        slot = bisect.bisect_left(tails, position[code])
        parent[i] = tail_at[slot - 1] if slot else None
        if slot == len(tails):
            tails.append(position[code])
            tail_at.append(i)
        else:
            tails[slot], tail_at[slot] = position[code], i
    keep: set[str] = set()
    cursor = tail_at[-1] if tail_at else None
    while cursor is not None:
        keep.add(sequence[cursor])
        cursor = parent[cursor]
    return set(sequence) - keep


def patrol_round(route: PatrolRoute, window: RoundWindow,
                 check_ins: Iterable[CheckIn]) -> RoundReport:
    """Evaluate one round from check-ins in any order, duplicates allowed: O(n + k log k)."""
    first, outside, unknown = _first_visits(route, window, check_ins)
    disorder = _out_of_order(route, first)
    return RoundReport(
        window=window, visited=first,
        missed=tuple(p for p in route.points if p.code not in first),
        out_of_order=tuple(p for p in route.points if p.code in disorder),
        outside_window=outside, unknown_points=unknown,
    )


def missed_points(route: PatrolRoute, window: RoundWindow,
                  check_ins: Iterable[CheckIn]) -> list[PatrolPoint]:
    """The route's points with no check-in inside the round's window, in route order."""
    return list(patrol_round(route, window, check_ins).missed)


@dataclass(frozen=True)
class BatchReport:
    """Rounds evaluated from one batch of check-ins (e.g. an offline collector's upload)."""

    rounds: tuple[RoundReport, ...]
    records: int
    duplicates: int
    unmatched: int


def _bucket(windows: Sequence[RoundWindow], starts: Sequence[dt.datetime],
            at: dt.datetime) -> list[int]:
    """Indexes of the windows (sorted by start, equal lengths) that contain `at`."""
    found = []
    index = bisect.bisect_right(starts, at) - 1
    while index >= 0 and windows[index].end >= at:
        found.append(index)
        index -= 1
    return found


def evaluate_batch(route: PatrolRoute, windows: Iterable[RoundWindow],
                   check_ins: Iterable[CheckIn]) -> BatchReport:
    """Evaluate many rounds of one route from one batch, in O(n log n) for n records.

    Records are de-duplicated by identity, sorted into the rounds whose window holds them
    (binary search over the round starts), then each round is evaluated. Records inside no
    window are `unmatched`; `duplicates` counts repeated records (re-uploads).
    """
    ordered = sorted(windows, key=lambda w: w.start)
    if any(w.end - w.start != route.round_duration for w in ordered):
        raise ValueError("every window must last the route's round duration")
    starts = [w.start for w in ordered]
    records = list(check_ins)
    unique = dedupe_check_ins(records)
    buckets: list[list[CheckIn]] = [[] for _ in ordered]
    unmatched = 0
    for check_in in unique:
        hits = _bucket(ordered, starts, check_in.at)
        unmatched += not hits
        for index in hits:
            buckets[index].append(check_in)
    rounds = tuple(patrol_round(route, w, b) for w, b in zip(ordered, buckets, strict=True))
    return BatchReport(rounds, len(records), len(records) - len(unique), unmatched)
