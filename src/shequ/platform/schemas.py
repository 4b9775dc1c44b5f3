"""Pydantic models of the platform API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from shequ.kit.schema import FromRow, Id, StrictInput, partial
from shequ.platform.models import OrganisationKind, RegionLevel, ScopeKind

Strict = StrictInput
Read = FromRow

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9\- ]{4,19}$")]
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_credit_code(code: str) -> str:
    """Validate a unified social credit code (统一社会信用代码, GB 32100) with its check char."""
    code = code.upper()
    if len(code) != 18 or any(c not in CREDIT_CODE_CHARS for c in code):
        raise ValueError("a unified social credit code has 18 characters of 0-9 and A-Y")
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(code, CREDIT_CODE_WEIGHTS,
                                                                strict=False))
    expected = CREDIT_CODE_CHARS[(31 - total % 31) % 31]
    if code[-1] != expected:
        raise ValueError("the check character of the credit code is wrong")
    return code


class LoginRequest(BaseModel):
    """Credentials for `POST /auth/login`."""

    model_config = Strict
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class TokenResponse(BaseModel):
    """Tokens returned by log-in and refresh."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int


class RefreshRequest(BaseModel):
    """A refresh token to rotate."""

    model_config = Strict
    refresh_token: str = Field(min_length=1, max_length=200)


class RoleGrant(BaseModel):
    """One role held, and where."""

    role: str
    name: str
    family: str
    scope_kind: ScopeKind
    scope_id: int | None
    community_id: int | None


class CommunityBrief(BaseModel):
    """A community's identity."""

    model_config = Read
    id: int
    code: str
    name: str


class MeResponse(BaseModel):
    """Who am I: identity, roles with scopes, reachable communities."""

    id: int | None
    username: str
    display_name: str
    kind: str
    roles: list[RoleGrant]
    communities: list[CommunityBrief]
    all_communities: bool
    language: str
    password_expired: bool


class MenuItem(BaseModel):
    """A portal menu entry."""

    key: str
    label: str
    path: str


class MenuGroup(BaseModel):
    """A family of portal menu entries."""

    key: str
    label: str
    items: list[MenuItem]


class CommunityCreate(BaseModel):
    """A new community."""

    model_config = Strict
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    region_code: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)


class CommunityRead(BaseModel):
    """A community."""

    model_config = Read
    id: int
    code: str
    name: str
    region_id: int | None
    address: str | None
    timezone: str
    created_at: dt.datetime


class RegionCreate(BaseModel):
    """A new region above communities."""

    model_config = Strict
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    level: RegionLevel
    parent_code: str | None = Field(default=None, max_length=32)


class RegionRead(BaseModel):
    """A region."""

    model_config = Read
    id: int
    code: str
    name: str
    level: RegionLevel
    parent_id: int | None


class UserCreate(BaseModel):
    """A new user with one role grant."""

    model_config = Strict
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=1, max_length=128)
    display_name: str = Field(default="", max_length=100)
    phone: Phone | None = None
    role: str = Field(min_length=1, max_length=40)
    scope_kind: ScopeKind = ScopeKind.community
    community_id: Id | None = None
    scope_id: Id | None = None


class UserRead(BaseModel):
    """A user as administrators see it (phone masked unless allowed)."""

    model_config = Read
    id: int
    username: str
    display_name: str
    phone: str | None
    is_active: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class UserUpdate(BaseModel):
    """A change to a user: enable or disable, rename, new phone."""

    model_config = Strict
    display_name: str | None = Field(default=None, max_length=100)
    phone: Phone | None = None
    is_active: bool | None = None


class PasswordChange(BaseModel):
    """The current password and a new one meeting the policy."""

    model_config = Strict
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class RoleRead(BaseModel):
    """A role with its translated name, family, scopes and permissions."""

    code: str
    name: str
    family: str
    scopes: list[str]
    permissions: list[str]
    builtin: bool


class ProblemError(BaseModel):
    """One field or row problem inside a problem+json answer."""

    field: str | None = None
    row: int | None = None
    location: str | None = None
    code: str | None = None
    message: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem+json answer with a stable `code` and a translated message."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    request_id: str | None = None
    language: str | None = None
    errors: list[ProblemError] | None = None


class ApiKeyCreate(BaseModel):
    """A new API key for a third-party system."""

    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    permissions: list[Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_*]+:[a-z_*]+)$")]] = (
        Field(min_length=1, max_length=100))
    community_ids: list[Id] = Field(min_length=1, max_length=1000)
    expires_at: dt.datetime | None = None


class ApiKeyRead(BaseModel):
    """An API key without its secret."""

    model_config = Read
    id: int
    name: str
    permissions: list[str]
    community_ids: list[int] | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyRead):
    """A new key: the secret is shown this once."""

    key: str


class AuditEntryRead(BaseModel):
    """One audit entry."""

    model_config = Read
    seq: int
    at: dt.datetime
    actor_id: int | None
    actor: str
    action: str
    resource: str | None
    resource_id: str | None
    community_id: int | None
    ip: str | None
    request_id: str | None
    before: Any
    after: Any


class AuditVerifyRead(BaseModel):
    """The outcome of verifying the audit chain."""

    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None


# -- organisations (parties, 实有单位 basics) -----------------------------------------------------


class OrganisationFields(BaseModel):
    """Fields shared by organisation input models."""

    model_config = Strict
    contact_person: str | None = Field(default=None, max_length=60)
    contact_phone: Phone | None = None
    address: str | None = Field(default=None, max_length=200)
    is_key_unit: bool = False
    notes: str | None = Field(default=None, max_length=2000)
    credit_code: str | None = None

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        return check_credit_code(value) if value else None


class OrganisationCreate(OrganisationFields):
    """A new organisation."""

    community_id: Id | None = None
    name: str = Field(min_length=1, max_length=120)
    kind: OrganisationKind


OrganisationUpdate = partial(OrganisationCreate, "OrganisationUpdate")


class OrganisationRead(BaseModel):
    """An organisation."""

    model_config = Read
    id: int
    community_id: int
    name: str
    kind: OrganisationKind
    credit_code: str | None
    contact_person: str | None
    contact_phone: str | None
    address: str | None
    is_key_unit: bool
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
