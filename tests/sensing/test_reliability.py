"""Nothing acknowledged is lost: the broker restarted mid-stream, the ingest process killed
with SIGKILL mid-stream. Real Mosquitto (deploy/mosquitto.conf), real `shequ ingest`.

Skips when Mosquitto or its dynamic-security plugin is absent (fails under
SHEQU_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shequ.sensing import broker
from shequ.sensing.models import Telemetry
from shequ.sensing.topics import device_username
from tests.conftest import World
from tests.sensing.fleet import SECRET, add_device, minutes_ago, telemetry, topic
from tests.sensing.mosquitto import Client, Mosquitto, env_with, mosquitto, wait_for
from tests.sensing.test_mqtt import Running

pytestmark = [pytest.mark.services, pytest.mark.slow]
__all__ = ["mosquitto"]
MESSAGES = 3000


@pytest.fixture
def provisioning(mosquitto: Mosquitto) -> Iterator[None]:
    broker.configure(broker.DynSec(mosquitto.admin))
    yield
    broker.configure(None)


def _rows(world: World) -> int:
    with world.services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Telemetry).where(
            Telemetry.community_id == world.community_id)) or 0)


def _device(world: World, mosquitto: Mosquitto, code: str) -> Client:
    add_device(world, code)
    return Client(mosquitto.port, device_username(world.code.lower(), code), SECRET,
                  client_id=f"{code}-{uuid.uuid4().hex[:4]}", clean_start=False)


class Stream:
    """A device publishing numbered samples at QoS 1 from a thread; which were PUBACKed."""

    def __init__(self, world: World, device: Client, code: str, count: int) -> None:
        self.world, self.device, self.code, self.count = world, device, code, count
        self.start = minutes_ago(90).replace(microsecond=0)
        self.infos: list[Any] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for n in range(self.count):
            payload = telemetry({"pm25": float(n % 900)}, self.start + timedelta(seconds=n),
                                f"s{n}")
            self.infos.append(self.device.publish(topic(self.world, self.code), payload,
                                                  wait=False))
            if n % 50 == 0:
                threading.Event().wait(0.02)

    def acknowledged(self) -> int:
        """How many publishes the broker has acknowledged with success (PUBACK 0)."""
        acks = dict(self.device.acks)
        return sum(1 for info in list(self.infos) if acks.get(info.mid) == 0)

    def finish(self) -> None:
        """Wait for the thread and for every PUBACK (paho resends after a reconnect)."""
        self.thread.join(60)
        assert wait_for(lambda: self.acknowledged() == self.count, timeout=120), [
            (n, i.mid, i.rc, self.device.acks.get(i.mid), i._published)
            for n, i in enumerate(self.infos) if self.device.acks.get(i.mid) != 0][:5]


def test_a_broker_restart_loses_no_acknowledged_message(
        world: World, services: Any, mosquitto: Mosquitto, provisioning: None) -> None:
    running = Running(services, mosquitto, f"ingest-restart-{uuid.uuid4().hex[:6]}",
                      session_expiry_s=600)
    device = _device(world, mosquitto, "env-restart")
    try:
        stream = Stream(world, device, "env-restart", MESSAGES)
        assert wait_for(lambda: stream.acknowledged() > MESSAGES // 3, timeout=60)
        mosquitto.restart()
        stream.finish()
        assert wait_for(lambda: _rows(world) == MESSAGES, timeout=120), _rows(world)
        assert running.worker.counters.reconnects >= 1
    finally:
        device.close()
        running.close()


def _ingest(services: Any, mosquitto: Mosquitto, client_id: str) -> subprocess.Popen[bytes]:
    settings = services.settings
    env = env_with(
        SHEQU_DATABASE_URL=settings.database_url, SHEQU_ENVIRONMENT="test",
        SHEQU_DATA_KEY=settings.data_key.get_secret_value(), SHEQU_LOG_JSON="false",
        SHEQU_LOG_LEVEL="WARNING", SHEQU_MQTT_URL=mosquitto.ingest.url(),
        SHEQU_SENSING_CLIENT_ID=client_id, SHEQU_SENSING_BATCH_SIZE="200",
        SHEQU_SENSING_BATCH_LINGER_MS="20", SHEQU_SENSING_SESSION_EXPIRY_S="600")
    return subprocess.Popen([sys.executable, "-m", "shequ.cli", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_killed_ingest_process_stores_every_message_exactly_once(
        world: World, services: Any, mosquitto: Mosquitto, provisioning: None) -> None:
    client_id = f"ingest-kill-{uuid.uuid4().hex[:6]}"
    process = _ingest(services, mosquitto, client_id)
    device = _device(world, mosquitto, "env-kill")
    try:
        probe = telemetry({"pm25": 1.0}, minutes_ago(200), "probe")
        assert wait_for(lambda: device.publish(topic(world, "env-kill"), probe) is not None
                        and _rows(world) == 1, timeout=60)
        stream = Stream(world, device, "env-kill", MESSAGES)
        assert wait_for(lambda: _rows(world) > MESSAGES // 4, timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        stored_at_kill = _rows(world)
        process = _ingest(services, mosquitto, client_id)
        stream.finish()
        assert wait_for(lambda: _rows(world) == MESSAGES + 1, timeout=180), _rows(world)
        assert stored_at_kill < MESSAGES + 1
    finally:
        device.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
