"""Per-request context (request id, client address) carried by context variables."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where a request or command came from."""

    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


_ctx = contextvars.ContextVar("request_context", default=RequestContext())


def set_context(ctx: RequestContext) -> contextvars.Token[RequestContext]:
    """Set the context of the current request or command."""
    return _ctx.set(ctx)


def reset_context(token: contextvars.Token[RequestContext]) -> None:
    """Restore the previous context."""
    _ctx.reset(token)


def current_context() -> RequestContext:
    """The context of the current request or command."""
    return _ctx.get()
