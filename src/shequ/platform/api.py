"""Platform routes: log-in, who-am-I, menus, communities, regions, users, API keys, audit."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from shequ.api.deps import CurrentSubject, ReadSession, ServicesDep, WriteSession
from shequ.kit import features
from shequ.kit.db import utcnow
from shequ.kit.errors import Forbidden, NotFound
from shequ.kit.i18n import current_language
from shequ.kit.ledger import MAX_PAGE_SIZE
from shequ.kit.schema import MAX_ID
from shequ.kit.scope import ScopeColumns, scope_filter
from shequ.platform.ledgers import organisations
from shequ.platform.models import (
    ApiKey,
    AuditEntry,
    Community,
    Region,
    Role,
    RoleAssignment,
    ScopeKind,
    User,
)
from shequ.platform.permissions import builtin_roles, grants, menu_for
from shequ.platform.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEntryRead,
    AuditVerifyRead,
    CommunityBrief,
    CommunityCreate,
    CommunityRead,
    LoginRequest,
    MenuGroup,
    MeResponse,
    OrganisationRead,
    PasswordChange,
    RefreshRequest,
    RegionCreate,
    RegionRead,
    RoleGrant,
    RoleRead,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from shequ.platform.scoping import Subject
from shequ.platform.security.fields import mask_phone

router = APIRouter()
for _feature in ("feature:tenancy", "feature:accounts", "feature:audit"):
    features.provide(_feature)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


# -- authentication ----------------------------------------------------------------------------


@router.post("/auth/login", response_model=TokenResponse, tags=["auth"],
             responses={401: {"description": "wrong credentials"},
                        423: {"description": "account locked"},
                        429: {"description": "too many attempts"}})
def login(body: LoginRequest, request: Request, services: ServicesDep) -> Any:
    """Exchange a user name and password for an access token and a refresh token."""
    ip = request.client.host if request.client else "?"
    services.login_limiter.hit(f"ip:{ip}")
    services.login_limiter.hit(f"user:{body.username.lower()}")
    with services.db.write() as session:  # the audit of a failure must commit too
        outcome = services.platform.login(session, body.username, body.password, ip,
                                          request.headers.get("user-agent"))
    if outcome.error is not None:
        raise outcome.error
    assert outcome.tokens is not None
    return outcome.tokens.__dict__


@router.post("/auth/refresh", response_model=TokenResponse, tags=["auth"])
def refresh(body: RefreshRequest, services: ServicesDep) -> Any:
    """Rotate a refresh token for a new pair of tokens."""
    with services.db.write() as session:
        try:
            pair = services.platform.refresh(session, body.refresh_token)
        except Exception:
            session.commit()  # keep an idle session's revocation
            raise
    return pair.__dict__


@router.post("/auth/logout", status_code=204, response_class=Response, tags=["auth"])
def logout(subject: CurrentSubject, services: ServicesDep, session: WriteSession) -> Response:
    """End the current log-in session."""
    services.platform.logout(session, subject)
    return Response(status_code=204)


# -- who am I ----------------------------------------------------------------------------------


@router.get("/me", response_model=MeResponse, tags=["me"])
def me(subject: CurrentSubject, services: ServicesDep, session: ReadSession) -> Any:
    """The current user, roles with their scopes and the communities reachable."""
    lang = current_language()
    specs = builtin_roles()
    roles = []
    for grant in subject.grants:
        spec = specs.get(grant.role)
        name = (spec.zh if lang == "zh-CN" else spec.en) if spec else grant.role
        community = next(iter(grant.clause.communities or ()), None) if (
            grant.clause.communities and len(grant.clause.communities) == 1) else None
        roles.append(RoleGrant(role=grant.role, name=name, family=spec.family if spec else "",
                               scope_kind=grant.kind, scope_id=grant.scope_id,
                               community_id=community))
    reachable = _reachable(subject)
    stmt = select(Community).order_by(Community.code)
    if reachable is not None:
        stmt = stmt.where(Community.id.in_(sorted(reachable)))
    communities = [CommunityBrief.model_validate(c) for c in session.scalars(stmt.limit(1000))]
    user = session.get(User, subject.actor_id) if subject.actor_id else None
    max_age = services.settings.password_max_age_days
    expired = bool(user and max_age and user.password_changed_at
                   + dt.timedelta(days=max_age) < utcnow())
    return MeResponse(
        id=subject.actor_id, username=user.username if user else subject.actor_name,
        display_name=user.display_name if user else subject.actor_name, kind=subject.kind,
        roles=roles, communities=communities, all_communities=reachable is None,
        language=user.language if user else lang, password_expired=expired,
    )


def _reachable(subject: Subject) -> frozenset[int] | None:
    found: set[int] = set()
    for grant in subject.grants:
        if grant.clause.communities is None:
            return None
        found |= grant.clause.communities
    return frozenset(found)


@router.get("/me/menus", response_model=list[MenuGroup], tags=["me"])
def menus(subject: CurrentSubject) -> Any:
    """The unified portal's menu for the current user's roles."""
    return menu_for(subject.can, current_language())


# -- communities and regions -------------------------------------------------------------------

_community_cols = ScopeColumns(community=Community.__table__.c.id, public_within_community=True)


@router.get("/communities", response_model=list[CommunityRead], tags=["tenancy"])
def list_communities(subject: CurrentSubject, session: ReadSession, limit: Limit = 100) -> Any:
    """Communities the user may see."""
    scope = subject.scope_for("communities:read")
    stmt = select(Community).where(scope_filter(scope, _community_cols))
    return session.scalars(stmt.order_by(Community.code).limit(limit)).all()


@router.post("/communities", response_model=CommunityRead, status_code=201, tags=["tenancy"])
def create_community(body: CommunityCreate, subject: CurrentSubject, services: ServicesDep,
                     session: WriteSession) -> Any:
    """Create a community (platform administrators)."""
    _require_everywhere(subject, "communities:create")
    return services.platform.create_community(session, subject, body.code, body.name,
                                              body.region_code, body.address)


def _visible_community(session: Any, subject: Subject, code: str, permission: str) -> Community:
    community = session.scalar(select(Community).where(Community.code == code))
    reach = subject.scope_for(permission).community_ids()
    if community is None or (reach is not None and community.id not in reach):
        raise NotFound(code="platform.community_unknown", community=code[:32])
    return community


@router.get("/communities/{code}/parties", response_model=list[OrganisationRead],
            tags=["tenancy"])
def parties(code: str, subject: CurrentSubject, session: ReadSession) -> Any:
    """The community's parties: committees, property company, service companies (1-1)."""
    community = _visible_community(session, subject, code, "organisations:read")
    stmt = organisations.visible(subject).where(
        organisations.model.community_id == community.id).order_by(organisations.model.kind)
    return [organisations.present(row, subject) for row in session.scalars(stmt.limit(1000))]


@router.get("/regions", response_model=list[RegionRead], tags=["tenancy"])
def list_regions(subject: CurrentSubject, session: ReadSession) -> Any:
    """Regions (city, district, street) above communities."""
    subject.require("regions:read")
    return session.scalars(select(Region).order_by(Region.code).limit(1000)).all()


@router.post("/regions", response_model=RegionRead, status_code=201, tags=["tenancy"])
def create_region(body: RegionCreate, subject: CurrentSubject, services: ServicesDep,
                  session: WriteSession) -> Any:
    """Create a region (platform administrators)."""
    _require_everywhere(subject, "regions:create")
    return services.platform.create_region(session, subject, body.code, body.name, body.level,
                                           body.parent_code)


def _require_everywhere(subject: Subject, permission: str) -> None:
    if not subject.scope_for(permission).unrestricted:
        raise Forbidden(code="auth.missing_permission", permission=permission)


# -- users -------------------------------------------------------------------------------------


@router.get("/users", response_model=list[UserRead], tags=["users"])
def list_users(subject: CurrentSubject, session: ReadSession, limit: Limit = 100,
               community_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Any:
    """Users holding a role in the communities the caller may read users of."""
    scope = subject.scope_for("users:read")
    if scope.empty:
        raise Forbidden(code="auth.missing_permission", permission="users:read")
    stmt = select(User).order_by(User.username).limit(limit)
    reach = scope.community_ids()
    if reach is not None or community_id is not None:
        ids = sorted(reach) if reach is not None else [community_id]
        if community_id is not None:
            ids = [c for c in ids if c == community_id]
        stmt = stmt.where(User.id.in_(select(RoleAssignment.user_id).where(
            RoleAssignment.community_id.in_(ids))))
    personal = subject.can("users:personal")
    return [_user_read(u, personal) for u in session.scalars(stmt)]


def _user_read(user: User, personal: bool) -> UserRead:
    read = UserRead.model_validate(user)
    return read if personal else read.model_copy(update={"phone": mask_phone(read.phone)})


@router.post("/users", response_model=UserRead, status_code=201, tags=["users"])
def create_user(body: UserCreate, subject: CurrentSubject, services: ServicesDep,
                session: WriteSession) -> Any:
    """Create a user with one role; callers may grant only roles and scopes they hold."""
    role = session.get(Role, body.role)
    community = session.get(Community, body.community_id) if body.community_id else None
    _check_grant(subject, role, body.scope_kind, community)
    user = services.platform.create_user(session, subject, body.username, body.password,
                                         display_name=body.display_name, phone=body.phone)
    scope_id = body.scope_id if body.scope_kind != ScopeKind.community else None
    services.platform.assign_role(session, subject, user, body.role, body.scope_kind,
                                  community=community, scope_id=scope_id)
    return _user_read(user, subject.can("users:personal"))


def _check_grant(subject: Subject, role: Role | None, kind: ScopeKind,
                 community: Community | None) -> None:
    """No privilege escalation: the role's permissions and scope must be the caller's own."""
    if subject.is_platform_admin:
        return
    scope = subject.scope_for("users:create")
    if scope.empty:
        raise Forbidden(code="auth.missing_permission", permission="users:create")
    if role is None or kind in (ScopeKind.platform, ScopeKind.region) or community is None:
        raise Forbidden(code="resource.out_of_scope")
    own = [p for g in subject.grants if community.id in (g.clause.communities or ())
           and g.clause.buildings is None and g.clause.households is None
           for p in g.permissions]
    reach = scope.community_ids()
    if (reach is not None and community.id not in reach) or not all(
            grants(own, perm) for perm in role.permissions):
        raise Forbidden(code="resource.out_of_scope")


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
def update_user(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: UserUpdate,
                subject: CurrentSubject, services: ServicesDep, session: WriteSession) -> Any:
    """Enable or disable a user, or change their name or phone."""
    user = session.get(User, user_id)
    scope = subject.scope_for("users:update")
    reach = scope.community_ids()
    communities = {a.community_id for a in user.assignments} if user else set()
    if user is None or scope.empty or (reach is not None and not communities & reach):
        raise NotFound()
    changed = services.platform.update_user(session, subject, user,
                                            body.model_dump(exclude_unset=True))
    return _user_read(changed, subject.can("users:personal"))


@router.post("/me/password", status_code=204, response_class=Response, tags=["me"])
def change_password(body: PasswordChange, subject: CurrentSubject, services: ServicesDep,
                    session: WriteSession) -> Response:
    """Change my password; my other sessions end."""
    services.platform.change_password(session, subject, body.current_password,
                                      body.new_password)
    return Response(status_code=204)


@router.get("/roles", response_model=list[RoleRead], tags=["users"])
def list_roles(subject: CurrentSubject, session: ReadSession) -> Any:
    """Every role with its translated name, family, scopes and permissions."""
    if not subject.can("users:read"):
        raise Forbidden(code="auth.missing_permission", permission="users:read")
    lang = current_language()
    roles = session.scalars(select(Role).order_by(Role.family, Role.code)).all()
    return [RoleRead(code=r.code, name=r.name_zh if lang == "zh-CN" else r.name_en,
                     family=r.family, scopes=r.scopes, permissions=r.permissions,
                     builtin=r.builtin) for r in roles]


# -- API keys ----------------------------------------------------------------------------------


@router.get("/api-keys", response_model=list[ApiKeyRead], tags=["api keys"])
def list_api_keys(subject: CurrentSubject, session: ReadSession) -> Any:
    """API keys (platform administrators)."""
    _require_everywhere(subject, "api_keys:read")
    return session.scalars(select(ApiKey).order_by(ApiKey.id.desc()).limit(1000)).all()


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api keys"])
def create_api_key(body: ApiKeyCreate, subject: CurrentSubject, services: ServicesDep,
                   session: WriteSession) -> Any:
    """Issue an API key for a third-party system; the key is shown once."""
    _require_everywhere(subject, "api_keys:create")
    known = set(session.scalars(select(Community.id).where(Community.id.in_(body.community_ids))))
    missing = sorted(set(body.community_ids) - known)
    if missing:
        raise NotFound(code="platform.community_unknown", community=str(missing[0]))
    key, secret = services.platform.create_api_key(session, subject, body.name,
                                                   body.permissions, body.community_ids,
                                                   body.expires_at)
    return {**ApiKeyRead.model_validate(key).model_dump(), "key": secret}


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response,
               tags=["api keys"])
def revoke_api_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], subject: CurrentSubject,
                   services: ServicesDep, session: WriteSession) -> Response:
    """Revoke an API key."""
    _require_everywhere(subject, "api_keys:delete")
    services.platform.revoke_api_key(session, subject, key_id)
    return Response(status_code=204)


# -- audit -------------------------------------------------------------------------------------

_audit_cols = ScopeColumns(community=AuditEntry.__table__.c.community_id,
                           public_within_community=True)


@router.get("/audit", response_model=list[AuditEntryRead], tags=["audit"])
def audit_entries(
    subject: CurrentSubject, session: ReadSession, limit: Limit = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Any:
    """Audit entries in the caller's communities, newest first."""
    scope = subject.scope_for("audit:read")
    if scope.empty:
        raise Forbidden(code="auth.missing_permission", permission="audit:read")
    stmt = select(AuditEntry).where(scope_filter(scope, _audit_cols))
    if before_seq:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    return session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()


@router.get("/audit/verify", response_model=AuditVerifyRead, tags=["audit"])
def audit_verify(subject: CurrentSubject, services: ServicesDep, session: ReadSession) -> Any:
    """Verify the whole audit chain (platform administrators)."""
    _require_everywhere(subject, "audit:verify")
    result = services.platform.audit_log.verify(session)
    return result.__dict__
