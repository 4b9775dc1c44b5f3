"""SLA deadlines per priority, with fixed timezone-aware times."""

from __future__ import annotations

import datetime as dt

import pytest

from shequ.cases.definitions import (
    FieldsInvalid,
    builtin_case_types,
    parse_duration,
    sla_due,
    sla_status,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=SHANGHAI)
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
D = dt.timedelta(days=1)


@pytest.mark.parametrize(("priority", "accept", "close", "warn"), [
    ("low", D, 7 * D, 5 * D + 14 * H + 24 * M),
    ("normal", 4 * H, 3 * D, 2 * D + 9 * H + 36 * M),
    ("high", H, D, 19 * H + 12 * M),
    ("urgent", 30 * M, 4 * H, 3 * H + 12 * M),
])
def test_device_fault_sla_per_priority(priority: str, accept: dt.timedelta,
                                       close: dt.timedelta, warn: dt.timedelta) -> None:
    due = sla_due(builtin_case_types()["device_fault"], priority, T0)
    assert due == (T0 + accept, T0 + close, T0 + warn)
    assert due.accept_due.utcoffset() == dt.timedelta(hours=8)


def test_sla_uses_the_type_warning_fraction() -> None:
    due = sla_due(builtin_case_types()["complaint"], "normal", T0)
    assert due.accept_due == dt.datetime(2025, 3, 2, 10, 0, tzinfo=SHANGHAI)
    assert due.close_due == dt.datetime(2025, 3, 8, 10, 0, tzinfo=SHANGHAI)
    assert due.warn_at == dt.datetime(2025, 3, 6, 16, 0, tzinfo=SHANGHAI)


def test_sla_is_calendar_time_across_month_ends_in_any_zone() -> None:
    created = dt.datetime(2025, 2, 27, 20, 0, tzinfo=dt.UTC)
    due = sla_due(builtin_case_types()["hazard_fire"], "high", created)
    assert due.close_due == dt.datetime(2025, 3, 2, 20, 0, tzinfo=dt.UTC)
    assert due.close_due == dt.datetime(2025, 3, 3, 4, 0, tzinfo=SHANGHAI)


def test_sla_rejects_naive_times_and_unknown_priorities() -> None:
    fault = builtin_case_types()["device_fault"]
    with pytest.raises(ValueError, match="timezone-aware"):
        sla_due(fault, "normal", dt.datetime(2025, 3, 1, 10, 0))
    with pytest.raises(FieldsInvalid) as info:
        sla_due(fault, "whenever", T0)
    assert info.value.errors[0]["field"] == "priority"


def test_sla_status() -> None:
    consultation = builtin_case_types()["consultation"]  # normal: accept 1h, close 1d, warn 0.5

    def status(now: dt.timedelta, accepted: dt.timedelta | None = None,
               closed: dt.timedelta | None = None) -> str:
        return sla_status(consultation, "normal", T0, T0 + now,
                          T0 + accepted if accepted else None, T0 + closed if closed else None)

    assert status(30 * M) == "ok"
    assert status(2 * H) == "overdue"
    assert status(11 * H, accepted=30 * M) == "ok"
    assert status(12 * H, accepted=30 * M) == "warning"
    assert status(40 * H, accepted=30 * M, closed=20 * H) == "ok"
    assert status(40 * H, accepted=30 * M, closed=25 * H) == "overdue"
    assert status(3 * H, accepted=90 * M) == "overdue"


@pytest.mark.parametrize(("text", "value"), [
    ("30m", 30 * M), ("4h", 4 * H), ("2d", 2 * D), ("1d12h", 36 * H), ("1h30m", 90 * M),
])
def test_parse_duration(text: str, value: dt.timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "0m", "4", "4 hours", "h", "30m2h", "-1d", None, 30])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)
