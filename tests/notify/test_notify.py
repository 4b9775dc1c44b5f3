"""Notifications: inbox rows in the writing transaction, outbound channels only after
commit (none on rollback), each recipient in their own language, pluggable senders."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from shequ.notify import senders
from shequ.notify.models import Notification
from shequ.notify.senders import LogSender, Outgoing, SmsSender, load_sender, register_sender
from shequ.notify.service import notify
from shequ.platform.models import User
from tests.conftest import World

LABEL = {"zh-CN": "报事报修", "en": "Report and repair"}


class Recorder(LogSender):
    """A channel that keeps what it was asked to send."""

    name = "recorder"
    sent: list[Outgoing] = []

    def send(self, messages: Sequence[Outgoing]) -> None:
        """Keep the messages."""
        Recorder.sent += messages


class Broken(LogSender):
    """A channel whose provider is down."""

    name = "broken"

    def send(self, messages: Sequence[Outgoing]) -> None:
        """Fail."""
        raise ConnectionError("provider down")


@pytest.fixture(autouse=True)
def recorder() -> Iterator[list[Outgoing]]:
    register_sender("recorder", Recorder)
    Recorder.sent = []
    yield Recorder.sent
    Recorder.sent = []


def _users(world: World, *languages: str) -> list[int]:
    ids = [world.users[world.user("property_manager")] for _ in languages]
    with world.services.db.write() as session:
        for user_id, lang in zip(ids, languages, strict=True):
            session.get(User, user_id).language = lang  # type: ignore[union-attr]
    return ids


def _inbox_count(world: World, user_id: int) -> int:
    with world.services.db.read() as session:
        return session.scalar(select(func.count()).where(Notification.user_id == user_id)) or 0


def test_inbox_rows_commit_with_the_work_and_channels_run_after(world: World) -> None:
    zh, en = _users(world, "zh-CN", "en")
    with world.services.db.write() as session:
        count = notify(session, [zh, en, en, None], "cases.notice.comment",
                       {"case_type": LABEL, "number": 42}, "/cases/42",
                       community_id=world.community_id, channels=["inapp", "recorder"])
        assert count == 2
        assert Recorder.sent == []  # nothing leaves before the commit
    texts = {m.user_id: m.text for m in Recorder.sent}
    assert texts == {zh: "报事报修 #42 有新的留言", en: "Report and repair #42 has a new comment"}
    assert {m.link for m in Recorder.sent} == {"/cases/42"}
    assert _inbox_count(world, zh) == 1 and _inbox_count(world, en) == 1


def test_a_rollback_drops_the_rows_and_the_sending(world: World) -> None:
    [user] = _users(world, "zh-CN")
    with pytest.raises(RuntimeError), world.services.db.write() as session:
        notify(session, [user], "cases.notice.comment", {"case_type": LABEL, "number": 1},
               channels=["inapp", "recorder"])
        raise RuntimeError("the step failed")
    assert Recorder.sent == [] and _inbox_count(world, user) == 0


def test_a_failing_channel_is_logged_and_harmless(world: World,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    [user] = _users(world, "en")
    register_sender("broken", Broken)
    with caplog.at_level(logging.ERROR, "shequ.notify"), world.services.db.write() as session:
        notify(session, [user], "cases.notice.comment", {"case_type": LABEL, "number": 7},
               channels=["inapp", "broken"])
    assert _inbox_count(world, user) == 1
    assert any("channel failed" in r.getMessage() for r in caplog.records)


def test_sms_goes_to_phones_through_a_pluggable_gateway(world: World,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    with_phone, without = _users(world, "zh-CN", "en")
    with world.services.db.write() as session:
        session.get(User, with_phone).phone = "13912345678"  # type: ignore[union-attr]

    class Gateway:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str]] = []

        def send(self, address: str, text: str) -> None:
            self.sent.append((address, text))

    gateway = Gateway()
    sms = SmsSender(gateway)
    with world.services.db.write() as session:
        staged = sms.stage(session, [senders.Delivery(u, None, "cases.notice.comment",
                                                      {"case_type": LABEL, "number": 3}, None)
                                     for u in (with_phone, without)])
    sms.send(staged)
    assert gateway.sent == [("13912345678", "报事报修 #3 有新的留言")]
    with caplog.at_level(logging.INFO, "shequ.notify"):
        SmsSender().send(staged)  # the default gateway only logs, masked
    logged = [r for r in caplog.records if r.getMessage() == "text message"]
    assert logged and logged[0].__dict__["address"] == "139****5678"


def test_senders_load_by_name_or_dotted_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_sender("inapp").name == "inapp" and load_sender("sms").name == "sms"
    assert isinstance(load_sender("tests.notify.test_notify:Recorder"), Recorder)
    assert isinstance(load_sender("tests.notify.test_notify.Broken"), Broken)
    with pytest.raises(TypeError):
        load_sender("tests.notify.test_notify:LABEL")
    with pytest.raises((ImportError, AttributeError, ValueError)):
        load_sender("nowhere")
    from shequ.config import get_settings

    monkeypatch.setenv("SHEQU_NOTIFY_CHANNELS", "inapp, sms,inapp")
    get_settings.cache_clear()
    try:
        assert senders.configured_channels() == ("inapp", "sms")
        monkeypatch.delenv("SHEQU_NOTIFY_CHANNELS")
        get_settings.cache_clear()
        assert senders.configured_channels() == ("inapp", "log")
    finally:
        get_settings.cache_clear()


def test_the_inbox_api(world: World) -> None:
    name = world.user("property_manager")
    user_id = world.users[name]
    with world.services.db.write() as session:
        for number in range(3):
            notify(session, [user_id], "cases.notice.assigned",
                   {"case_type": LABEL, "number": number, "summary": "漏水"},
                   f"/cases/{number}", community_id=world.community_id)
    client, url = world.client, "/api/v1/me/notifications"
    page = client.get(url, headers=world.headers(name, "en")).json()
    assert page["unread"] == 3
    assert page["items"][0]["text"] == "Report and repair #2 is assigned to you: 漏水"
    first, older = page["items"][0]["id"], page["items"][1]["id"]
    older_page = client.get(url, headers=world.headers(name), params={"before_id": first})
    assert older_page.json()["items"][0]["id"] == older
    assert older_page.json()["items"][0]["text"] == "报事报修 #1 已派给您处理：漏水"
    assert client.post(f"{url}/{first}/read", headers=world.headers(name)).status_code == 204
    unread = client.get(url, headers=world.headers(name), params={"unread": "true"}).json()
    assert unread["unread"] == 2 and first not in {i["id"] for i in unread["items"]}
    other = world.user("property_manager")
    assert client.post(f"{url}/{older}/read", headers=world.headers(other)).status_code == 404
    assert client.post(f"{url}/read-all", headers=world.headers(name)).json() == {"changed": 2}
    assert client.get(url, headers=world.headers(other)).json() == {"items": [], "unread": 0}


def test_api_keys_have_no_inbox(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    key = world.client.post("/api/v1/api-keys", headers=world.headers(admin), json={
        "name": "hotline", "permissions": ["cases:read"],
        "community_ids": [world.community_id]}).json()["key"]
    answer: Any = world.client.get("/api/v1/me/notifications", headers={"X-API-Key": key,
                                                                        "Accept-Language": "en"})
    assert answer.status_code == 403 and answer.json()["code"] == "notify.no_inbox"
    assert "API keys" in answer.json()["title"]
