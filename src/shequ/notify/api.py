"""The current user's in-app inbox: list notifications and mark them read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from shequ.api.deps import CurrentSubject, ReadSession, WriteSession
from shequ.kit import features
from shequ.kit.errors import Forbidden
from shequ.kit.i18n import current_language
from shequ.kit.schema import MAX_ID
from shequ.notify import service
from shequ.platform.scoping import Subject

router = APIRouter(prefix="/me/notifications", tags=["notifications"])
features.provide("feature:notifications")


class NotificationRead(BaseModel):
    """One notification in the reader's language."""

    id: int
    key: str
    text: str
    link: str | None
    community_id: int | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class InboxRead(BaseModel):
    """A page of the inbox and the unread count."""

    items: list[NotificationRead]
    unread: int


class MarkedRead(BaseModel):
    """How many notifications were marked read."""

    changed: int


def _user(subject: Subject) -> int:
    if subject.actor_id is None:
        raise Forbidden(code="notify.no_inbox")
    return subject.actor_id


@router.get("", response_model=InboxRead)
def list_notifications(
    subject: CurrentSubject, session: ReadSession,
    unread: bool = False,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The current user's notifications, newest first, with the unread count."""
    return service.inbox(session, _user(subject), current_language(), unread_only=unread,
                         before_id=before_id, limit=limit)


@router.post("/{notification_id}/read", status_code=204, response_class=Response)
def mark_one_read(notification_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                  subject: CurrentSubject, session: WriteSession) -> Response:
    """Mark one of the current user's notifications read."""
    service.mark_read(session, _user(subject), notification_id)
    return Response(status_code=204)


@router.post("/read-all", response_model=MarkedRead)
def mark_all_read(subject: CurrentSubject, session: WriteSession) -> Any:
    """Mark every unread notification of the current user read."""
    return MarkedRead(changed=service.mark_read(session, _user(subject)))
