"""Subjects: who is asking, and the scope each of their permissions reaches.

This is the one place where role assignments become row scopes (`Scope`); the generic
ledger layer and every domain query apply them. A resident's grants reach their household.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.kit.errors import Forbidden
from shequ.kit.scope import Scope, ScopeClause
from shequ.platform.models import (
    ApiKey,
    Community,
    Region,
    Role,
    RoleAssignment,
    ScopeKind,
    User,
)
from shequ.platform.permissions import builtin_roles, grants


@dataclass(frozen=True)
class Grant:
    """One role assignment, resolved: its permissions and the clause it reaches."""

    role: str
    permissions: tuple[str, ...]
    kind: ScopeKind
    scope_id: int | None
    clause: ScopeClause


@dataclass
class Subject:
    """An authenticated user or API key (implements `shequ.kit.scope.Principal`)."""

    actor_id: int | None
    actor_name: str
    grants: tuple[Grant, ...]
    kind: str = "user"
    session_id: str | None = None
    _cache: dict[str, Scope] = field(default_factory=dict, repr=False)

    def can(self, permission: str) -> bool:
        """Whether any grant covers the permission."""
        return any(grants(g.permissions, permission) for g in self.grants)

    def require(self, permission: str) -> None:
        """Raise 403 unless the permission is held somewhere."""
        if not self.can(permission):
            raise Forbidden(code="auth.missing_permission", permission=permission)

    def scope_for(self, permission: str) -> Scope:
        """The union of clauses of the grants that cover the permission."""
        cached = self._cache.get(permission)
        if cached is None:
            clauses = [g.clause for g in self.grants if grants(g.permissions, permission)]
            cached = self._cache[permission] = Scope(_merge(clauses))
            return cached
        return cached

    @property
    def roles(self) -> list[str]:
        """The codes of the roles held."""
        return sorted({g.role for g in self.grants})

    @property
    def is_platform_admin(self) -> bool:
        """Whether a platform-wide grant of every permission is held."""
        return any(g.kind == ScopeKind.platform and "*" in g.permissions for g in self.grants)


def _merge(clauses: list[ScopeClause]) -> tuple[ScopeClause, ...]:
    """Fold plain community clauses together; keep narrower ones apart."""
    if any(c.communities is None and c.buildings is None and c.households is None
           for c in clauses):
        return (ScopeClause(None),)
    plain: set[int] = set()
    narrow: dict[tuple[str, int], set[int]] = defaultdict(set)
    rest: list[ScopeClause] = []
    for c in clauses:
        if c.communities is None:
            rest.append(c)
        elif c.buildings is None and c.households is None:
            plain |= c.communities
        elif c.households is None and c.buildings is not None and len(c.communities) == 1:
            narrow[("b", next(iter(c.communities)))] |= c.buildings
        elif c.buildings is None and c.households is not None and len(c.communities) == 1:
            narrow[("h", next(iter(c.communities)))] |= c.households
        else:
            rest.append(c)
    merged = [ScopeClause(frozenset(plain))] if plain else []
    for (kind, cid), keys in sorted(narrow.items()):
        if cid in plain:
            continue
        merged.append(ScopeClause(frozenset({cid}), buildings=frozenset(keys) if kind == "b"
                                  else None, households=frozenset(keys) if kind == "h" else None))
    return tuple(merged + rest)


def _region_communities(session: Session) -> dict[int, set[int]]:
    """Every region id with the communities in its subtree."""
    parents = dict(session.execute(select(Region.id, Region.parent_id)).all())
    result: dict[int, set[int]] = defaultdict(set)
    for cid, region_id in session.execute(select(Community.id, Community.region_id)):
        seen: set[int] = set()
        rid = region_id
        while rid is not None and rid not in seen:
            seen.add(rid)
            result[rid].add(cid)
            rid = parents.get(rid)
    return result


def clause_for(assignment: RoleAssignment, regions: dict[int, set[int]] | None) -> ScopeClause:
    """The clause a single assignment reaches."""
    kind = ScopeKind(assignment.scope_kind)
    if kind == ScopeKind.platform:
        return ScopeClause(None)
    if kind == ScopeKind.region:
        ids = (regions or {}).get(assignment.scope_id or 0, set())
        return ScopeClause(frozenset(ids))
    cid = assignment.community_id
    communities = frozenset({cid}) if cid is not None else frozenset()
    if kind == ScopeKind.building:
        return ScopeClause(communities, buildings=frozenset({assignment.scope_id or 0}))
    if kind == ScopeKind.household:
        return ScopeClause(communities, households=frozenset({assignment.scope_id or 0}))
    return ScopeClause(communities)


def subject_for_user(session: Session, user: User, session_id: str | None = None) -> Subject:
    """Resolve a user's role assignments into grants."""
    roles = _role_permissions(session)
    regions = (
        _region_communities(session)
        if any(a.scope_kind == ScopeKind.region for a in user.assignments)
        else None
    )
    resolved = tuple(
        Grant(
            role=a.role_code,
            permissions=roles.get(a.role_code, ()),
            kind=ScopeKind(a.scope_kind),
            scope_id=a.scope_id,
            clause=clause_for(a, regions),
        )
        for a in user.assignments
    )
    name = user.display_name or user.username
    return Subject(user.id, f"{name} ({user.username})", resolved, session_id=session_id)


def subject_for_api_key(key: ApiKey) -> Subject:
    """An API key's grant: its own permissions over its own communities."""
    communities = None if key.community_ids is None else frozenset(key.community_ids)
    grant = Grant(
        role="api_key",
        permissions=tuple(key.permissions),
        kind=ScopeKind.platform if communities is None else ScopeKind.community,
        scope_id=None,
        clause=ScopeClause(communities),
    )
    return Subject(None, f"api-key:{key.name}", (grant,), kind="api_key")


ROLE_CACHE_SECONDS = 10.0
_role_cache: tuple[float, dict[str, tuple[str, ...]]] | None = None


def _role_permissions(session: Session) -> dict[str, tuple[str, ...]]:
    """Role code → permission patterns, re-read from the database at most every 10 s."""
    global _role_cache  # noqa: PLW0603 - a process-wide cache of a tiny, rarely changed table
    now = time.monotonic()
    if _role_cache is not None and now - _role_cache[0] < ROLE_CACHE_SECONDS:
        return _role_cache[1]
    stored = {code: tuple(perms) for code, perms in session.execute(
        select(Role.code, Role.permissions))}
    for code, spec in builtin_roles().items():
        stored.setdefault(code, spec.permissions)
    _role_cache = (now, stored)
    return stored


def forget_roles() -> None:
    """Drop the role cache (after roles change)."""
    global _role_cache  # noqa: PLW0603
    _role_cache = None


SYSTEM = Subject(None, "system", (Grant("system", ("*",), ScopeKind.platform, None,
                                        ScopeClause(None)),), kind="system")
"""The subject of command-line and internal jobs: everything, audited as `system`."""
