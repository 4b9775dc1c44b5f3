"""Commands and the device shadow without a broker: issue, dispatch, acknowledge, retry,
time out, measure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from shequ.sensing import shadow
from shequ.sensing.models import Command, CommandStatus, Device
from tests.conftest import World
from tests.sensing.fleet import Harness, add_device, now, raw

URL = "/api/v1"


class Wire:
    """A fake MQTT publish that records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, orjson.loads(payload)))


def _dispatch(world: World, at: Any = None) -> list[dict[str, Any]]:
    wire = Wire()
    with world.services.db.write() as session:
        done = shadow.dispatch(session, wire, at)
    return [{**d, "wire": w} for d, w in zip(done, wire.sent + [None] * len(done), strict=False)]


@pytest.fixture
def lamp(world: World) -> int:
    return add_device(world, "lamp-7", "streetlight_controller")


def test_a_command_is_sent_acknowledged_and_measured(world: World, lamp: int) -> None:
    h = world.headers(world.user("security_operator"))
    issued = world.client.post(f"{URL}/devices/{lamp}/commands", headers=h,
                               json={"command": "dim", "params": {"level": 40}})
    assert issued.status_code == 202, issued.text
    command = issued.json()
    assert command["status"] == "pending" and command["target_ms"] == 5000.0
    view = world.client.get(f"{URL}/devices/{lamp}/shadow", headers=h).json()
    assert view["desired"] == {"dim_level": 40} and view["delta"] == {"dim_level": 40}
    sent = _dispatch(world)
    assert [d["status"] for d in sent] == ["sent"]
    topic, body = sent[0]["wire"]
    assert topic == f"shequ/v1/{world.code.lower()}/lamp-7/cmd"
    assert (body["id"], body["cmd"], body["params"]) == (command["cmd_id"], "dim", {"level": 40})
    ack = orjson.dumps({"ack": command["cmd_id"], "ok": True, "state": {"dim_level": 40},
                        "ts": now().isoformat()})
    harness = Harness(world)
    outcome = harness.ingest([raw(world, "lamp-7", ack, "cmd/ack")])
    assert outcome.stored == 1
    done = world.client.get(f"{URL}/devices/{lamp}/commands/{command['id']}", headers=h).json()
    assert done["status"] == "acked" and done["attempts"] == 1
    assert done["round_trip_ms"] is not None and done["round_trip_ms"] >= 0
    assert done["response_ms"] >= done["round_trip_ms"]
    assert done["meets_target"] is (done["response_ms"] <= 5000)
    view = world.client.get(f"{URL}/devices/{lamp}/shadow", headers=h).json()
    assert view["reported"] == {"dim_level": 40} and view["delta"] == {}
    with world.services.db.read() as session:
        device = session.get(Device, lamp)
        assert device is not None and device.properties is not None
        assert device.properties["response_s"] == round(done["response_ms"] / 1000, 3)
    assert [t for t, _ in harness.published if t == "sensing.command.acked"]
    listed = world.client.get(f"{URL}/devices/{lamp}/commands", headers=h).json()
    assert [c["id"] for c in listed] == [command["id"]]


def test_unanswered_commands_are_resent_then_time_out(world: World, lamp: int) -> None:
    h = world.headers(world.user("maintenance_worker"))
    command = world.client.post(f"{URL}/devices/{lamp}/commands", headers=h,
                                json={"command": "switch_off", "max_attempts": 2}).json()
    start = now()
    assert [d["status"] for d in _dispatch(world, start)] == ["sent"]
    assert _dispatch(world, start + timedelta(seconds=1)) == []  # not yet due
    again = _dispatch(world, start + timedelta(seconds=6))
    assert [(d["status"], d["attempts"]) for d in again] == [("sent", 2)]
    assert again[0]["wire"][1]["id"] == command["cmd_id"]  # the same command id
    last = _dispatch(world, start + timedelta(seconds=12))
    assert [d["status"] for d in last] == ["timeout"]
    with world.services.db.read() as session:
        row = session.get(Command, command["id"])
        assert row is not None and row.status == CommandStatus.timeout
    late = orjson.dumps({"ack": command["cmd_id"], "ok": True})
    Harness(world).ingest([raw(world, "lamp-7", late, "cmd/ack")])
    with world.services.db.read() as session:
        row = session.get(Command, command["id"])
        assert row is not None and row.status == CommandStatus.acked
        assert row.response_ms is not None and row.acked_at is not None


def test_a_refused_command_is_failed(world: World, lamp: int) -> None:
    h = world.headers(world.user("property_manager"))
    command = world.client.post(f"{URL}/devices/{lamp}/commands", headers=h,
                                json={"command": "switch_on"}).json()
    _dispatch(world)
    nack = orjson.dumps({"ack": command["cmd_id"], "ok": False, "error": "relay_stuck"})
    Harness(world).ingest([raw(world, "lamp-7", nack, "cmd/ack")])
    done = world.client.get(f"{URL}/devices/{lamp}/commands/{command['id']}", headers=h).json()
    assert (done["status"], done["error"], done["meets_target"]) == ("failed", "relay_stuck",
                                                                      False)


def test_bad_commands_and_permissions(world: World, lamp: int) -> None:
    h = world.headers(world.user("property_manager"))
    url = f"{URL}/devices/{lamp}/commands"
    unknown = world.client.post(url, headers=h, json={"command": "explode"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "sensing.command.unknown"
    out_of_range = world.client.post(url, headers=h, json={"command": "dim",
                                                           "params": {"level": 140}})
    assert out_of_range.status_code == 422
    missing = world.client.post(url, headers=h, json={"command": "dim"})
    assert missing.json()["code"] == "sensing.dead_letter.missing_field"
    committee = world.headers(world.user("community_committee"))
    assert world.client.post(url, headers=committee,
                             json={"command": "switch_on"}).status_code in (403, 404)
    world.client.patch(f"{URL}/devices/{lamp}", headers=h, json={"lifecycle": "retired"})
    retired = world.client.post(url, headers=h, json={"command": "switch_on"})
    assert retired.status_code == 409 and retired.json()["code"] == "sensing.command.retired"
