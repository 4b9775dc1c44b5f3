"""Tenancy, accounts, roles, sessions, API keys and the audit chain (6.2.6, 6.8.2, 6.9)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shequ.kit.db import (
    Base,
    BigId,
    IdMixin,
    JsonData,
    LedgerBase,
    TimestampMixin,
    live_index,
    utcnow,
)
from shequ.platform.security.fields import BlindIndex, EncryptedText


class RegionLevel(enum.StrEnum):
    """Administrative level above communities (guide 4.4 mode b)."""

    province = "province"
    city = "city"
    district = "district"
    street = "street"


class Region(IdMixin, TimestampMixin, Base):
    """A city, district or street (街道) that groups communities."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[RegionLevel] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("regions.id"), index=True)


class Community(IdMixin, TimestampMixin, Base):
    """A community (社区), the tenant every business row belongs to."""

    __tablename__ = "communities"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("regions.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")


class OrganisationKind(enum.StrEnum):
    """The parties of a community (requirement 1-1) and other organisations."""

    property_company = "property_company"
    residents_committee = "residents_committee"
    owners_committee = "owners_committee"
    street_office = "street_office"
    service_company = "service_company"
    commercial_company = "commercial_company"
    key_unit = "key_unit"
    government = "government"
    other = "other"


class Organisation(LedgerBase, Base):
    """An organisation taking part in the community: property company, committees, services."""

    __tablename__ = "organisations"
    __table_args__ = (
        UniqueConstraint("community_id", "name", name="uq_organisations_community_name"),
        live_index("ix_organisations_community_kind", "community_id", "kind", "created_at"),
        live_index("ix_organisations_community_created", "community_id", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[OrganisationKind] = mapped_column(String(32))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    contact_person: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(EncryptedText)
    address: Mapped[str | None] = mapped_column(String(200))
    is_key_unit: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str | None] = mapped_column(Text)


class User(IdMixin, TimestampMixin, Base):
    """A person or system that logs in: staff, officers, providers and residents."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(BlindIndex, index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Role(Base):
    """A role: a named set of permissions (resource:action). Built-ins come from roles.yaml."""

    __tablename__ = "roles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    family: Mapped[str] = mapped_column(String(32))
    builtin: Mapped[bool] = mapped_column(default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)


class ScopeKind(enum.StrEnum):
    """How far a role assignment reaches."""

    platform = "platform"
    region = "region"
    community = "community"
    building = "building"
    household = "household"


class RoleAssignment(IdMixin, Base):
    """A role given to a user within a scope (platform, region, community, building, household)."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "role_code", "scope_kind", "scope_id", name="uq_assignment"),
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    role_code: Mapped[str] = mapped_column(String(40), ForeignKey("roles.code"))
    scope_kind: Mapped[ScopeKind] = mapped_column(String(16))
    scope_id: Mapped[int | None] = mapped_column(BigId)
    community_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("communities.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="assignments")


class LoginSession(Base):
    """One log-in: the refresh token's digest, idle tracking and revocation."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    refresh_lookup: Mapped[str] = mapped_column(String(12), unique=True)
    refresh_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class ApiKey(IdMixin, TimestampMixin, Base):
    """A key for a third-party system, with its own permissions and communities."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    lookup: Mapped[str] = mapped_column(String(12), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    community_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """One append-only audit record, chained to the previous one by HMAC-SM3."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_community_at", "community_id", "at"),
        Index("ix_audit_log_actor_at", "actor_id", "at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(80), index=True)
    resource: Mapped[str | None] = mapped_column(String(60))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    community_id: Mapped[int | None] = mapped_column(BigId)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any | None] = mapped_column(JsonData)
    after: Mapped[Any | None] = mapped_column(JsonData)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head (one row): the lock writers take and the tail that verify checks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId, default=0)
    hash: Mapped[str] = mapped_column(String(64))
