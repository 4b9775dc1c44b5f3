"""Signed access tokens (JWT, HS256) and opaque refresh tokens and API keys."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import jwt

from shequ.kit.errors import Unauthorized
from shequ.platform.security.sm import hmac_sm3

ISSUER = "shequ"


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says: the user and the log-in session."""

    user_id: int
    session_id: str
    expires_at: dt.datetime


def issue_access_token(secret: str, user_id: int, session_id: str, ttl: dt.timedelta) -> str:
    """A short-lived signed token naming the user and session."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": session_id,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_access_token(secret: str, token: str) -> AccessClaims:
    """Verify signature, issuer, type and expiry; raise 401 with a precise code otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "sid", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(code="auth.token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(code="auth.token_invalid") from exc
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise Unauthorized(code="auth.token_invalid")
    return AccessClaims(
        user_id=int(claims["sub"]),
        session_id=str(claims["sid"]),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
    )


def new_secret(prefix: str) -> tuple[str, str]:
    """A random secret `prefix_<lookup>.<secret>` and its lookup part."""
    lookup = secrets.token_hex(6)
    return f"{prefix}_{lookup}.{secrets.token_urlsafe(32)}", lookup


def split_secret(prefix: str, value: str) -> str | None:
    """The lookup part of a secret made by `new_secret`, or None when malformed."""
    head, dot, rest = value.partition(".")
    if not dot or not rest or not head.startswith(prefix + "_"):
        return None
    lookup = head[len(prefix) + 1 :]
    return lookup if len(lookup) == 12 and all(c in "0123456789abcdef" for c in lookup) else None


def digest_secret(key: str, value: str) -> str:
    """The stored form of a refresh token or API key (HMAC-SM3, hex)."""
    return hmac_sm3(key.encode("utf-8"), value.encode("utf-8")).hex()
