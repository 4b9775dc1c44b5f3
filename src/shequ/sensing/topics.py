"""The MQTT topic scheme: one topic per community, device and channel.

Scheme (version ``v1``)::

    shequ/v1/{community}/{device}/telemetry   device → platform  metric samples
    shequ/v1/{community}/{device}/event       device → platform  events and alarms
    shequ/v1/{community}/{device}/state       device → platform  reported shadow state
    shequ/v1/{community}/{device}/heartbeat   device → platform  liveness
    shequ/v1/{community}/{device}/cmd         platform → device  commands
    shequ/v1/{community}/{device}/cmd/ack     device → platform  command acknowledgements

Identifiers are restricted so that a topic level can never be a wildcard, a separator or a
``$`` system prefix:

- community: ``[a-z0-9][a-z0-9_-]{0,62}`` (the tenant key, lower case);
- device: ``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`` (vendor serials keep their case).

The payload format (native, SensorThings, FIWARE, a vendor's) is a property of the registered
device, not of the topic, so a device can change firmware without changing topics.

The platform subscribes per channel with ``+`` for community and device, optionally as an MQTT 5
shared subscription (``$share/{group}/...``) so several ingest workers split the load. Each
device is granted, through a Mosquitto dynamic-security role, publish rights on its own
uplink topics and subscribe/receive rights on its own ``cmd`` topic only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from shequ.kit.errors import BadRequest

PREFIX = "shequ"
VERSION = "v1"
MAX_TOPIC_LENGTH = 512

COMMUNITY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Channel(StrEnum):
    """The last level(s) of a device topic."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATE = "state"
    HEARTBEAT = "heartbeat"
    CMD = "cmd"
    CMD_ACK = "cmd/ack"

    @property
    def uplink(self) -> bool:
        """Whether devices publish on this channel (everything but commands)."""
        return self is not Channel.CMD


UPLINK: tuple[Channel, ...] = tuple(channel for channel in Channel if channel.uplink)
_CHANNELS = {channel.value: channel for channel in Channel}


class TopicError(BadRequest):
    """A topic that does not follow the scheme; the code says why."""

    code = "sensing.dead_letter.topic_segments"

    def __init__(self, reason: str, **params: Any) -> None:
        code = f"sensing.dead_letter.topic_{reason}"
        super().__init__(f"{reason}: {params}", code=code, **params)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed device topic: community, device and channel (also used for HTTP ingest)."""

    community: str
    device: str
    channel: Channel

    @property
    def topic(self) -> str:
        """The topic string."""
        return f"{PREFIX}/{VERSION}/{self.community}/{self.device}/{self.channel.value}"


def check_community(value: str) -> str:
    """Return a valid community id or raise TopicError."""
    if not isinstance(value, str) or not COMMUNITY_RE.fullmatch(value):
        raise TopicError("community", value=repr(value))
    return value


def check_device(value: str) -> str:
    """Return a valid device id or raise TopicError."""
    if not isinstance(value, str) or not DEVICE_RE.fullmatch(value):
        raise TopicError("device", value=repr(value))
    return value


def format_topic(community: str, device: str, channel: Channel | str) -> str:
    """The topic of one device channel; rejects invalid ids."""
    channel = _channel(str(channel), str(channel))
    return TopicInfo(check_community(community), check_device(device), channel).topic


def _channel(name: str, topic: str) -> Channel:
    found = _CHANNELS.get(name)
    if found is None:
        raise TopicError("channel", topic=topic, channel=name)
    return found


@lru_cache(maxsize=65536)
def parse_topic(topic: str) -> TopicInfo:
    """Parse a publish topic into community, device and channel; TopicError says why not."""
    if len(topic) > MAX_TOPIC_LENGTH:
        raise TopicError("too_long", length=len(topic), limit=MAX_TOPIC_LENGTH)
    if "+" in topic or "#" in topic:
        raise TopicError("wildcard", topic=topic)
    if topic.startswith("$"):
        raise TopicError("reserved", topic=topic)
    levels = topic.split("/")
    if "" in levels:
        raise TopicError("empty_level", topic=topic)
    if len(levels) not in (5, 6):
        raise TopicError("segments", topic=topic, count=len(levels))
    if levels[0] != PREFIX:
        raise TopicError("prefix", topic=topic)
    if levels[1] != VERSION:
        raise TopicError("version", topic=topic, version=levels[1])
    channel = _channel("/".join(levels[4:]), topic)
    return TopicInfo(check_community(levels[2]), check_device(levels[3]), channel)


# ---------------------------------------------------------------------------------------------
# Subscriptions


def check_group(group: str) -> str:
    """Return a valid shared-subscription group name or raise TopicError."""
    if not isinstance(group, str) or not GROUP_RE.fullmatch(group):
        raise TopicError("group", value=repr(group))
    return group


def channel_filter(channel: Channel, community: str | None = None) -> str:
    """The filter matching one channel of every device (of one community, or all)."""
    scope = "+" if community is None else check_community(community)
    return f"{PREFIX}/{VERSION}/{scope}/+/{channel.value}"


def platform_filters(
    community: str | None = None,
    share_group: str | None = None,
    channels: tuple[Channel, ...] = UPLINK,
) -> list[str]:
    """The filters the platform subscribes to, optionally as MQTT 5 shared subscriptions."""
    filters = [channel_filter(channel, community) for channel in channels]
    if share_group is None:
        return filters
    group = check_group(share_group)
    return [f"$share/{group}/{topic_filter}" for topic_filter in filters]


def device_command_topic(community: str, device: str) -> str:
    """The topic a device subscribes to for its commands."""
    return format_topic(community, device, Channel.CMD)


def _levels_match(pattern: str, topic: str) -> bool:
    wanted, levels = pattern.split("/"), topic.split("/")
    for index, part in enumerate(wanted):
        if part == "#":
            return index == len(wanted) - 1
        if index >= len(levels) or part not in ("+", levels[index]):
            return False
    return len(wanted) == len(levels)


def matches(topic_filter: str, topic: str) -> bool:
    """Whether a topic matches a subscription filter (MQTT rules; a $share prefix is stripped)."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) < 3:
            return False
        topic_filter = parts[2]
    if topic.startswith("$") and not topic_filter.startswith("$"):
        return False
    return _levels_match(topic_filter, topic)


# ---------------------------------------------------------------------------------------------
# Access control for Mosquitto's dynamic-security plugin


def device_username(community: str, device: str) -> str:
    """The broker username of a device (unique across communities)."""
    return f"{check_community(community)}:{check_device(device)}"


def device_rolename(community: str, device: str) -> str:
    """The dynamic-security role name holding one device's ACLs."""
    return f"shequ-device:{check_community(community)}:{check_device(device)}"


def _acl(acltype: str, topic: str, priority: int = 0, allow: bool = True) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": priority, "allow": allow}


def device_acls(community: str, device: str) -> list[dict[str, Any]]:
    """A device's ACLs: publish its own uplink topics; subscribe to and receive its own cmd."""
    acls = [_acl("publishClientSend", format_topic(community, device, channel))
            for channel in UPLINK]
    command = device_command_topic(community, device)
    acls.append(_acl("subscribeLiteral", command))
    acls.append(_acl("publishClientReceive", command))
    acls.append(_acl("unsubscribeLiteral", command))
    return acls


def device_role(community: str, device: str) -> dict[str, Any]:
    """The dynamic-security role of one device (body of a ``createRole`` command).

    Literal per-device topics are used rather than ``%c``/``%u`` substitution so that the
    role works on every Mosquitto 2.x release, whatever the client id.
    """
    return {
        "rolename": device_rolename(community, device),
        "textname": f"Shequ device {community}/{device}",
        "acls": device_acls(community, device),
    }


def platform_role(
    name: str = "shequ-platform",
    community: str | None = None,
    share_group: str | None = None,
) -> dict[str, Any]:
    """The role of the platform's ingest/command clients: read uplinks, send commands."""
    filters = platform_filters(community)
    if share_group is not None:
        filters += platform_filters(community, share_group)
    acls = [_acl("subscribePattern", topic_filter) for topic_filter in filters]
    acls += [_acl("unsubscribePattern", topic_filter) for topic_filter in filters]
    acls += [_acl("publishClientReceive", topic_filter) for topic_filter in
             platform_filters(community)]
    acls.append(_acl("publishClientSend", channel_filter(Channel.CMD, community)))
    return {"rolename": name, "textname": "Shequ platform", "acls": acls}


def default_acl_command() -> dict[str, Any]:
    """The ``setDefaultACLAccess`` command: deny everything not granted by a role."""
    return {
        "command": "setDefaultACLAccess",
        "acls": [
            {"acltype": "publishClientSend", "allow": False},
            {"acltype": "publishClientReceive", "allow": False},
            {"acltype": "subscribe", "allow": False},
            {"acltype": "unsubscribe", "allow": True},
        ],
    }


def create_role_command(role: dict[str, Any]) -> dict[str, Any]:
    """Wrap a role as a dynamic-security ``createRole`` command."""
    return {"command": "createRole", **role}


def acl_allows(acls: list[dict[str, Any]], acltype: str, topic: str) -> bool:
    """Whether a role's ACL list allows an action on a topic (default deny), for checks."""
    for acl in sorted(acls, key=lambda item: -int(item.get("priority", 0))):
        if acl["acltype"] != acltype:
            continue
        literal = acltype.endswith("Literal")
        if (acl["topic"] == topic) if literal else _levels_match(acl["topic"], topic):
            return bool(acl["allow"])
    return False
