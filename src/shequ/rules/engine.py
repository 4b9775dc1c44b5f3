"""The rule engine: consumes device messages and time, returns alarm outcomes.

    engine = Engine(builtin_rules())
    outcomes = engine.process(message, DeviceContext("SMK-1", "smoke_detector", "c1", place))
    outcomes += engine.tick(now)            # no-data, duration, hold and cool-down timers
    saved = engine.snapshot()               # JSON-able; Engine.restore(rules, saved) resumes

Rules are indexed by device type and metric/event key, then by the most selective part of
their scope (device, room, floor, unit, building, facility, zone, facility category,
community), so a message only touches the rules that apply to it. Time is never read from the
clock: samples and events carry their timestamps, timers run on `tick(now)`.

Alarms are de-duplicated per rule and key (`dedup.key`, by default the rule and the subject):
a key raises once, later occurrences are `Repeat`s, pre-warning escalates to alarm with a
second `Raise`, and `Clear` follows when every subject of the key has been normal for the
rule's cool-down. Outside the rule's schedule nothing is raised; a condition still active
when the window opens raises at its next evaluation. Clears are never held back.

An exception inside one rule's evaluation disables that rule only; `errors` says why.
The engine is not thread-safe; `swap` replaces the rule set in one assignment.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any, cast

from shequ.rules import state as persist
from shequ.rules.conditions import (
    CompositeEvaluator,
    CountEvaluator,
    Evaluator,
    EventEvaluator,
    NoDataEvaluator,
    Signal,
    TieredEvaluator,
)
from shequ.rules.definitions import LEVEL_NAMES, Composite, Count, EventMatch, NoData, Rule, RuleSet
from shequ.rules.outcomes import AlarmOutcome, Clear, Outcome, Raise, Repeat, RuleError
from shequ.rules.places import NOWHERE, DeviceContext
from shequ.rules.state import Alarm, RuleRuntime, Subject, epoch
from shequ.sensing.catalogue import Catalogue, default_catalogue
from shequ.sensing.readings import Kind, Message

log = logging.getLogger("shequ.rules")

Handler = Callable[[Any, float, Any, Any], Signal | None]
# Scope attributes by selectivity: a binding is filed under the first one its rule sets.
SELECTORS: tuple[tuple[str, str], ...] = (
    ("device", "device"), ("room", "place.room"), ("floor", "place.floor"),
    ("unit", "place.unit"), ("building", "place.building"), ("facility", "place.facility"),
    ("zone", "place.zone"), ("facility_category", "place.facility_category"),
    ("community", "community"),
)


class Binding:
    """One input a condition listens to: its rule, condition, handler and scope test."""

    __slots__ = ("arg", "check", "cond", "evaluator", "group", "handle", "rt")

    def __init__(self, rt: RuleRuntime, cond: int, handle: Handler, arg: Any = None) -> None:
        self.rt = rt
        self.cond = cond
        self.evaluator: Evaluator = rt.evaluators[cond]
        self.handle = handle
        self.arg = arg
        self.group = self.evaluator.group_by
        scope = rt.rule.scope
        tests = len(scope.place_tests) + (scope.device is not None) + \
            (scope.community is not None)
        self.check: Callable[[DeviceContext], bool] | None = scope.matches if tests > 1 else None


class Bucket:
    """The bindings of one input (type + metric/event), split by their most selective scope."""

    __slots__ = ("anywhere", "tables")

    def __init__(self) -> None:
        self.anywhere: list[Binding] = []
        self.tables: dict[str, tuple[Callable[[DeviceContext], Any], dict[Any, list[Binding]]]]
        self.tables = {}

    def add(self, binding: Binding) -> None:
        """File a binding under its scope's most selective attribute."""
        scope = binding.rt.rule.scope
        for name, path in SELECTORS:
            value = getattr(scope, name)
            if value is not None:
                _, table = self.tables.setdefault(name, (attrgetter(path), {}))
                table.setdefault(value, []).append(binding)
                return
        self.anywhere.append(binding)

    def lookup(self, ctx: DeviceContext) -> list[Binding]:
        """The bindings whose scope may contain this device."""
        if not self.tables:
            return self.anywhere
        found = list(self.anywhere)
        for getter, table in self.tables.values():
            hit = table.get(getter(ctx))
            if hit:
                found.extend(hit)
        return found


class Network:
    """A compiled rule set: runtimes by rule id, the input index and the timer heap."""

    def __init__(self, rules: Iterable[Rule], catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.rules: dict[str, RuleRuntime] = {}
        self.metrics: dict[str, dict[str, Bucket]] = {}
        self.events: dict[str, dict[str, Bucket]] = {}
        self.seen: dict[str, Bucket] = {}
        self.silence: dict[str, list[Binding]] = {}
        self.heap: list[tuple[float, str, int, str, int, RuleRuntime]] = []
        self.seq = 0
        for rule in rules:
            if rule.enabled:
                self.compile(RuleRuntime(rule))

    # --- compiling ---------------------------------------------------------------------------

    def _types(self, rule: Rule, explicit: Iterable[str] = ()) -> list[str]:
        wanted = tuple(explicit) or tuple(sorted(rule.scope.device_types))
        if rule.scope.device_types:
            wanted = tuple(t for t in wanted if t in rule.scope.device_types)
        return [t for t in (wanted or self.catalogue.types) if t in self.catalogue.types]

    def _having(self, rule: Rule, what: str, key: str, explicit: Iterable[str] = ()) -> list[str]:
        index = "metric_index" if what == "metric" else "event_index"
        return [t for t in self._types(rule, explicit)
                if key in getattr(self.catalogue.types[t], index)]

    def _file(self, table: dict[str, dict[str, Bucket]], device_type: str, key: str,
              binding: Binding) -> None:
        table.setdefault(device_type, {}).setdefault(key, Bucket()).add(binding)

    def compile(self, rt: RuleRuntime) -> None:
        """Index every input of a rule's conditions."""
        self.rules[rt.rule.id] = rt
        for index, cond in enumerate(rt.rule.conditions):
            ev = rt.evaluators[index]
            if isinstance(ev, TieredEvaluator):
                for t in self._having(rt.rule, "metric", ev.metric):
                    self._file(self.metrics, t, ev.metric, Binding(rt, index, ev.on_sample))
            elif isinstance(cond, NoData):
                self._silence(rt, index, cast(NoDataEvaluator, ev), cond)
            elif isinstance(cond, Composite):
                self._composite(rt, index, cast(CompositeEvaluator, ev), cond)
            elif isinstance(cond, EventMatch | Count):
                self._events(rt, index, ev, cond)

    def _silence(self, rt: RuleRuntime, index: int, ev: NoDataEvaluator, cond: NoData) -> None:
        types = self._having(rt.rule, "metric", cond.metric) if cond.metric else \
            self._types(rt.rule)
        for t in types:
            delay = cond.after_s or self.catalogue.types[t].heartbeat_timeout_s
            binding = Binding(rt, index, ev.on_message, delay)
            if cond.metric:
                self._file(self.metrics, t, cond.metric, binding)
            else:
                self.seen.setdefault(t, Bucket()).add(binding)
            self.silence.setdefault(t, []).append(binding)

    def _events(self, rt: RuleRuntime, index: int, ev: Evaluator,
                cond: EventMatch | Count) -> None:
        if isinstance(cond, EventMatch):
            hold = cast(EventEvaluator, ev)
            inputs: list[tuple[str, Handler]] = [(cond.event, hold.on_event)]
            if cond.clear_event:
                inputs.append((cond.clear_event, hold.on_clear))
        else:
            inputs = [(event, cast(CountEvaluator, ev).on_event) for event in cond.events]
        for event, handle in inputs:
            for t in self._having(rt.rule, "event", event):
                self._file(self.events, t, event, Binding(rt, index, handle))

    def _composite(self, rt: RuleRuntime, index: int, ev: CompositeEvaluator,
                   cond: Composite) -> None:
        for number, part in enumerate(cond.parts):
            handle = ev.part_handler(number)
            what, key = ("event", part.event) if part.event else ("metric", part.metric)
            table = self.events if part.event else self.metrics
            for t in self._having(rt.rule, what, key or "", part.device_types):
                self._file(table, t, key or "", Binding(rt, index, handle))

    # --- timers ------------------------------------------------------------------------------

    def push(self, due: float, rt: RuleRuntime, slot: int, subject: str, holder: Any) -> None:
        """Queue a timer for a condition state (slot ≥ 0) or an alarm's cool-down (slot −1)."""
        self.seq += 1
        heapq.heappush(self.heap, (due, rt.rule.id, slot, subject, self.seq, rt))
        holder.queued = due

    def requeue_all(self) -> None:
        """Rebuild the timer heap from every state's due time (after a restore or swap)."""
        self.heap.clear()
        for rt in self.rules.values():
            for slot, states in enumerate(rt.states):
                for subject, st in states.items():
                    st.queued = None
                    if st.due is not None:
                        self.push(st.due, rt, slot, subject, st)
            for key, alarm in rt.alarms.items():
                alarm.queued = None
                if alarm.due is not None:
                    self.push(alarm.due, rt, -1, key, alarm)


class Engine:
    """Evaluates a rule set over device messages and time; see the module docstring."""

    def __init__(self, rules: RuleSet | Iterable[Rule], *,
                 catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or default_catalogue()
        self._net = Network(rules, self.catalogue)
        self._contexts: dict[str, DeviceContext] = {}
        self._clock: float | None = None
        self._pending: list[Outcome] = []

    # --- public API ------------------------------------------------------------------------

    @property
    def rules(self) -> list[Rule]:
        """The enabled rules the engine runs."""
        return [rt.rule for rt in self._net.rules.values()]

    @property
    def errors(self) -> Mapping[str, RuleError]:
        """The rules disabled by an exception in their evaluation, with the error."""
        return {rule_id: rt.broken for rule_id, rt in self._net.rules.items() if rt.broken}

    def process(self, message: Message, context: DeviceContext) -> list[Outcome]:
        """Evaluate one validated message of the device described by `context`."""
        net = self._net
        self._contexts[context.key] = context
        out: list[Outcome] = []
        ts = message.ts.timestamp()
        device_type = context.device_type
        if message.kind is Kind.TELEMETRY:
            metrics = net.metrics.get(device_type)
            if metrics is not None:
                for name, value in message.values.items():
                    bucket = metrics.get(name)
                    if bucket is not None:
                        self._feed(bucket, context, ts, value, message, out)
        elif message.kind is Kind.EVENT:
            events = net.events.get(device_type)
            bucket = events.get(message.event or "") if events is not None else None
            if bucket is not None:
                self._feed(bucket, context, ts, message.values, message, out)
        seen = net.seen.get(device_type)
        if seen is not None:
            self._feed(seen, context, ts, None, message, out)
        return out

    def track(self, context: DeviceContext, now: datetime) -> None:
        """Start no-data/offline timers for a device as if heard from at `now` (if never seen)."""
        self._contexts[context.key] = context
        received = now.timestamp()
        for binding in self._net.silence.get(context.device_type, ()):
            rt = binding.rt
            if rt.broken or not rt.rule.scope.matches(context):
                continue
            states = rt.states[binding.cond]
            if context.key in states:
                continue
            silence = cast(NoDataEvaluator, binding.evaluator)
            st = states[context.key] = silence.new_state(binding.arg)
            silence.seen(st, received)
            self._queue(rt, binding.cond, context.key, st)

    def tick(self, now: datetime) -> list[Outcome]:
        """Run every timer due at `now`; a time earlier than the last tick does nothing."""
        when = now.timestamp()
        if self._clock is not None and when < self._clock:
            return []
        self._clock = when
        net, out = self._net, list[Outcome]()
        heap = net.heap
        while heap and heap[0][0] <= when:
            due, rule_id, slot, subject, _, rt = heapq.heappop(heap)
            if net.rules.get(rule_id) is not rt or rt.broken:
                continue
            holder = rt.alarms.get(subject) if slot < 0 else rt.states[slot].get(subject)
            if holder is None or holder.queued != due:
                continue
            holder.queued = None
            if holder.due is None:
                continue
            if holder.due > when:
                net.push(holder.due, rt, slot, subject, holder)
                continue
            self._fire(rt, slot, subject, holder, when, out)
        return out

    def swap(self, rules: RuleSet | Iterable[Rule], now: datetime | None = None) -> list[Outcome]:
        """Replace the rule set at once; unchanged rules keep their state.

        Open alarms of rules that changed (another fingerprint) or disappeared are closed:
        the returned `Clear`s carry reason ``rule_changed`` or ``rule_removed`` and the time
        `now` (default: the last tick).
        """
        net = Network(rules, self.catalogue)
        out: list[Outcome] = []
        when = self._when(now)
        for rule_id, old in self._net.rules.items():
            new = net.rules.get(rule_id)
            if new is not None and new.rule.fingerprint == old.rule.fingerprint:
                new.adopt(old)
                continue
            reason = "rule_removed" if new is None else "rule_changed"
            for alarm in old.alarms.values():
                if alarm.raised:
                    out.append(self._closed(old.rule.id, old.rule, alarm, when, reason))
        net.requeue_all()
        self._net = net
        return out

    def reset(self, rule_id: str, now: datetime | None = None) -> list[Outcome]:
        """Re-enable a rule (e.g. one disabled by an error), forgetting its state.

        Its open alarms are closed with reason ``rule_reset``.
        """
        rt = self._net.rules.get(rule_id)
        if rt is None:
            return []
        when = self._when(now)
        out: list[Outcome] = [self._closed(rule_id, rt.rule, alarm, when, "rule_reset")
                              for alarm in rt.alarms.values() if alarm.raised]
        rt.reset()
        return out

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as a JSON-able snapshot (see `shequ.rules.state`)."""
        return persist.dump(self._net.rules, self._contexts, self._clock)

    @classmethod
    def restore(cls, rules: RuleSet | Iterable[Rule], snapshot: Mapping[str, Any], *,
                catalogue: Catalogue | None = None, now: datetime | None = None) -> Engine:
        """An engine resuming from a snapshot; `take_pending()` has the alarms it had to close.

        Those `Clear`s are stamped `now` (default: the snapshot's last tick).
        """
        engine = cls(rules, catalogue=catalogue)
        restored = persist.load(snapshot, engine._net.rules)
        engine._contexts = restored.contexts
        engine._clock = restored.clock
        when = engine._when(now)
        engine._pending = [engine._closed(rule_id, rule, alarm, when, reason)
                           for rule_id, rule, alarm, reason in restored.dropped]
        engine._net.requeue_all()
        return engine

    def _when(self, now: datetime | None) -> float:
        """Epoch seconds of `now`, else of the last tick, else 0."""
        if now is not None:
            return now.timestamp()
        return self._clock if self._clock is not None else 0.0

    def take_pending(self) -> list[Outcome]:
        """The outcomes produced outside `process`/`tick` (by `restore`), once."""
        pending, self._pending = self._pending, []
        return pending

    def open_alarms(self) -> list[dict[str, Any]]:
        """Every open alarm: rule, key, level, count, device and when it opened."""
        return [{"rule": rule_id, "key": alarm.key, "level": LEVEL_NAMES[alarm.raised],
                 "count": alarm.count, "device": alarm.device,
                 "opened": None if alarm.opened is None else epoch(alarm.opened)}
                for rule_id, rt in self._net.rules.items()
                for alarm in rt.alarms.values() if alarm.raised]

    # --- evaluation --------------------------------------------------------------------------

    def _feed(self, bucket: Bucket, ctx: DeviceContext, ts: float, value: Any, msg: Message,
              out: list[Outcome]) -> None:
        for binding in bucket.lookup(ctx):
            rt = binding.rt
            if rt.broken is not None or (binding.check is not None and not binding.check(ctx)):
                continue
            subject = ctx.key if binding.group == "device" else ctx.group(binding.group)
            if subject is None:
                continue
            try:
                states = rt.states[binding.cond]
                st = states.get(subject)
                if st is None:
                    st = states[subject] = binding.evaluator.new_state(binding.arg)
                signal = binding.handle(st, ts, value, msg)
                self._queue(rt, binding.cond, subject, st)
                if signal is not None:
                    self._apply(rt, binding.cond, subject, ctx.key, signal, ts, out)
            except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
                self._break(rt, exc, ts)

    def _fire(self, rt: RuleRuntime, slot: int, subject: str, holder: Any, when: float,
              out: list[Outcome]) -> None:
        try:
            if slot < 0:
                if not holder.subjects:
                    self._clear(rt, holder, when, out)
                return
            signal = rt.evaluators[slot].on_timer(holder, when)
            self._queue(rt, slot, subject, holder)
            if signal is not None:
                self._apply(rt, slot, subject, None, signal, when, out)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
            self._break(rt, exc, when)

    def _queue(self, rt: RuleRuntime, slot: int, subject: str, holder: Any) -> None:
        due = holder.due
        if due is not None and (holder.queued is None or due < holder.queued):
            self._net.push(due, rt, slot, subject, holder)

    def _apply(self, rt: RuleRuntime, cond: int, subject: str, device: str | None,
               signal: Signal, ts: float, out: list[Outcome]) -> None:
        level, values, occurrence = signal
        item = rt.subjects.get(subject)
        if item is None:
            if not level:
                return
            owner = device or subject
            item = rt.subjects[subject] = Subject(len(rt.evaluators), owner,
                                                  rt.alarm_key(subject, self._contexts.get(owner)))
        elif item.levels[cond] == level and not occurrence:
            alarm = rt.alarms.get(item.key)
            if not item.combined or alarm is None or alarm.raised >= item.combined:
                return
        if device is not None:
            item.device = device
        item.levels[cond] = level
        if level and values is not None:
            item.values = values
        before = item.combined
        item.combined = min(item.levels) if rt.match_all else max(item.levels)
        if not item.combined:
            self._leave(rt, subject, item, ts, out)
            return
        alarm = rt.alarms.get(item.key)
        if alarm is None:
            alarm = rt.alarms[item.key] = Alarm(item.key)
        alarm.subjects[subject] = item.combined
        alarm.due = None
        self._settle(rt, alarm, item, occurrence or not before, ts, out)

    def _leave(self, rt: RuleRuntime, subject: str, item: Subject, ts: float,
               out: list[Outcome]) -> None:
        """A subject went back to normal: the alarm closes once all its subjects have."""
        if not any(item.levels):
            del rt.subjects[subject]
        alarm = rt.alarms.get(item.key)
        if alarm is None or alarm.subjects.pop(subject, None) is None or alarm.subjects:
            return
        if not alarm.raised:
            del rt.alarms[alarm.key]
        elif rt.cooldown <= 0:
            self._clear(rt, alarm, ts, out)
        else:
            alarm.due = ts + rt.cooldown
            self._queue(rt, -1, alarm.key, alarm)

    def _settle(self, rt: RuleRuntime, alarm: Alarm, item: Subject, fresh: bool, ts: float,
                out: list[Outcome]) -> None:
        """Raise, escalate or count a repeat, as the schedule allows."""
        desired = max(alarm.subjects.values())
        if desired > alarm.raised and rt.gate(ts):
            previous = alarm.raised
            alarm.raised = desired
            if not previous:
                alarm.count, alarm.device, alarm.opened = 1, item.device, ts
            elif fresh:
                alarm.count += 1
            alarm.values = item.values
            out.append(self._outcome(
                Raise, rt.rule.id, rt.rule, alarm, item.device, ts, item.values,
                escalated=bool(previous),
                previous_level=LEVEL_NAMES[previous] if previous else None))
        elif fresh and alarm.raised:
            alarm.count += 1
            out.append(self._outcome(Repeat, rt.rule.id, rt.rule, alarm, item.device, ts,
                                     item.values))

    def _clear(self, rt: RuleRuntime, alarm: Alarm, ts: float, out: list[Outcome]) -> None:
        del rt.alarms[alarm.key]
        out.append(self._closed(rt.rule.id, rt.rule, alarm, ts, "normal"))

    def _closed(self, rule_id: str, rule: Rule | None, alarm: Alarm, ts: float,
                reason: str) -> Clear:
        outcome = self._outcome(Clear, rule_id, rule, alarm, alarm.device, ts, alarm.values,
                                reason=reason)
        assert isinstance(outcome, Clear)
        return outcome

    def _outcome(self, cls: type[AlarmOutcome], rule_id: str, rule: Rule | None, alarm: Alarm,
                 device: str, ts: float, values: dict[str, Any] | None,
                 **extra: Any) -> Outcome:
        ctx = self._contexts.get(device)
        community, _, code = device.partition("/")
        made = cls(
            rule_id=rule_id, rule=rule, level=LEVEL_NAMES[alarm.raised], key=alarm.key,
            device=ctx.device if ctx else code, device_type=ctx.device_type if ctx else "",
            community=ctx.community if ctx else community,
            place=ctx.place if ctx else NOWHERE,
            ts=epoch(ts), count=alarm.count, values=dict(values or {}), **extra)
        assert isinstance(made, Raise | Repeat | Clear)
        return made

    def _break(self, rt: RuleRuntime, exc: Exception, ts: float) -> None:
        """Disable a rule whose evaluation raised, recording the error."""
        rt.broken = RuleError(rt.rule.id, rt.rule.version, f"{type(exc).__name__}: {exc}",
                              epoch(ts))
        log.warning("rule disabled after an error",
                    extra={"rule": rt.rule.id, "error": rt.broken.error}, exc_info=exc)
