"""Delivery channels for notifications, loaded from a registry by name or dotted path.

A sender works in two phases. `stage()` runs inside the writing transaction: it may store
rows (the in-app inbox does) and looks up what delivery needs (a phone number, the
recipient's language), returning rendered messages. `send()` runs only after the
transaction commits and talks to the outside world; a rollback drops it.

Built in: `inapp` (the inbox), `log` (a log line per message), `sms` and `wechat`, whose
gateways are pluggable (`SHEQU_NOTIFY_SMS_GATEWAY`, `SHEQU_NOTIFY_WECHAT_GATEWAY`: dotted
paths of a `TextGateway` class) and log by default. `SHEQU_NOTIFY_CHANNELS` lists the
channels every notification goes through (default `inapp,log`).
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.config import get_settings
from shequ.kit.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from shequ.notify.models import Notification
from shequ.platform.models import User

log = logging.getLogger("shequ.notify")


@dataclass(frozen=True)
class Delivery:
    """One notification for one user: a message key, its parameters and a link."""

    user_id: int
    community_id: int | None
    key: str
    params: Mapping[str, Any]
    link: str | None


@dataclass(frozen=True)
class Outgoing:
    """A rendered message for an outbound channel."""

    user_id: int
    address: str
    language: str
    text: str
    link: str | None


def localise(params: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Parameters for one language: `{"zh-CN": …, "en": …}` values become that language's."""
    return {k: (v.get(lang) or v.get(DEFAULT_LANGUAGE) or "")
            if isinstance(v, Mapping) and set(v) & set(LANGUAGES) else v
            for k, v in params.items()}


def render(key: str, params: Mapping[str, Any], lang: str) -> str:
    """A notification's text in a language."""
    return t(key, lang, **localise(params, lang))


class Sender(abc.ABC):
    """A delivery channel."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def stage(self, session: Session, deliveries: Sequence[Delivery]) -> list[Outgoing]:
        """Inside the transaction: store what must be stored, render what will be sent."""

    @abc.abstractmethod
    def send(self, messages: Sequence[Outgoing]) -> None:
        """After commit: hand the rendered messages to the outside world."""


class InAppSender(Sender):
    """The in-app inbox: one `Notification` row per delivery, in the same transaction."""

    name = "inapp"

    def stage(self, session: Session, deliveries: Sequence[Delivery]) -> list[Outgoing]:
        """Add the inbox rows; nothing is sent later."""
        session.add_all(Notification(user_id=d.user_id, community_id=d.community_id, key=d.key,
                                     params=dict(d.params), link=d.link) for d in deliveries)
        return []

    def send(self, messages: Sequence[Outgoing]) -> None:
        """Nothing: the inbox rows were written with the transaction."""


def _users(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.scalars(select(User).where(User.id.in_(wanted), User.is_active.is_(True)))
    return {user.id: user for user in rows}


class _RenderingSender(Sender):
    """A channel that renders each message in its recipient's language."""

    def address(self, user: User) -> str | None:
        """Where the message goes for this user (None: the user cannot be reached)."""
        return f"user:{user.id}"

    def stage(self, session: Session, deliveries: Sequence[Delivery]) -> list[Outgoing]:
        """Render every message the channel can deliver."""
        users = _users(session, (d.user_id for d in deliveries))
        messages = []
        for delivery in deliveries:
            user = users.get(delivery.user_id)
            address = self.address(user) if user is not None else None
            if user is None or address is None:
                continue
            lang = user.language if user.language in LANGUAGES else DEFAULT_LANGUAGE
            messages.append(Outgoing(user.id, address, lang,
                                     render(delivery.key, delivery.params, lang), delivery.link))
        return messages


class LogSender(_RenderingSender):
    """Writes one log line per message (the default outbound channel)."""

    name = "log"

    def send(self, messages: Sequence[Outgoing]) -> None:
        """Log the messages."""
        for message in messages:
            log.info("notification", extra={"channel": self.name, "user_id": message.user_id,
                                            "text": message.text, "link": message.link})


class TextGateway(Protocol):
    """Something that delivers a short text to an address (an SMS or WeChat provider)."""

    def send(self, address: str, text: str) -> None:
        """Deliver one text."""


class LoggingGateway:
    """A gateway that only logs (the default until a provider is configured)."""

    def __init__(self, channel: str = "text") -> None:
        self.channel = channel

    def send(self, address: str, text: str) -> None:
        """Log the text and a masked address."""
        masked = address[:3] + "****" + address[-4:] if len(address) > 7 else "****"
        log.info("text message", extra={"channel": self.channel, "address": masked,
                                        "text": text})


class _GatewaySender(_RenderingSender):
    """A channel that hands each message to a pluggable `TextGateway`."""

    setting: ClassVar[str] = ""

    def __init__(self, gateway: TextGateway | None = None) -> None:
        path = str(getattr(get_settings(), self.setting, ""))
        self.gateway: TextGateway = gateway or (
            _instantiate(import_object(path)) if path else LoggingGateway(self.name))

    def send(self, messages: Sequence[Outgoing]) -> None:
        """Deliver every message through the gateway."""
        for message in messages:
            self.gateway.send(message.address, message.text)


class SmsSender(_GatewaySender):
    """SMS to the recipient's phone (users without a phone are skipped)."""

    name = "sms"
    setting = "notify_sms_gateway"

    def address(self, user: User) -> str | None:
        """The user's phone number."""
        return user.phone or None


class WeChatSender(_GatewaySender):
    """A WeChat template message; the gateway maps the user to their WeChat identity."""

    name = "wechat"
    setting = "notify_wechat_gateway"


_REGISTRY: dict[str, Callable[[], Sender]] = {
    "inapp": InAppSender, "log": LogSender, "sms": SmsSender, "wechat": WeChatSender,
}


def register_sender(name: str, factory: Callable[[], Sender]) -> None:
    """Make a channel available by name."""
    _REGISTRY[name] = factory
    load_sender.cache_clear()


def import_object(path: str) -> Any:
    """The object at `package.module:attribute` or `package.module.attribute`."""
    module, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"not a dotted path: {path!r}")
    return getattr(importlib.import_module(module), attribute)


def _instantiate(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


@lru_cache(maxsize=32)
def load_sender(name: str) -> Sender:
    """A channel by registered name or dotted path (one instance per process)."""
    factory = _REGISTRY.get(name)
    sender = factory() if factory is not None else _instantiate(import_object(name))
    if not isinstance(sender, Sender):
        raise TypeError(f"{name!r} is not a notification sender")
    return sender


def configured_channels() -> tuple[str, ...]:
    """The channels every notification goes through (`SHEQU_NOTIFY_CHANNELS`)."""
    raw = get_settings().notify_channels
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
