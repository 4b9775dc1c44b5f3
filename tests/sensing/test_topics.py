"""The MQTT topic scheme: parsing, formatting, subscriptions and device ACLs."""

from __future__ import annotations

import pytest

from shequ.kit import i18n
from shequ.sensing.topics import (
    UPLINK,
    Channel,
    TopicError,
    TopicInfo,
    acl_allows,
    create_role_command,
    default_acl_command,
    device_acls,
    device_role,
    device_username,
    format_topic,
    matches,
    parse_topic,
    platform_filters,
    platform_role,
)


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channel_round_trips(channel: Channel) -> None:
    topic = format_topic("c1", "Dev_1.a-b", channel)
    assert topic == f"shequ/v1/c1/Dev_1.a-b/{channel.value}"
    assert parse_topic(topic) == TopicInfo("c1", "Dev_1.a-b", channel)
    assert parse_topic(topic).topic == topic


def test_cmd_ack_is_two_levels() -> None:
    info = parse_topic("shequ/v1/sunny-garden/lamp-0007/cmd/ack")
    assert info.channel is Channel.CMD_ACK
    assert not Channel.CMD.uplink and Channel.CMD_ACK.uplink


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("shequ/v1/c1/dev/+", "wildcard"),
        ("shequ/v1/c1/+/telemetry", "wildcard"),
        ("shequ/v1/#", "wildcard"),
        ("shequ/v1/c1/de#v/telemetry", "wildcard"),
        ("$SYS/broker/uptime", "reserved"),
        ("$share/g/shequ/v1/c1/d/telemetry", "reserved"),
        ("/shequ/v1/c1/dev/telemetry", "empty_level"),
        ("shequ/v1/c1/dev/telemetry/", "empty_level"),
        ("shequ/v1/c1//telemetry", "empty_level"),
        ("", "empty_level"),
        ("shequ/v1/c1/telemetry", "segments"),
        ("shequ/v1/c1/dev/cmd/ack/extra", "segments"),
        ("shequ/v1/c1/dev/a/b/c/d", "segments"),
        ("other/v1/c1/dev/telemetry", "prefix"),
        ("shequ/v2/c1/dev/telemetry", "version"),
        ("shequ/v1/C1/dev/telemetry", "community"),
        ("shequ/v1/-c1/dev/telemetry", "community"),
        ("shequ/v1/社区/dev/telemetry", "community"),
        ("shequ/v1/" + "c" * 64 + "/dev/telemetry", "community"),
        ("shequ/v1/c1/dev 1/telemetry", "device"),
        ("shequ/v1/c1/.dev/telemetry", "device"),
        ("shequ/v1/c1/dev\x00/telemetry", "device"),
        ("shequ/v1/c1/dev:1/telemetry", "device"),
        ("shequ/v1/c1/" + "d" * 129 + "/telemetry", "device"),
        ("shequ/v1/c1/dev/telemetri", "channel"),
        ("shequ/v1/c1/dev/cmd/nack", "channel"),
        ("shequ/v1/c1/dev/ack/cmd", "channel"),
        ("shequ/v1/c1/" + "d" * 600 + "/telemetry", "too_long"),
    ],
)
def test_malformed_topics_are_refused_with_a_reason(topic: str, reason: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.reason == reason
    assert info.value.code == f"sensing.dead_letter.topic_{reason}"
    assert i18n.has(info.value.code)
    assert info.value.user_message("en") != info.value.code
    assert info.value.status == 400


@pytest.mark.parametrize(("community", "device"), [("C1", "d"), ("c1", "+"), ("c1", "a/b"),
                                                   ("", "d"), ("c1", "")])
def test_formatting_refuses_bad_ids(community: str, device: str) -> None:
    with pytest.raises(TopicError):
        format_topic(community, device, Channel.TELEMETRY)


def test_formatting_refuses_unknown_channels() -> None:
    with pytest.raises(TopicError) as info:
        format_topic("c1", "d1", "telemetri")
    assert info.value.reason == "channel"


def test_platform_filters_cover_uplinks_only() -> None:
    filters = platform_filters()
    assert filters == [f"shequ/v1/+/+/{channel.value}" for channel in UPLINK]
    assert "shequ/v1/+/+/cmd" not in filters
    cmd = format_topic("c1", "d1", Channel.CMD)
    assert not any(matches(item, cmd) for item in filters)
    for channel in UPLINK:
        topic = format_topic("c9", "d9", channel)
        assert [item for item in filters if matches(item, topic)] == [
            f"shequ/v1/+/+/{channel.value}"]


def test_shared_and_community_scoped_filters() -> None:
    shared = platform_filters(share_group="ingest")
    assert shared[0] == "$share/ingest/shequ/v1/+/+/telemetry"
    assert matches(shared[0], "shequ/v1/c1/d1/telemetry")
    scoped = platform_filters(community="c1", share_group="ingest")
    assert matches(scoped[0], "shequ/v1/c1/d1/telemetry")
    assert not matches(scoped[0], "shequ/v1/c2/d1/telemetry")
    with pytest.raises(TopicError):
        platform_filters(share_group="in/gest")
    with pytest.raises(TopicError):
        platform_filters(share_group="+")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("$share/g/a/+", "a/b", True),
        ("$share/g", "a", False),
    ],
)
def test_filter_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected


def test_device_may_publish_only_its_own_uplinks() -> None:
    acls = device_acls("c1", "d1")
    for channel in UPLINK:
        assert acl_allows(acls, "publishClientSend", format_topic("c1", "d1", channel))
        assert not acl_allows(acls, "publishClientSend", format_topic("c1", "d2", channel))
        assert not acl_allows(acls, "publishClientSend", format_topic("c2", "d1", channel))
    assert not acl_allows(acls, "publishClientSend", format_topic("c1", "d1", Channel.CMD))
    assert not acl_allows(acls, "publishClientSend", "shequ/v1/c1/d1/#")


def test_device_may_subscribe_only_to_its_own_commands() -> None:
    acls = device_acls("c1", "d1")
    own = format_topic("c1", "d1", Channel.CMD)
    assert acl_allows(acls, "subscribeLiteral", own)
    assert acl_allows(acls, "publishClientReceive", own)
    for other in ("shequ/v1/c1/+/cmd", "shequ/v1/c1/d2/cmd", "shequ/v1/#",
                  format_topic("c1", "d1", Channel.TELEMETRY)):
        assert not acl_allows(acls, "subscribeLiteral", other)
        assert not acl_allows(acls, "publishClientReceive", other)
    assert all(acl["acltype"] != "subscribePattern" for acl in acls)


def test_device_role_is_a_dynsec_role() -> None:
    role = device_role("c1", "d1")
    assert role["rolename"] == "shequ-device:c1:d1"
    assert {acl["acltype"] for acl in role["acls"]} == {
        "publishClientSend", "subscribeLiteral", "publishClientReceive", "unsubscribeLiteral"}
    for acl in role["acls"]:
        assert set(acl) == {"acltype", "topic", "priority", "allow"}
        assert "+" not in acl["topic"] and "#" not in acl["topic"]
    command = create_role_command(role)
    assert command["command"] == "createRole" and command["acls"] == role["acls"]
    assert device_username("c1", "d1") == "c1:d1"
    with pytest.raises(TopicError):
        device_role("c1", "d/1")


def test_platform_role_reads_uplinks_and_sends_commands() -> None:
    acls = platform_role(share_group="ingest")["acls"]
    assert acl_allows(acls, "subscribePattern", "shequ/v1/+/+/telemetry")
    assert acl_allows(acls, "subscribePattern", "$share/ingest/shequ/v1/+/+/event")
    assert acl_allows(acls, "publishClientSend", "shequ/v1/c1/d1/cmd")
    assert not acl_allows(acls, "publishClientSend", "shequ/v1/c1/d1/telemetry")
    assert acl_allows(acls, "publishClientReceive", "shequ/v1/c1/d1/cmd/ack")
    scoped = platform_role(community="c1")["acls"]
    assert not acl_allows(scoped, "publishClientSend", "shequ/v1/c2/d1/cmd")


def test_default_acl_denies_what_no_role_grants() -> None:
    command = default_acl_command()
    access = {item["acltype"]: item["allow"] for item in command["acls"]}
    assert access == {"publishClientSend": False, "publishClientReceive": False,
                      "subscribe": False, "unsubscribe": True}
