"""Row scopes: which communities, buildings or households a principal may touch.

The platform turns role assignments into a `Scope` per permission; the generic ledger layer
turns a `Scope` into one WHERE clause. Nothing else decides visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.sql import and_


@dataclass(frozen=True)
class ScopeClause:
    """One grant's reach: communities (None = all), maybe narrowed to buildings or households."""

    communities: frozenset[int] | None
    buildings: frozenset[int] | None = None
    households: frozenset[int] | None = None


@dataclass(frozen=True)
class Scope:
    """The union of clauses a principal holds for one permission."""

    clauses: tuple[ScopeClause, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the scope reaches nothing."""
        return not self.clauses

    @property
    def unrestricted(self) -> bool:
        """Whether one clause reaches every row."""
        return any(
            c.communities is None and c.buildings is None and c.households is None
            for c in self.clauses
        )

    def community_ids(self) -> frozenset[int] | None:
        """Every community reached (None = all communities)."""
        found: set[int] = set()
        for clause in self.clauses:
            if clause.communities is None:
                return None
            found |= clause.communities
        return frozenset(found)


@dataclass(frozen=True)
class ScopeColumns:
    """Which columns of a table carry the community, building and household keys."""

    community: ColumnElement[int] | None
    building: ColumnElement[int] | None = None
    household: ColumnElement[int] | None = None
    public_within_community: bool = False


def scope_filter(scope: Scope, cols: ScopeColumns) -> ColumnElement[bool]:
    """The WHERE clause that keeps only rows inside `scope`."""
    parts = [p for p in (_clause_filter(c, cols) for c in scope.clauses) if p is not None]
    if not parts:
        return false()
    return or_(*parts) if len(parts) > 1 else parts[0]


def _clause_filter(clause: ScopeClause, cols: ScopeColumns) -> ColumnElement[bool] | None:
    conds: list[ColumnElement[bool]] = []
    if clause.communities is not None:
        if cols.community is None:
            return None
        conds.append(cols.community.in_(sorted(clause.communities)))
    for keys, column in ((clause.buildings, cols.building), (clause.households, cols.household)):
        if keys is None:
            continue
        if column is not None:
            conds.append(column.in_(sorted(keys)))
        elif not cols.public_within_community:
            return None
    return and_(*conds) if conds else true()


def row_in_scope(
    scope: Scope, community: int | None, building: int | None, household: int | None,
    cols: ScopeColumns,
) -> bool:
    """Whether a row with these keys lies inside `scope` (the write-side re-check)."""
    for clause in scope.clauses:
        if clause.communities is not None and community not in clause.communities:
            continue
        if not _narrow_ok(clause.buildings, building, cols.building, cols):
            continue
        if not _narrow_ok(clause.households, household, cols.household, cols):
            continue
        return True
    return False


def _narrow_ok(
    keys: frozenset[int] | None, value: int | None, column: object, cols: ScopeColumns
) -> bool:
    if keys is None:
        return True
    if column is None:
        return cols.public_within_community
    return value in keys


class Principal(Protocol):
    """Who is asking: a user or an API key, with a scope per permission."""

    @property
    def actor_id(self) -> int | None:
        """The user id (None for API keys)."""

    @property
    def actor_name(self) -> str:
        """A readable name for audit trails."""

    def scope_for(self, permission: str) -> Scope:
        """The rows this principal may touch with `permission` (resource:action)."""
