"""Against a real Mosquitto (deploy/mosquitto.conf): device accounts provisioned through
dynamic security, QoS 1 ingest with manual acknowledgements, commands over MQTT, a backlog
larger than a default broker would keep.

Skips when Mosquitto or its dynamic-security plugin is absent (fails under
SHEQU_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from shequ.bus import InProcessBus
from shequ.sensing import broker
from shequ.sensing.models import DeadLetter, Telemetry
from shequ.sensing.mqtt import IngestWorker
from shequ.sensing.registry import Directory
from shequ.sensing.settings import SensingSettings
from shequ.sensing.topics import device_username
from tests.conftest import World
from tests.sensing.fleet import SECRET, add_device, minutes_ago, telemetry, topic
from tests.sensing.mosquitto import Client, Mosquitto, mosquitto, wait_for

pytestmark = pytest.mark.services
__all__ = ["mosquitto"]
NOT_AUTHORIZED = 135
BAD_LOGIN = (134, 135)


@pytest.fixture
def provisioning(mosquitto: Mosquitto) -> Iterator[broker.DynSec]:
    """Device verbs provision the test broker's accounts."""
    dynsec = broker.DynSec(mosquitto.admin)
    broker.configure(dynsec)
    yield dynsec
    broker.configure(None)


class Running:
    """An ingest worker running in a thread."""

    def __init__(self, services: Any, mosquitto: Mosquitto, client_id: str,
                 session_expiry_s: int = 0, **options: Any) -> None:
        settings = SensingSettings(
            client_id=client_id, session_expiry_s=session_expiry_s, batch_linger_ms=20,
            batch_size=500, maintenance_interval_s=0.5, command_poll_ms=20,
            directory_ttl_s=0, **options)
        self.worker = IngestWorker(services.db, settings, mosquitto.ingest, bus=InProcessBus(),
                                   directory=Directory(ttl_s=0, miss_ttl_s=0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)
        self.thread.start()
        assert self.worker.connected.wait(15), "the ingest worker did not connect"

    def close(self) -> None:
        """Stop and wait."""
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def worker(services: Any, mosquitto: Mosquitto) -> Iterator[Running]:
    running = Running(services, mosquitto, f"ingest-{uuid.uuid4().hex[:8]}")
    yield running
    running.close()


def _device(world: World, mosquitto: Mosquitto, code: str, **extra: Any) -> Client:
    add_device(world, code, **extra)
    return Client(mosquitto.port, device_username(world.code.lower(), code), SECRET)


def _rows(world: World, model: Any = Telemetry) -> int:
    with world.services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(
            model.community_id == world.community_id)) or 0)


def test_devices_publish_and_each_message_is_stored_once(
        world: World, mosquitto: Mosquitto, provisioning: Any, worker: Running) -> None:
    device = _device(world, mosquitto, "env-m1")
    assert device.code == 0
    stamp = minutes_ago(1)
    for payload in (telemetry({"pm25": 10.0, "noise": 50.0}, stamp, "a"),
                    telemetry({"pm25": 10.0, "noise": 50.0}, stamp, "a"),  # a resend
                    telemetry({"pm25": 11.0}, minutes_ago(0.5), "b"),
                    b"{broken"):
        assert device.publish(topic(world, "env-m1"), payload).rc == 0
    assert wait_for(lambda: _rows(world) == 3 and _rows(world, DeadLetter) == 1)
    device.close()


def test_the_broker_enforces_each_devices_credentials(
        world: World, mosquitto: Mosquitto, provisioning: Any, worker: Running) -> None:
    user = device_username(world.code.lower(), "env-m2")
    device = _device(world, mosquitto, "env-m2")
    _device(world, mosquitto, "env-m3").close()
    assert Client(mosquitto.port, user, "wrong-secret-0000000").code in BAD_LOGIN
    other = topic(world, "env-m3")
    assert device.client.publish(other, b"{}", qos=1).wait_for_publish(10) is None
    assert wait_for(lambda: device.acks and NOT_AUTHORIZED in device.acks.values())
    device.close()
    h = world.headers(world.user("property_manager"))
    with world.services.db.read() as session:
        from shequ.sensing.models import Device

        device_id = session.scalars(select(Device.id).where(
            Device.community_id == world.community_id, Device.code == "env-m2")).one()
    rotated = world.client.post(f"/api/v1/devices/{device_id}/credentials", headers=h).json()
    assert Client(mosquitto.port, user, SECRET).code in BAD_LOGIN
    fresh = Client(mosquitto.port, user, rotated["secret"])
    assert fresh.code == 0
    fresh.close()
    world.client.patch(f"/api/v1/devices/{device_id}", headers=h, json={"lifecycle": "retired"})
    assert Client(mosquitto.port, user, rotated["secret"]).code in BAD_LOGIN
    assert world.client.delete(f"/api/v1/devices/{device_id}", headers=h).status_code == 204
    assert provisioning.run([{"command": "getClient", "username": user}])[0].get("error")


def test_commands_travel_over_mqtt_and_their_response_is_measured(
        world: World, mosquitto: Mosquitto, provisioning: Any, worker: Running) -> None:
    lamp = _device(world, mosquitto, "lamp-m", device_type="streetlight_controller")
    lamp.subscribe(topic(world, "lamp-m", "cmd"))
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                _, payload = lamp.received.get(timeout=0.1)
            except Exception:  # noqa: BLE001 (queue.Empty: keep waiting)
                continue
            command = orjson.loads(payload)
            state = {"on": command["cmd"] == "switch_on"}
            lamp.publish(topic(world, "lamp-m", "cmd/ack"), orjson.dumps(
                {"ack": command["id"], "ok": True, "state": state}), wait=False)

    answering = threading.Thread(target=answer, daemon=True)
    answering.start()
    h = world.headers(world.user("security_operator"))
    with world.services.db.read() as session:
        from shequ.sensing.models import Device

        lamp_id = session.scalars(select(Device.id).where(
            Device.community_id == world.community_id, Device.code == "lamp-m")).one()
    done = world.client.post(f"/api/v1/devices/{lamp_id}/commands", headers=h,
                             json={"command": "switch_on", "wait_s": 15})
    stop.set()
    answering.join(5)
    lamp.close()
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "acked" and result["attempts"] == 1
    assert 0 <= result["round_trip_ms"] <= result["response_ms"]
    assert result["meets_target"] is (result["response_ms"] <= 5000)
    shadow = world.client.get(f"/api/v1/devices/{lamp_id}/shadow", headers=h).json()
    assert shadow["desired"] == {"on": True} and shadow["delta"] == {}


def test_a_backlog_larger_than_a_default_broker_queue_drains_completely(
        world: World, services: Any, mosquitto: Mosquitto, provisioning: Any) -> None:
    client_id = f"ingest-backlog-{uuid.uuid4().hex[:6]}"
    Running(services, mosquitto, client_id, session_expiry_s=600).close()  # session exists
    device = _device(world, mosquitto, "env-backlog")
    stamp = minutes_ago(60).replace(microsecond=0)  # one sample a second: not a flood
    infos = [device.publish(topic(world, "env-backlog"), telemetry(
        {"pm25": float(n % 500)}, stamp + timedelta(seconds=n), f"b{n}"), wait=False)
        for n in range(3000)]
    for info in infos:
        info.wait_for_publish(30)
    device.close()
    assert all(info.rc == 0 for info in infos)
    running = Running(services, mosquitto, client_id, session_expiry_s=600)
    try:
        assert wait_for(lambda: _rows(world) == 3000, timeout=120)
    finally:
        running.close()


def test_the_simulator_speaks_for_the_communitys_devices(
        world: World, services: Any, mosquitto: Mosquitto, provisioning: Any,
        worker: Running) -> None:
    from shequ.sensing.cli import run_simulate
    from shequ.sensing.models import Command, Device, DeviceEvent

    for code, kind in (("smoke-s", "smoke_detector"), ("lamp-s", "streetlight_controller"),
                       ("env-s", "environment_station")):
        add_device(world, code, kind)
    with world.services.db.read() as session:
        lamp_id = session.scalars(select(Device.id).where(
            Device.community_id == world.community_id, Device.code == "lamp-s")).one()
    h = world.headers(world.user("security_operator"))
    command = world.client.post(f"/api/v1/devices/{lamp_id}/commands", headers=h,
                                json={"command": "switch_on", "max_attempts": 5}).json()
    counts = run_simulate(services, world.code, None, speed=120, duration_s=8,
                          incidents=["smoke"], seed=1, interval_s=60,
                          stop=threading.Event())
    assert counts["telemetry"] > 3 and counts["event"] >= 1 and counts["cmd/ack"] >= 1

    def settled() -> bool:
        with world.services.db.read() as session:
            devices = set(session.scalars(select(Telemetry.device_id).where(
                Telemetry.community_id == world.community_id).distinct()))
            events = set(session.scalars(select(DeviceEvent.event).where(
                DeviceEvent.community_id == world.community_id)))
            status = session.scalar(select(Command.status).where(Command.id == command["id"]))
        return len(devices) == 3 and "smoke_alarm" in events and status == "acked"

    assert wait_for(settled, timeout=30)


@pytest.mark.parametrize("options", [{"communities": "{code}"}, {"share_group": "ingest"}],
                         ids=["by-community", "shared"])
def test_workers_can_split_the_load(world: World, services: Any, mosquitto: Mosquitto,
                                    provisioning: Any, options: dict[str, str]) -> None:
    settings = {k: v.format(code=world.code.lower()) for k, v in options.items()}
    running = Running(services, mosquitto, f"ingest-{uuid.uuid4().hex[:8]}", **settings)
    try:
        device = _device(world, mosquitto, "env-split")
        assert device.publish(topic(world, "env-split"), telemetry(
            {"pm25": 3.0}, minutes_ago(1))).rc == 0
        assert wait_for(lambda: _rows(world) == 1)
        device.close()
    finally:
        running.close()
