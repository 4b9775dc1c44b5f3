"""The generated dynamic-security roles, enforced by a real Mosquitto broker.

Skips when Mosquitto or its dynamic-security plugin is absent (fails under
SHEQU_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import getpass
import json
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shequ.sensing.topics import (
    Channel,
    create_role_command,
    default_acl_command,
    device_role,
    device_username,
    format_topic,
    platform_filters,
    platform_role,
)
from tests.conftest import require_service

pytestmark = pytest.mark.services

PLUGINS = [
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),
    Path("/usr/local/lib/mosquitto_dynamic_security.so"),
]
CONTROL = "$CONTROL/dynamic-security/v1"
NOT_AUTHORIZED = 135
ACCEPTED = range(0x80)  # 0 success, 16 no matching subscribers: both accepted
WAIT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("mosquitto exited at start")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not open its port")


class Client:
    """A paho MQTT 5 client with blocking publish/subscribe that return reason codes."""

    def __init__(self, port: int, username: str, password: str) -> None:
        import paho.mqtt.client as mqtt

        self.acks: queue.Queue[int] = queue.Queue()
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.put(int(rc.value))
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.acks.put(int(rcs[0].value))
        self.client.on_message = lambda c, u, msg: self.received.put((msg.topic,
                                                                      bytes(msg.payload)))
        connected: queue.Queue[int] = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, props: connected.put(int(rc.value))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.get(timeout=WAIT_S) == 0, f"{username} could not connect"

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """Publish at QoS 1; the PUBACK reason code."""
        self.client.publish(topic, payload, qos=1)
        return self.acks.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; the SUBACK reason code (granted QoS or an error)."""
        self.client.subscribe(topic, qos=1)
        return self.acks.get(timeout=WAIT_S)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Client]]:
    """A Mosquitto broker with dynamic security; yields its port and an admin client."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    ctrl = shutil.which("mosquitto_ctrl") or ""
    plugin = next((path for path in PLUGINS if path.exists()), None)
    if not Path(mosquitto).exists() or not ctrl or plugin is None:
        require_service("mosquitto", "mosquitto with the dynamic-security plugin is not installed")
    pytest.importorskip("paho.mqtt.client")
    work = tmp_path_factory.mktemp("mosquitto")
    config = work / "dynsec.json"
    subprocess.run([ctrl, "dynsec", "init", str(config), "admin", "admin-secret"], check=True,
                   capture_output=True)
    port = _free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nuser {getpass.getuser()}\npersistence false\n"
        f"plugin {plugin}\nplugin_opt_config_file {config}\n", encoding="utf-8")
    process = subprocess.Popen([mosquitto, "-c", str(work / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        admin = Client(port, "admin", "admin-secret")
        yield port, admin
        admin.close()
    finally:
        process.terminate()
        process.wait(timeout=WAIT_S)


def _control(admin: Client, commands: list[dict[str, Any]]) -> None:
    admin.subscribe(f"{CONTROL}/response")
    admin.client.publish(CONTROL, json.dumps({"commands": commands}), qos=1)
    admin.acks.get(timeout=WAIT_S)
    while True:
        topic, payload = admin.received.get(timeout=WAIT_S)
        if topic == f"{CONTROL}/response":
            break
    for response in json.loads(payload)["responses"]:
        assert "error" not in response, response


@pytest.fixture(scope="module")
def clients(broker: tuple[int, Client]) -> Iterator[dict[str, Client]]:
    """Two devices and a platform client, each holding only its generated role."""
    port, admin = broker
    commands = [default_acl_command(),
                create_role_command(platform_role(share_group="ingest"))]
    for device in ("d1", "d2"):
        commands.append(create_role_command(device_role("c1", device)))
        commands.append({"command": "createClient", "username": device_username("c1", device),
                         "password": f"pw-{device}",
                         "roles": [{"rolename": device_role("c1", device)["rolename"]}]})
    commands.append({"command": "createClient", "username": "platform", "password": "pw-p",
                     "roles": [{"rolename": "shequ-platform"}]})
    _control(admin, commands)
    made = {"d1": Client(port, "c1:d1", "pw-d1"), "d2": Client(port, "c1:d2", "pw-d2"),
            "platform": Client(port, "platform", "pw-p")}
    yield made
    for client in made.values():
        client.close()


def test_device_publishes_only_on_its_own_uplinks(clients: dict[str, Client]) -> None:
    d1 = clients["d1"]
    for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.STATE, Channel.HEARTBEAT,
                    Channel.CMD_ACK):
        assert d1.publish(format_topic("c1", "d1", channel)) in ACCEPTED
    assert d1.publish(format_topic("c1", "d2", Channel.TELEMETRY)) == NOT_AUTHORIZED
    assert d1.publish(format_topic("c1", "d1", Channel.CMD)) == NOT_AUTHORIZED
    assert d1.publish("shequ/v1/c2/d1/telemetry") == NOT_AUTHORIZED


def test_device_subscribes_only_to_its_own_commands(clients: dict[str, Client]) -> None:
    d2 = clients["d2"]
    assert d2.subscribe(format_topic("c1", "d2", Channel.CMD)) == 1
    assert d2.subscribe(format_topic("c1", "d1", Channel.CMD)) == NOT_AUTHORIZED
    assert d2.subscribe("shequ/v1/c1/+/cmd") == NOT_AUTHORIZED
    assert d2.subscribe("shequ/v1/#") == NOT_AUTHORIZED


def test_platform_ingests_by_shared_subscription_and_commands(
    clients: dict[str, Client],
) -> None:
    platform, d1 = clients["platform"], clients["d1"]
    for topic_filter in platform_filters(share_group="ingest"):
        assert platform.subscribe(topic_filter) == 1
    assert d1.publish(format_topic("c1", "d1", Channel.TELEMETRY), b'{"metrics":{}}') in ACCEPTED
    topic, payload = platform.received.get(timeout=WAIT_S)
    assert (topic, payload) == ("shequ/v1/c1/d1/telemetry", b'{"metrics":{}}')
    assert d1.subscribe(format_topic("c1", "d1", Channel.CMD)) == 1
    assert platform.publish(format_topic("c1", "d1", Channel.CMD), b'{"cmd":"x"}') in ACCEPTED
    assert d1.received.get(timeout=WAIT_S) == ("shequ/v1/c1/d1/cmd", b'{"cmd":"x"}')
    assert platform.publish(format_topic("c1", "d1", Channel.TELEMETRY)) == NOT_AUTHORIZED
