"""Error classes: each carries its HTTP status, a stable code and a translated user message.

The code doubles as the message key in the i18n catalogue. One handler in `shequ.api`
renders them as RFC 9457 problem+json.
"""

from __future__ import annotations

from typing import Any

from shequ.kit.i18n import t


class ShequError(Exception):
    """Base class of every expected error; never a 500."""

    status = 400
    code = "request.bad"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.internal = detail
        if code is not None:
            self.code = code
        self.params = params
        self.errors = errors or []
        self.extra = extra or {}
        super().__init__(detail or self.code)

    def user_message(self, lang: str | None = None) -> str:
        """The message for the user, in the request's language."""
        return t(self.code, lang, **self.params)


class BadRequest(ShequError):
    """The request is malformed."""

    status = 400
    code = "request.bad"


class Unauthorized(ShequError):
    """No valid credentials."""

    status = 401
    code = "auth.required"


class Forbidden(ShequError):
    """Authenticated but not allowed."""

    status = 403
    code = "auth.forbidden"


class NotFound(ShequError):
    """Nothing visible with that id."""

    status = 404
    code = "resource.not_found"


class Conflict(ShequError):
    """The change conflicts with the current state."""

    status = 409
    code = "resource.conflict"


class PayloadTooLarge(ShequError):
    """The body is larger than allowed."""

    status = 413
    code = "request.too_large"


class ValidationFailed(ShequError):
    """The input is well-formed but not valid."""

    status = 422
    code = "request.invalid"


class Locked(ShequError):
    """The account is locked."""

    status = 423
    code = "auth.locked"


class RateLimited(ShequError):
    """Too many requests."""

    status = 429
    code = "request.rate_limited"


class ServiceUnavailable(ShequError):
    """A dependency is down."""

    status = 503
    code = "service.unavailable"
