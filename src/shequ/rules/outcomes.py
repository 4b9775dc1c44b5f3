"""What the engine reports: an alarm raised (or escalated), repeated, or cleared.

One alarm is identified by its rule and de-duplication key (`key`). Its life:

- `Raise` once when it opens (``escalated`` False, ``count`` 1), and again when it escalates
  from pre-warning (预警) to alarm (报警) (``escalated`` True, ``previous_level`` "warning");
- `Repeat` for each new occurrence while it is open (another device joining the same key, a
  matching event, a recurrence during the cool-down), with the running ``count``;
- `Clear` once when it closes: ``reason`` "normal", or "rule_changed"/"rule_removed" when the
  rule set was swapped or restored without its rule, or "rule_reset".

An alarm never de-escalates while open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shequ.kit.i18n import t
from shequ.rules.definitions import Rule
from shequ.rules.places import NOWHERE, Place


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmOutcome:
    """Fields every outcome has: the rule, level, key, the device and place, when, how often."""

    rule_id: str
    rule: Rule | None = field(repr=False)
    level: str
    key: str
    device: str
    device_type: str
    community: str = ""
    place: Place = NOWHERE
    ts: datetime
    count: int = 1
    values: dict[str, Any] = field(default_factory=dict)

    kind = "outcome"

    @property
    def severity(self) -> str:
        """The rule's severity (``major`` when the rule is gone)."""
        return self.rule.severity if self.rule is not None else "major"

    @property
    def linkage(self) -> str | None:
        """The linkage template the rule fires, if any."""
        return self.rule.linkage if self.rule is not None else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form for pushing to consoles and storing."""
        out = {"kind": self.kind, "rule": self.rule_id, "level": self.level, "key": self.key,
               "device": self.device, "device_type": self.device_type,
               "community": self.community, "place": self.place.to_dict(),
               "ts": self.ts.isoformat(), "count": self.count, "values": self.values,
               "severity": self.severity}
        if self.rule is not None:
            out["version"] = self.rule.version
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Raise(AlarmOutcome):
    """An alarm opened, or escalated from pre-warning to alarm."""

    escalated: bool = False
    previous_level: str | None = None

    kind = "raise"


@dataclass(frozen=True, slots=True, kw_only=True)
class Repeat(AlarmOutcome):
    """A new occurrence of an alarm that is already open."""

    kind = "repeat"


@dataclass(frozen=True, slots=True, kw_only=True)
class Clear(AlarmOutcome):
    """An alarm closed: its condition ended (after the cool-down) or its rule changed."""

    reason: str = "normal"

    kind = "clear"


Outcome = Raise | Repeat | Clear


@dataclass(frozen=True)
class RuleError:
    """Why a rule was disabled: the exception raised inside its evaluation, and when."""

    rule_id: str
    version: int
    error: str
    at: datetime | None = None

    def message(self, lang: str | None = None) -> str:
        """The error in words, for operators."""
        return t("rules.error.evaluation", lang, rule=self.rule_id, error=self.error)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {"rule": self.rule_id, "version": self.version, "error": self.error,
                "at": self.at.isoformat() if self.at else None}
