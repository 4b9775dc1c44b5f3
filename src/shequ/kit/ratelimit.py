"""In-process sliding-window rate limiting (per key, e.g. client address + user name)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from shequ.kit.errors import RateLimited


class RateLimiter:
    """At most `limit` events per `window` seconds for each key."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one event; raise 429 with the wait time when over the limit."""
        now = time.monotonic()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._prune(now)
                events = self._events[key] = deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                wait = math.ceil(events[0] + self.window - now)
                raise RateLimited(retry_after=max(wait, 1), extra={"retry_after": max(wait, 1)})
            events.append(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
            del self._events[key]

    def reset(self) -> None:
        """Forget every key (tests and administrators)."""
        with self._lock:
            self._events.clear()
