"""The platform's verbs: communities, users and roles, log-in sessions, API keys, audit.

Every verb writes its audit entry in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.config import Settings
from shequ.kit.db import utcnow
from shequ.kit.errors import Conflict, Locked, NotFound, Unauthorized, ValidationFailed
from shequ.kit.scope import Principal
from shequ.platform.audit import AuditLog, AuditRecord
from shequ.platform.models import (
    ApiKey,
    Community,
    LoginSession,
    Region,
    RegionLevel,
    Role,
    RoleAssignment,
    ScopeKind,
    User,
)
from shequ.platform.permissions import builtin_roles
from shequ.platform.scoping import (
    Subject,
    forget_roles,
    subject_for_api_key,
    subject_for_user,
)
from shequ.platform.security.passwords import PasswordPolicy, Passwords
from shequ.platform.security.sm import blind_index, same
from shequ.platform.security.tokens import (
    digest_secret,
    issue_access_token,
    new_secret,
    read_access_token,
    split_secret,
)

LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)
SUBJECT_CACHE_S = 5.0


@dataclass(frozen=True)
class TokenPair:
    """What a successful log-in or refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105


@dataclass(frozen=True)
class LoginOutcome:
    """A log-in attempt's result: tokens, or the error to raise after the audit commits."""

    tokens: TokenPair | None = None
    error: Exception | None = None


class PlatformService:
    """Platform verbs bound to the settings (keys, password policy, token lifetimes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.audit_log = AuditLog(settings.audit_key.get_secret_value())
        self.passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.policy = PasswordPolicy(settings.password_min_length, settings.password_min_classes)
        self._secret = settings.secret_key.get_secret_value()
        self._subjects: dict[str, tuple[float, Subject]] = {}

    # -- audit -----------------------------------------------------------------------------

    def record(
        self, session: Session, principal: Principal | None, action: str,
        resource: str | None = None, resource_id: Any = None, community_id: int | None = None,
        before: Any = None, after: Any = None,
    ) -> None:
        """Append an audit entry for a write (the ledger layer's audit sink)."""
        actor_id = principal.actor_id if principal else None
        actor = principal.actor_name if principal else "anonymous"
        self.audit_log.append(session, AuditRecord(
            action, actor_id, actor, resource, resource_id, community_id, before, after))

    # -- roles -----------------------------------------------------------------------------

    def sync_roles(self, session: Session) -> int:
        """Insert or refresh the built-in roles from roles.yaml."""
        count = 0
        for spec in builtin_roles().values():
            role = session.get(Role, spec.code) or Role(code=spec.code)
            role.name_zh, role.name_en, role.family = spec.zh, spec.en, spec.family
            role.permissions, role.scopes, role.builtin = list(spec.permissions), list(
                spec.scopes), True
            session.add(role)
            count += 1
        session.flush()
        forget_roles()
        return count

    # -- tenancy ---------------------------------------------------------------------------

    def create_region(self, session: Session, actor: Principal | None, code: str, name: str,
                      level: RegionLevel, parent_code: str | None = None) -> Region:
        """Add a city, district or street above communities."""
        parent = self._region(session, parent_code) if parent_code else None
        if session.scalar(select(Region.id).where(Region.code == code)):
            raise Conflict(code="resource.duplicate", field="code")
        region = Region(code=code, name=name, level=level, parent_id=parent.id if parent else None)
        session.add(region)
        session.flush()
        self.record(session, actor, "region.create", "regions", region.id, None, None,
                    {"code": code, "name": name, "level": level})
        return region

    def _region(self, session: Session, code: str) -> Region:
        region = session.scalar(select(Region).where(Region.code == code))
        if region is None:
            raise NotFound(code="platform.region_unknown", region=code)
        return region

    def create_community(self, session: Session, actor: Principal | None, code: str, name: str,
                         region_code: str | None = None, address: str | None = None) -> Community:
        """Add a community (tenant)."""
        if session.scalar(select(Community.id).where(Community.code == code)):
            raise Conflict(code="platform.community_exists", community=code)
        region = self._region(session, region_code) if region_code else None
        community = Community(code=code, name=name, address=address,
                              region_id=region.id if region else None)
        session.add(community)
        session.flush()
        self.record(session, actor, "community.create", "communities", community.id,
                    community.id, None, {"code": code, "name": name, "region": region_code})
        return community

    def community(self, session: Session, code: str) -> Community:
        """A community by code; 404 when unknown."""
        found = session.scalar(select(Community).where(Community.code == code))
        if found is None:
            raise NotFound(code="platform.community_unknown", community=code)
        return found

    # -- users -----------------------------------------------------------------------------

    def create_user(
        self, session: Session, actor: Principal | None, username: str, password: str, *,
        display_name: str = "", phone: str | None = None, language: str = "zh-CN",
    ) -> User:
        """Add a user whose password meets the policy."""
        username = username.strip()
        if not username or len(username) > 64:
            raise ValidationFailed(errors=[{"field": "username", "code": "validation.format"}])
        if session.scalar(select(User.id).where(User.username == username)):
            raise Conflict(code="platform.user_exists", username=username)
        self.policy.check(password, username)
        user = User(username=username, display_name=display_name or username,
                    password_hash=self.passwords.hash(password), phone=phone,
                    phone_index=blind_index(phone) if phone else None, language=language)
        session.add(user)
        session.flush()
        self.record(session, actor, "user.create", "users", user.id, None, None,
                    {"username": username, "display_name": user.display_name})
        return user

    def assign_role(
        self, session: Session, actor: Principal | None, user: User, role_code: str,
        scope_kind: ScopeKind, *, community: Community | None = None, scope_id: int | None = None,
    ) -> RoleAssignment:
        """Grant a role within a scope the role allows."""
        role = session.get(Role, role_code)
        if role is None:
            raise ValidationFailed(code="platform.role_unknown", role=role_code)
        if scope_kind.value not in role.scopes:
            raise ValidationFailed(code="platform.scope_not_allowed", role=role_code,
                                   scope=scope_kind.value)
        if scope_kind == ScopeKind.community and community is not None:
            scope_id = community.id
        needs_id = scope_kind != ScopeKind.platform
        if needs_id and scope_id is None:
            raise ValidationFailed(code="platform.scope_missing", scope=scope_kind.value)
        if scope_kind in (ScopeKind.building, ScopeKind.household) and community is None:
            raise ValidationFailed(code="platform.scope_missing", scope="community")
        assignment = RoleAssignment(
            user_id=user.id, role_code=role_code, scope_kind=scope_kind, scope_id=scope_id,
            community_id=community.id if community else None,
        )
        session.add(assignment)
        session.flush()
        session.refresh(user, ["assignments"])
        self.record(session, actor, "user.assign_role", "users", user.id,
                    community.id if community else None, None,
                    {"role": role_code, "scope": scope_kind, "scope_id": scope_id})
        return assignment

    def update_user(self, session: Session, actor: Principal, user: User,
                    changes: dict[str, Any]) -> User:
        """Change a user's name, phone or active flag; disabling ends their sessions."""
        before = {"display_name": user.display_name, "is_active": user.is_active}
        changes = {k: v for k, v in changes.items() if v is not None or k == "phone"}
        for key, value in changes.items():
            setattr(user, key, value)
            if key == "phone":
                user.phone_index = blind_index(value) if value else None
        if changes.get("is_active") is False:
            self._end_sessions(session, user.id)
        session.flush()
        self.record(session, actor, "user.update", "users", user.id, None, before,
                    {k: v for k, v in changes.items() if k != "phone"})
        return user

    def change_password(self, session: Session, subject: Subject, current: str,
                        new: str) -> None:
        """Replace the caller's password after checking the current one and the policy."""
        user = session.get(User, subject.actor_id) if subject.actor_id else None
        if user is None or not self.passwords.verify(user.password_hash, current):
            raise Unauthorized(code="auth.invalid_credentials")
        self.policy.check(new, user.username)
        user.password_hash = self.passwords.hash(new)
        user.password_changed_at = utcnow()
        self._end_sessions(session, user.id, keep=subject.session_id)
        self.record(session, subject, "user.change_password", "users", user.id)

    def _end_sessions(self, session: Session, user_id: int, keep: str | None = None) -> None:
        now = utcnow()
        for login in session.scalars(select(LoginSession).where(
                LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))):
            if login.id != keep:
                login.revoked_at = now
                self._subjects.pop(login.id, None)

    # -- log-in ----------------------------------------------------------------------------

    def login(self, session: Session, username: str, password: str, ip: str | None,
              user_agent: str | None) -> LoginOutcome:
        """Check a password with lockout; audit success and failure alike."""
        user = session.scalar(select(User).where(User.username == username.strip()))
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            self.passwords.verify(None, password)  # same cost as a real check
            self._login_audit(session, user, username, "auth.login_locked")
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            return LoginOutcome(error=Locked(minutes=minutes))
        ok = self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            self._failed(session, user, username, now)
            return LoginOutcome(error=Unauthorized(code="auth.invalid_credentials"))
        if not user.is_active:
            self._login_audit(session, user, username, "auth.login_inactive")
            return LoginOutcome(error=Unauthorized(code="auth.inactive"))
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        if user.password_hash and self.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.passwords.hash(password)
        tokens = self._open_session(session, user, ip, user_agent)
        self._login_audit(session, user, username, "auth.login")
        return LoginOutcome(tokens=tokens)

    def _failed(self, session: Session, user: User | None, username: str,
                now: dt.datetime) -> None:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= self.settings.lockout_threshold:
                user.locked_until = now + dt.timedelta(minutes=self.settings.lockout_minutes)
                user.failed_logins = 0
                self._login_audit(session, user, username, "auth.locked")
        self._login_audit(session, user, username, "auth.login_failed")

    def _login_audit(self, session: Session, user: User | None, username: str,
                     action: str) -> None:
        self.audit_log.append(session, AuditRecord(
            action, user.id if user else None, username[:64], "users",
            user.id if user else None))

    def _open_session(self, session: Session, user: User, ip: str | None,
                      user_agent: str | None) -> TokenPair:
        refresh, lookup = new_secret("rt")
        now = utcnow()
        login = LoginSession(
            id=str(uuid.uuid4()), user_id=user.id, refresh_lookup=lookup,
            refresh_digest=digest_secret(self._secret, refresh), created_at=now,
            last_seen_at=now, expires_at=now + dt.timedelta(days=self.settings.refresh_token_days),
            ip=ip, user_agent=(user_agent or "")[:200] or None,
        )
        session.add(login)
        session.flush()
        return self._pair(user.id, login.id, refresh)

    def _pair(self, user_id: int, session_id: str, refresh: str) -> TokenPair:
        ttl = dt.timedelta(minutes=self.settings.access_token_minutes)
        access = issue_access_token(self._secret, user_id, session_id, ttl)
        return TokenPair(access, refresh, int(ttl.total_seconds()))

    def refresh(self, session: Session, refresh_token: str) -> TokenPair:
        """Rotate a refresh token: the old one stops working."""
        login = self._live_session_for_refresh(session, refresh_token)
        refresh, lookup = new_secret("rt")
        login.refresh_lookup, login.refresh_digest = lookup, digest_secret(self._secret, refresh)
        login.last_seen_at = utcnow()
        session.flush()
        return self._pair(login.user_id, login.id, refresh)

    def _live_session_for_refresh(self, session: Session, token: str) -> LoginSession:
        lookup = split_secret("rt", token)
        login = session.scalar(
            select(LoginSession).where(LoginSession.refresh_lookup == lookup)
        ) if lookup else None
        now = utcnow()
        if (login is None or login.revoked_at is not None or login.expires_at <= now
                or not same(login.refresh_digest, digest_secret(self._secret, token))):
            raise Unauthorized(code="auth.refresh_invalid")
        if login.last_seen_at + self._idle <= now:
            login.revoked_at = now
            raise Unauthorized(code="auth.session_idle")
        return login

    @property
    def _idle(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.idle_timeout_minutes)

    def logout(self, session: Session, subject: Subject) -> None:
        """Revoke the subject's log-in session."""
        if subject.session_id is None:
            return
        self._subjects.pop(subject.session_id, None)
        login = session.get(LoginSession, subject.session_id)
        if login is not None and login.revoked_at is None:
            login.revoked_at = utcnow()
            self.record(session, subject, "auth.logout", "users", subject.actor_id)

    def subject_from_access_token(self, session: Session, token: str) -> tuple[Subject, bool]:
        """The subject of a valid token, and whether its idle clock should be touched.

        A resolved subject is reused for a few seconds per log-in session (SUBJECT_CACHE_S);
        logging out drops it at once in this process, other processes within that time.
        """
        claims = read_access_token(self._secret, token)
        cached = self._subjects.get(claims.session_id)
        now_s = time.monotonic()
        if cached is not None and now_s - cached[0] < SUBJECT_CACHE_S:
            return cached[1], False
        subject, touch = self._load_subject(session, claims.session_id, claims.user_id)
        if len(self._subjects) > 10_000:
            self._subjects.clear()
        self._subjects[claims.session_id] = (now_s, subject)
        return subject, touch

    def _load_subject(self, session: Session, session_id: str,
                      user_id: int) -> tuple[Subject, bool]:
        row = session.execute(
            select(LoginSession, User).join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id == session_id)
        ).first()
        if row is None:
            raise Unauthorized(code="auth.token_invalid")
        login, user = row
        now = utcnow()
        if login.revoked_at is not None or login.user_id != user_id:
            raise Unauthorized(code="auth.session_revoked")
        if login.last_seen_at + self._idle <= now:
            raise Unauthorized(code="auth.session_idle")
        if not user.is_active:
            raise Unauthorized(code="auth.inactive")
        touch = now - login.last_seen_at > LAST_SEEN_RESOLUTION
        return subject_for_user(session, user, login.id), touch

    def touch_session(self, session: Session, session_id: str) -> None:
        """Move a session's idle clock forward."""
        login = session.get(LoginSession, session_id)
        if login is not None:
            login.last_seen_at = utcnow()

    # -- API keys --------------------------------------------------------------------------

    def create_api_key(
        self, session: Session, actor: Principal | None, name: str, permissions: list[str],
        community_ids: list[int] | None, expires_at: dt.datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Issue a key; its secret is shown once and stored only as a digest."""
        secret, lookup = new_secret("sk")
        key = ApiKey(name=name, lookup=lookup, digest=digest_secret(self._secret, secret),
                     permissions=permissions, community_ids=community_ids,
                     created_by=actor.actor_id if actor else None, expires_at=expires_at)
        session.add(key)
        session.flush()
        self.record(session, actor, "api_key.create", "api_keys", key.id, None, None,
                    {"name": name, "permissions": permissions, "communities": community_ids})
        return key, secret

    def revoke_api_key(self, session: Session, actor: Principal | None, key_id: int) -> None:
        """Stop a key from working."""
        key = session.get(ApiKey, key_id)
        if key is None:
            raise NotFound()
        key.revoked_at = utcnow()
        self.record(session, actor, "api_key.revoke", "api_keys", key.id)

    def subject_from_api_key(self, session: Session, secret: str) -> Subject:
        """The subject of a valid, unrevoked, unexpired API key."""
        lookup = split_secret("sk", secret)
        key = session.scalar(select(ApiKey).where(ApiKey.lookup == lookup)) if lookup else None
        now = utcnow()
        if (key is None or key.revoked_at is not None
                or (key.expires_at is not None and key.expires_at <= now)
                or not same(key.digest, digest_secret(self._secret, secret))):
            raise Unauthorized(code="auth.api_key_invalid")
        return subject_for_api_key(key)
