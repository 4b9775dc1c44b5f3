"""Events this package emits: a watch-list hit (布控命中), sent after the pass commits.

The rules and alarm pipeline subscribes with `subscribe(callback)`; `emit_hit()` queues the
event with `shequ.kit.db.after_commit`, so a rolled-back pass raises nothing. A subscriber
that fails is logged and does not stop the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from shequ.kit.db import after_commit

log = logging.getLogger("shequ.access.events")
TOPIC = "access.watchlist_hit"


@dataclass(frozen=True)
class WatchlistHitEvent:
    """A watched person or plate passed a door (6.5.8.b, 6.6.9.e)."""

    community_id: int
    hit_id: int
    watchlist_id: int
    pass_record_id: int
    kind: str
    level: str
    person_id: int | None
    plate: str | None
    door_id: int | None
    device_id: int | None
    direction: str
    occurred_at: dt.datetime

    def as_message(self) -> dict[str, Any]:
        """The event as a JSON-ready message on `TOPIC`."""
        return {"topic": TOPIC, **asdict(self), "occurred_at": self.occurred_at.isoformat()}


Subscriber = Callable[[WatchlistHitEvent], None]
_subscribers: list[Subscriber] = []


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Receive every watch-list hit after its transaction commits; returns an unsubscribe."""
    _subscribers.append(callback)
    return lambda: _subscribers.remove(callback)


def emit_hit(session: Session, event: WatchlistHitEvent) -> None:
    """Send the event to every subscriber once the session commits."""
    after_commit(session, lambda: _publish(event))


def _publish(event: WatchlistHitEvent) -> None:
    for callback in list(_subscribers):
        try:
            callback(event)
        except Exception:  # one failing subscriber must not stop the rest
            log.exception("watch-list hit subscriber failed", extra={"hit": event.hit_id})
