"""The in-app inbox (站内消息): one row per notification and recipient."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequ.kit.db import Base, BigId, IdMixin, JsonData, utcnow


class Notification(IdMixin, Base):
    """A message to one user: a message key with its parameters, rendered when read."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_desc", "user_id", "id"),
        Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    community_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("communities.id"),
                                                     index=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(80))
    params: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
