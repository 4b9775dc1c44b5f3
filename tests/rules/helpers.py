"""Helpers of the rule tests: a fixed clock, device contexts, message and rule builders."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from shequ.rules.definitions import Rule, parse_rule
from shequ.rules.engine import Engine
from shequ.rules.outcomes import Outcome
from shequ.rules.places import DeviceContext, Place
from shequ.sensing.readings import Kind, Message

T0 = datetime(2024, 5, 6, 8, 0, 0, tzinfo=UTC)  # a Monday, 16:00 in Shanghai
_ids = itertools.count()


def at(seconds: float) -> datetime:
    """The fixed start time plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def ctx(device: str, device_type: str, *, building: int = 1, floor: int | None = 10,
        room: int | None = 101, **place: Any) -> DeviceContext:
    """A device context in community c1."""
    return DeviceContext(device, device_type, "c1",
                         Place(building=building, floor=floor, room=room, **place))


def sample(context: DeviceContext, seconds: float, received: float | None = None,
           **values: Any) -> Message:
    """A telemetry message at T0 + seconds."""
    ts = at(seconds)
    return Message(id=f"m{next(_ids)}", community=context.community, device=context.device,
                   kind=Kind.TELEMETRY, ts=ts,
                   received_at=at(received) if received is not None else ts, values=values)


def event(context: DeviceContext, seconds: float, key: str, msg_id: str | None = None,
          **values: Any) -> Message:
    """An event message at T0 + seconds."""
    ts = at(seconds)
    return Message(id=msg_id or f"e{next(_ids)}", community=context.community,
                   device=context.device, kind=Kind.EVENT, ts=ts, received_at=ts,
                   values=values, event=key)


def rule(conditions: list[dict[str, Any]] | dict[str, Any], *, types: Iterable[str] = (),
         rule_id: str = "r1", **extra: Any) -> Rule:
    """A validated rule from condition documents and extra top-level fields."""
    doc: dict[str, Any] = {
        "id": rule_id, "version": 1, "name": {"zh": "测试规则", "en": "Test rule"},
        "conditions": conditions if isinstance(conditions, list) else [conditions],
    }
    if types:
        doc["scope"] = {"device_types": list(types)}
    doc.update(extra)
    return parse_rule(doc)


def kinds(outcomes: Iterable[Outcome]) -> list[tuple[str, str]]:
    """(kind, level) of each outcome, for compact assertions."""
    return [(o.kind, o.level) for o in outcomes]


class Feed:
    """An engine plus a recorder of every outcome, for scenario tests."""

    def __init__(self, *rules: Rule) -> None:
        self.engine = Engine(list(rules))
        self.log: list[Outcome] = []

    def send(self, message: Message, context: DeviceContext) -> list[Outcome]:
        """Process one message and record its outcomes."""
        out = self.engine.process(message, context)
        self.log += out
        return out

    def tick(self, seconds: float) -> list[Outcome]:
        """Advance timers to T0 + seconds and record the outcomes."""
        out = self.engine.tick(at(seconds))
        self.log += out
        return out
