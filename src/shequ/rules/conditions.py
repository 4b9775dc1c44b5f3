"""Stateful evaluation of each condition kind, one small state object per subject.

An evaluator turns input (a metric sample, an event, "heard from the device", a timer) into a
`Signal` ``(level, values, occurrence)`` for one subject (a device, or a place for grouped
conditions), or None when the input changes nothing. Levels: 0 normal, 1 pre-warning (预警),
2 alarm (报警). `values` (only when level > 0) say what triggered it; `occurrence` marks a new
triggering occurrence (a matching event) that counts as a repeat of an alarm already open.

Order and time (all times are epoch seconds; nothing reads the clock):

- A metric sample older than, or as old as, the newest sample seen for that subject and
  condition is ignored by threshold, duration and rate (late samples never move state back).
- Events are counted by their own timestamps. A late event still counts if it lies within the
  window measured back from the newest event seen; an older one is ignored. An event whose
  message id is already in a count window is not counted twice.
- "Within N s" is inclusive (events at most N s apart belong together); "for N s" (duration)
  holds once N s have passed; "no data for N s" fires once more than N s have passed.
- Timers run on the time passed to `Engine.tick`; a level reached by a timer is computed as if
  the last sample still held (sample-and-hold).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from shequ.rules.definitions import (
    ABOVE,
    Composite,
    Condition,
    Count,
    EventMatch,
    NoData,
    Rate,
    Threshold,
    passes,
)

Signal = tuple[int, dict[str, Any] | None, bool]
INF = math.inf

OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
    "eq": operator.eq, "in": lambda value, bound: value in bound,
}


def after(ts: float) -> float:
    """The first representable instant strictly later than `ts`."""
    return math.nextafter(ts, INF)


def _num(value: float) -> float | None:
    """A float for JSON (None for ±infinity)."""
    return None if math.isinf(value) else value


def _inf(value: float | None) -> float:
    """The inverse of `_num` for a "newest seen" time (None → −infinity)."""
    return -INF if value is None else value


class State:
    """Per-subject condition state; `due` is when its timer should run, `queued` what is queued."""

    __slots__ = ("due", "queued")

    def __init__(self) -> None:
        self.due: float | None = None
        self.queued: float | None = None


class Evaluator:
    """Base class: one per condition of a rule."""

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.group_by = condition.group_by

    def new_state(self, arg: Any) -> State:
        """A fresh state (`arg` is the binding's argument, e.g. a no-data delay)."""
        return State()

    def on_timer(self, st: Any, now: float) -> Signal | None:
        """Re-evaluate when the state's timer is due."""
        st.due = None
        return None

    def dump(self, st: Any) -> list[Any]:
        """The state as a compact JSON-able list."""
        return [st.due]

    def load(self, data: list[Any], arg: Any) -> State:
        """A state from `dump` output."""
        st = self.new_state(arg)
        st.due = data[0]
        return st


# ---------------------------------------------------------------------------------------------
# Threshold, duration and rate: two tiers, optionally held for `for_s`


class TieredState(State):
    """Newest sample time and value, the instant level and since when each tier holds."""

    __slots__ = ("raw", "s1", "s2", "ts", "value")

    def __init__(self) -> None:
        super().__init__()
        self.ts = -INF
        self.value: Any = None
        self.raw = 0
        self.s1: float | None = None
        self.s2: float | None = None


class TieredEvaluator(Evaluator):
    """Shared logic of threshold and rate: tiers, hysteresis and the duration (`for_s`)."""

    value_name = "value"

    def __init__(self, condition: Threshold | Rate) -> None:
        super().__init__(condition)
        self.metric = condition.metric
        self.test = OPERATORS[condition.comparator]
        self.tiers = condition.tiers
        self.for_s = condition.for_s
        slack = condition.hysteresis if isinstance(condition, Threshold) else 0.0
        self.slack = -slack if condition.comparator in ABOVE else slack

    def new_state(self, arg: Any) -> TieredState:
        """A state with no sample yet."""
        return TieredState()

    def on_sample(self, st: Any, ts: float, value: Any, msg: Any) -> Signal | None:
        """A new sample of the metric."""
        raise NotImplementedError

    def instant(self, value: Any, previous: int) -> int:
        """The level of one value; a level already reached is left only past the hysteresis."""
        test, slack = self.test, self.slack
        for level, bound in self.tiers:
            if test(value, bound + slack if slack and previous >= level else bound):
                return level
        return 0

    def settle(self, st: TieredState, raw: int, ts: float) -> Signal:
        """Record the instant level and return the level that has held long enough."""
        st.raw = raw
        if raw >= 1:
            if st.s1 is None:
                st.s1 = ts
        else:
            st.s1 = None
        if raw >= 2:
            if st.s2 is None:
                st.s2 = ts
        else:
            st.s2 = None
        return self.level_at(st, ts)

    def level_at(self, st: TieredState, now: float) -> Signal:
        """The held level at a time, scheduling the timer for the next tier to mature."""
        if not self.for_s:
            level = st.raw
            st.due = None
        else:
            level, due = 0, None
            for tier, since in ((2, st.s2), (1, st.s1)):
                if since is None:
                    continue
                if now - since >= self.for_s:
                    level = max(level, tier)
                elif tier > level:
                    due = since + self.for_s if due is None else min(due, since + self.for_s)
            st.due = due
        if not level:
            return 0, None, False
        values = {"metric": self.metric, self.value_name: st.value}
        if self.for_s:
            values["for_s"] = self.for_s
        return level, values, False

    def on_timer(self, st: TieredState, now: float) -> Signal | None:
        """A duration has matured (or not yet)."""
        return self.level_at(st, now)

    def dump(self, st: Any) -> list[Any]:
        """[due, newest ts, instant level, since warning, since alarm, value]."""
        return [st.due, _num(st.ts), st.raw, st.s1, st.s2, st.value]

    def load(self, data: list[Any], arg: Any) -> TieredState:
        """The inverse of `dump`."""
        st = self.new_state(arg)
        st.due, st.ts, st.raw, st.s1, st.s2, st.value = (data[0], _inf(data[1]), *data[2:6])
        return st


class ThresholdEvaluator(TieredEvaluator):
    """A metric against two tiers (``threshold`` and ``duration``)."""

    def on_sample(self, st: TieredState, ts: float, value: Any, msg: Any) -> Signal | None:
        """A new sample; late ones are ignored."""
        if ts <= st.ts:
            return None
        st.ts = ts
        st.value = value
        return self.settle(st, self.instant(value, st.raw), ts)


class RateState(TieredState):
    """A tiered state plus the recent samples the rate is measured over."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        super().__init__()
        self.samples: deque[tuple[float, float]] = deque()


class RateEvaluator(TieredEvaluator):
    """The change per minute between the newest sample and the one `window_s` before it."""

    value_name = "rate_per_min"

    def __init__(self, condition: Rate) -> None:
        super().__init__(condition)
        self.window = condition.window_s

    def new_state(self, arg: Any) -> RateState:
        """A state with no samples."""
        return RateState()

    def on_sample(self, st: RateState, ts: float, value: Any, msg: Any) -> Signal | None:
        """Add a sample; the anchor is the last sample at or before the window's start."""
        if ts <= st.ts:
            return None
        st.ts = ts
        samples = st.samples
        samples.append((ts, value))
        start = ts - self.window
        while len(samples) >= 2 and samples[1][0] <= start:
            samples.popleft()
        first_ts, first_value = samples[0]
        if first_ts >= ts:
            return self.settle(st, 0, ts)
        st.value = (value - first_value) / (ts - first_ts) * 60.0
        return self.settle(st, self.instant(st.value, st.raw), ts)

    def dump(self, st: Any) -> list[Any]:
        """The tiered fields plus the samples, flattened."""
        return [*super().dump(st), [item for pair in st.samples for item in pair]]

    def load(self, data: list[Any], arg: Any) -> RateState:
        """The inverse of `dump`."""
        st = self.new_state(arg)
        st.due, st.ts, st.raw, st.s1, st.s2, st.value = (data[0], _inf(data[1]), *data[2:6])
        flat = data[6]
        st.samples.extend(zip(flat[::2], flat[1::2], strict=True))
        return st


# ---------------------------------------------------------------------------------------------
# No data / offline


class SilenceState(State):
    """When the device (or metric) was last heard from, the allowed silence, and if silent."""

    __slots__ = ("delay", "last", "silent")

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.last = -INF
        self.silent = False


class NoDataEvaluator(Evaluator):
    """Fires once nothing has been received for more than the delay (receive time)."""

    def __init__(self, condition: NoData) -> None:
        super().__init__(condition)
        self.level = condition.level

    def new_state(self, arg: Any) -> SilenceState:
        """A state with the delay of the device's type (`arg`)."""
        return SilenceState(float(arg))

    def seen(self, st: SilenceState, received: float) -> Signal | None:
        """The device (or metric) was heard from at `received`."""
        if received <= st.last:
            return None
        st.last = received
        st.due = after(received + st.delay)
        if st.silent:
            st.silent = False
            return 0, None, False
        return None

    def on_message(self, st: SilenceState, ts: float, value: Any, msg: Any) -> Signal | None:
        """Any message (or sample of the metric) counts as being heard from."""
        return self.seen(st, msg.received_at.timestamp())

    def on_timer(self, st: SilenceState, now: float) -> Signal | None:
        """Silent for longer than the delay?"""
        if st.silent:
            st.due = None
            return None
        if now - st.last <= st.delay:
            st.due = after(st.last + st.delay)
            return None
        st.silent = True
        st.due = None
        values = {"silent_s": round(now - st.last, 3), "after_s": st.delay}
        return self.level, values, False

    def dump(self, st: SilenceState) -> list[Any]:
        """[due, delay, last heard, silent]."""
        return [st.due, st.delay, _num(st.last), st.silent]

    def load(self, data: list[Any], arg: Any) -> SilenceState:
        """The inverse of `dump`."""
        st = SilenceState(data[1])
        st.due, st.last, st.silent = data[0], _inf(data[2]), data[3]
        return st


# ---------------------------------------------------------------------------------------------
# Event matches and counts


class HoldState(State):
    """The newest matching event's time and whether the condition is active."""

    __slots__ = ("active", "last")

    def __init__(self) -> None:
        super().__init__()
        self.last = -INF
        self.active = False


class EventEvaluator(Evaluator):
    """A matching event raises; the level holds `hold_s` after the newest match."""

    def __init__(self, condition: EventMatch) -> None:
        super().__init__(condition)
        self.event = condition.event
        self.where = condition.where
        self.level = condition.level
        self.hold = condition.hold_s

    def new_state(self, arg: Any) -> HoldState:
        """A state with no match yet."""
        return HoldState()

    def on_event(self, st: HoldState, ts: float, data: Any, msg: Any) -> Signal | None:
        """A matching event (late ones older than the hold are ignored)."""
        if self.where and not passes(self.where, data):
            return None
        if ts < st.last - self.hold:
            return None
        st.last = max(st.last, ts)
        st.due = after(st.last + self.hold)
        st.active = True
        return self.level, {"event": self.event, **data}, True

    def on_clear(self, st: HoldState, ts: float, data: Any, msg: Any) -> Signal | None:
        """The clearing event ends the hold unless it is older than the newest match."""
        if not st.active or ts < st.last:
            return None
        st.active = False
        st.due = None
        return 0, None, False

    def on_timer(self, st: HoldState, now: float) -> Signal | None:
        """The hold has passed (or not yet)."""
        if not st.active:
            st.due = None
            return None
        if now - st.last <= self.hold:
            st.due = after(st.last + self.hold)
            return None
        st.active = False
        st.due = None
        return 0, None, False

    def dump(self, st: HoldState) -> list[Any]:
        """[due, newest match, active]."""
        return [st.due, _num(st.last), st.active]

    def load(self, data: list[Any], arg: Any) -> HoldState:
        """The inverse of `dump`."""
        st = HoldState()
        st.due, st.last, st.active = data[0], _inf(data[1]), data[2]
        return st


class WindowState(State):
    """The counted events (time, message id), in time order, and the newest event time."""

    __slots__ = ("events", "newest")

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, str]] = []
        self.newest = -INF


class CountEvaluator(Evaluator):
    """At least N matching events within the window (two tiers), per subject."""

    def __init__(self, condition: Count) -> None:
        super().__init__(condition)
        self.where = condition.where
        self.window = condition.window_s
        self.tiers = tuple((level, bound) for level, bound in
                           ((2, condition.alarm), (1, condition.warning)) if bound is not None)
        self.events = condition.events

    def new_state(self, arg: Any) -> WindowState:
        """An empty window."""
        return WindowState()

    def _level(self, st: WindowState, ref: float, event: str | None) -> Signal:
        events = st.events
        start = ref - self.window
        cut = 0
        while cut < len(events) and events[cut][0] < start:
            cut += 1
        if cut:
            del events[:cut]
        st.due = after(events[0][0] + self.window) if events else None
        count = len(events)
        for level, bound in self.tiers:
            if count >= bound:
                values = {"count": count, "window_s": self.window,
                          "event": event or ",".join(self.events)}
                return level, values, event is not None
        return 0, None, False

    def on_event(self, st: WindowState, ts: float, data: Any, msg: Any) -> Signal | None:
        """Count a matching event unless it is older than the window or already counted."""
        if self.where and not passes(self.where, data):
            return None
        newest = max(st.newest, ts)
        if ts < newest - self.window:
            return None
        ident = msg.id
        if any(item[1] == ident for item in st.events):
            return None
        st.newest = newest
        bisect.insort(st.events, (ts, ident))
        return self._level(st, newest, msg.event)

    def on_timer(self, st: WindowState, now: float) -> Signal | None:
        """Events have left the window."""
        return self._level(st, max(now, st.newest), None)

    def dump(self, st: WindowState) -> list[Any]:
        """[due, newest, [ts, id, ts, id, ...]]."""
        return [st.due, _num(st.newest), [item for pair in st.events for item in pair]]

    def load(self, data: list[Any], arg: Any) -> WindowState:
        """The inverse of `dump`."""
        st = WindowState()
        st.due, st.newest = data[0], _inf(data[1])
        flat = data[2]
        st.events = list(zip(flat[::2], flat[1::2], strict=True))
        return st


# ---------------------------------------------------------------------------------------------
# Composite across the devices of one place


class PartsState(State):
    """When each part last occurred in the place, and by which device."""

    __slots__ = ("devices", "last")

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.last: list[float | None] = [None] * parts
        self.devices: list[str | None] = [None] * parts


class CompositeEvaluator(Evaluator):
    """Active while every part occurred within `within_s` of the others (and of now)."""

    def __init__(self, condition: Composite) -> None:
        super().__init__(condition)
        self.parts = condition.parts
        self.within = condition.within_s
        self.level = condition.level

    def new_state(self, arg: Any) -> PartsState:
        """No part seen yet."""
        return PartsState(len(self.parts))

    def part_handler(self, index: int) -> Callable[[PartsState, float, Any, Any], Signal | None]:
        """The handler of one part's input (metric sample or event)."""
        part = self.parts[index]
        if part.event is not None:
            where = part.where

            def matches(value: Any) -> bool:
                return not where or passes(where, value)
        else:
            test, bound = OPERATORS[part.comparator], part.value

            def matches(value: Any) -> bool:
                try:
                    return test(value, bound)
                except TypeError:
                    return False

        def handle(st: PartsState, ts: float, value: Any, msg: Any) -> Signal | None:
            if not matches(value):
                return None
            previous = st.last[index]
            if previous is not None and ts <= previous:
                return None
            st.last[index] = ts
            st.devices[index] = msg.device
            return self._level(st, max(t for t in st.last if t is not None))

        return handle

    def _level(self, st: PartsState, ref: float) -> Signal:
        times = st.last
        if any(t is None for t in times):
            st.due = None
            return 0, None, False
        oldest = min(t for t in times if t is not None)
        if ref - oldest > self.within:
            st.due = None
            return 0, None, False
        st.due = after(oldest + self.within)
        return self.level, {"devices": list(st.devices), "within_s": self.within}, False

    def on_timer(self, st: PartsState, now: float) -> Signal | None:
        """A part has aged out of the window (or not yet)."""
        newest = max((t for t in st.last if t is not None), default=now)
        return self._level(st, max(now, newest))

    def dump(self, st: PartsState) -> list[Any]:
        """[due, last times, devices]."""
        return [st.due, st.last, st.devices]

    def load(self, data: list[Any], arg: Any) -> PartsState:
        """The inverse of `dump`."""
        st = PartsState(len(self.parts))
        st.due, st.last, st.devices = data[0], list(data[1]), list(data[2])
        return st


EVALUATORS: Mapping[str, Callable[[Any], Evaluator]] = {
    "threshold": ThresholdEvaluator, "duration": ThresholdEvaluator, "rate": RateEvaluator,
    "no_data": NoDataEvaluator, "offline": NoDataEvaluator, "event": EventEvaluator,
    "count": CountEvaluator, "composite": CompositeEvaluator,
}


def evaluator(condition: Condition) -> Evaluator:
    """The evaluator of a condition."""
    return EVALUATORS[condition.kind](condition)
