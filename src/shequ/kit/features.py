"""A registry of installed features, so menus and metadata show only what exists."""

from __future__ import annotations

_provided: set[str] = set()


def provide(name: str) -> None:
    """Declare that a feature (e.g. `ledger:organisations`) is installed."""
    _provided.add(name)


def provided(name: str) -> bool:
    """Whether a feature is installed."""
    return name in _provided
