"""Notification verbs: notify users through the configured channels; read the inbox.

`notify()` is called inside a writing transaction. The in-app inbox rows are written in
that transaction; outbound channels (log, SMS, WeChat) are queued with
`kit.db.after_commit`, so they run only if the transaction commits and are dropped on
rollback. A failing outbound channel is logged and never undoes the committed work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shequ.kit.db import after_commit, utcnow
from shequ.kit.errors import NotFound
from shequ.notify.models import Notification
from shequ.notify.senders import (
    Delivery,
    Outgoing,
    Sender,
    configured_channels,
    load_sender,
    render,
)

log = logging.getLogger("shequ.notify")
MAX_RECIPIENTS = 500


def notify(session: Session, recipients: Iterable[int | None], key: str,
           params: Mapping[str, Any] | None = None, link: str | None = None, *,
           community_id: int | None = None,
           channels: Sequence[str] | None = None) -> int:
    """Notify users (unknown and repeated ids are dropped); returns how many were notified.

    `params` values may be `{"zh-CN": …, "en": …}` labels: each recipient reads their own
    language. `channels` overrides the configured channels for this notification.
    """
    users = sorted({r for r in recipients if r is not None})[:MAX_RECIPIENTS]
    if not users:
        return 0
    deliveries = [Delivery(user, community_id, key, dict(params or {}), link) for user in users]
    for name in channels or configured_channels():
        sender = load_sender(name)
        outgoing = sender.stage(session, deliveries)
        if outgoing:
            after_commit(session, _sending(sender, outgoing))
    return len(users)


def _sending(sender: Sender, messages: list[Outgoing]) -> Any:
    def send() -> None:
        """Deliver, logging a failure instead of raising it after the commit."""
        try:
            sender.send(messages)
        except Exception:
            log.exception("notification channel failed", extra={"channel": sender.name})

    return send


@dataclass(frozen=True)
class InboxItem:
    """A notification as its recipient reads it."""

    id: int
    key: str
    text: str
    link: str | None
    community_id: int | None
    created_at: Any
    read_at: Any


@dataclass(frozen=True)
class Inbox:
    """A page of the inbox and the number of unread notifications."""

    items: list[InboxItem]
    unread: int


def inbox(session: Session, user_id: int, lang: str, *, unread_only: bool = False,
          before_id: int | None = None, limit: int = 50) -> Inbox:
    """The user's notifications, newest first, rendered in `lang`."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    rows = session.scalars(stmt.order_by(Notification.id.desc()).limit(limit))
    items = [InboxItem(n.id, n.key, render(n.key, n.params, lang), n.link, n.community_id,
                       n.created_at, n.read_at) for n in rows]
    unread = session.scalar(select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0
    return Inbox(items, unread)


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (404 unless it is the user's) or all as read; how many changed."""
    stmt = update(Notification).where(Notification.user_id == user_id,
                                      Notification.read_at.is_(None))
    if notification_id is not None:
        own = session.scalar(select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == user_id))
        if own is None:
            raise NotFound()
        stmt = stmt.where(Notification.id == notification_id)
    result = session.execute(stmt.values(read_at=utcnow()).execution_options(
        synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
