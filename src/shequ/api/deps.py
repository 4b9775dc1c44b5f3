"""Typed FastAPI dependencies: services, sessions, the current subject."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from shequ.config import Settings
from shequ.kit.db import Database
from shequ.kit.errors import Unauthorized
from shequ.kit.ratelimit import RateLimiter
from shequ.platform.scoping import Subject
from shequ.platform.service import PlatformService


@dataclass
class Services:
    """What the application holds for its lifetime."""

    settings: Settings
    db: Database
    platform: PlatformService
    login_limiter: RateLimiter


def get_services(request: Request) -> Services:
    """The application's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def read_session(services: ServicesDep) -> Iterator[Session]:
    """A read-only session for the request."""
    with services.db.read() as session:
        yield session


def write_session(services: ServicesDep) -> Iterator[Session]:
    """A session committed after the handler returns and before the response is sent."""
    with services.db.write() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="API key for third-party systems")


def current_subject(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Subject:
    """The authenticated user or API key; 401 with a precise code otherwise."""
    platform = services.platform
    if bearer is not None and bearer.credentials:
        with services.db.read() as session:
            subject, touch = platform.subject_from_access_token(session, bearer.credentials)
        if touch and subject.session_id:
            with services.db.write() as session:
                platform.touch_session(session, subject.session_id)
        return subject
    if api_key:
        with services.db.read() as session:
            return platform.subject_from_api_key(session, api_key)
    raise Unauthorized()


CurrentSubject = Annotated[Subject, Depends(current_subject)]
