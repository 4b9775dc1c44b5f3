"""A private Mosquitto for tests: the shipped deploy/mosquitto.conf on a free port, with the
dynamic-security plugin, persistence in a temporary directory, restartable; MQTT clients."""

from __future__ import annotations

import getpass
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shequ.sensing.broker import DynSec, plugin_path, render_config, setup_platform
from shequ.sensing.settings import BrokerAddress
from tests.conftest import require_service

ADMIN = ("admin", "admin-secret-0123")
INGEST = ("shequ-ingest", "ingest-secret-0123")
WAIT_S = 15.0


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mosquitto:
    """A running broker (restartable on the same port and data directory)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def admin(self) -> BrokerAddress:
        """The dynamic-security administrator's address."""
        return BrokerAddress("127.0.0.1", self.port, *ADMIN)

    @property
    def ingest(self) -> BrokerAddress:
        """The platform ingest account's address."""
        return BrokerAddress("127.0.0.1", self.port, *INGEST)

    def prepare(self) -> None:
        """Write the configuration and the dynamic-security file with the admin account."""
        ctrl = shutil.which("mosquitto_ctrl")
        plugin = plugin_path()
        if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
            require_service("mosquitto", "the mosquitto broker is not installed")
        if ctrl is None or plugin is None:
            require_service("mosquitto", "mosquitto_ctrl or the dynamic-security plugin missing")
        dynsec = self.workdir / "dynamic-security.json"
        subprocess.run([ctrl, "dynsec", "init", str(dynsec), *ADMIN], check=True,
                       capture_output=True)
        (self.workdir / "mosquitto.conf").write_text(render_config(
            self.port, self.workdir, dynsec_file=dynsec, plugin=plugin,
            user=getpass.getuser()), encoding="utf-8")

    def start(self) -> None:
        """Start the broker and wait for its port."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.workdir / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.workdir / "mosquitto.log")
                raise RuntimeError("mosquitto exited: " + (log.read_text() if log.exists()
                                                            else ""))
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM saves its persistence file)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=WAIT_S)
        self.process = None

    def restart(self) -> None:
        """Stop cleanly and start again on the same port and data."""
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker for one test module, with the platform's ingest account."""
    pytest.importorskip("paho.mqtt.client")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.prepare()
    broker.start()
    admin = DynSec(broker.admin)
    setup_platform(admin, *INGEST)
    admin.close()
    try:
        yield broker
    finally:
        broker.stop()


class Client:
    """A device-side MQTT 5 client: QoS 1 publishes with their PUBACK codes, received messages."""

    def __init__(self, port: int, username: str, password: str, client_id: str | None = None,
                 *, clean_start: bool = True) -> None:
        import paho.mqtt.client as mqtt

        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, int] = {}
        self._acked = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or username, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(200)
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, msg: self.received.put((msg.topic,
                                                                      bytes(msg.payload)))
        connected: queue.Queue[int] = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, props: connected.put(int(rc.value))
        self.client.connect("127.0.0.1", port, clean_start=clean_start)
        self.client.loop_start()
        self.code = connected.get(timeout=WAIT_S)

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._acked:
            self.acks[mid] = int(rc.value)
            self._acked.notify_all()

    def publish(self, topic: str, payload: bytes, wait: bool = True) -> Any:
        """Publish at QoS 1 (optionally waiting for the PUBACK); the message info."""
        info = self.client.publish(topic, payload, qos=1)
        if wait:
            info.wait_for_publish(WAIT_S)
        return info

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1."""
        self.client.subscribe(topic, qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate: Any, timeout: float = 30.0, every: float = 0.05) -> bool:
    """Poll `predicate` until it is true or the time is up; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def env_with(**values: str) -> dict[str, str]:
    """The current environment plus some variables."""
    return {**os.environ, **values}
