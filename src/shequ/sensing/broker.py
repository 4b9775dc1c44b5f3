"""The MQTT broker as the platform administers it: Mosquitto dynamic security and its config.

Device accounts live in Mosquitto's dynamic-security plugin. The platform sends it commands
on ``$CONTROL/dynamic-security/v1`` (and reads ``.../response``) whenever a device is
provisioned, gets a new secret, is disabled, retired or deleted. Every command is idempotent
from the platform's point of view: "already exists" and "not found" answers are expected.

The broker's configuration is shipped as ``deploy/mosquitto.conf``; `render_config` derives a
runnable copy for a given port and data directory (tests, benchmarks, local runs).
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from shequ.kit.errors import ServiceUnavailable
from shequ.sensing.settings import BrokerAddress
from shequ.sensing.topics import (
    PREFIX,
    UPLINK,
    VERSION,
    Channel,
    check_community,
    create_role_command,
    default_acl_command,
    device_role,
    device_rolename,
    device_username,
    platform_role,
)

CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = f"{CONTROL}/response"
REPO = Path(__file__).resolve().parents[3]
SHIPPED_CONFIG = REPO / "deploy" / "mosquitto.conf"
PLUGIN_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),
    Path("/usr/local/lib/mosquitto_dynamic_security.so"),
)
_HARMLESS = re.compile(r"already exists|not found", re.IGNORECASE)


class BrokerError(ServiceUnavailable):
    """The broker could not be reached or refused an administrative command."""

    code = "sensing.broker.unavailable"


class DynSec:
    """A client of the dynamic-security plugin: sends command lists, returns responses."""

    def __init__(self, address: BrokerAddress, timeout_s: float = 5.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: Any = None
        self._responses: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._ids = itertools.count(1)

    def _connect(self) -> Any:
        import paho.mqtt.client as mqtt

        connected: queue.SimpleQueue[int] = queue.SimpleQueue()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                             client_id=f"shequ-dynsec-{id(self):x}")
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        client.on_connect = lambda c, u, flags, rc, props: connected.put(int(rc.value))
        client.on_message = lambda c, u, msg: self._responses.put(bytes(msg.payload))
        try:
            client.connect(self.address.host, self.address.port, keepalive=30)
        except OSError as exc:
            raise BrokerError(f"cannot reach the broker: {exc}", code="sensing.broker.unavailable"
                              ) from exc
        client.loop_start()
        try:
            code = connected.get(timeout=self.timeout_s)
        except queue.Empty:
            code = -1
        if code != 0:
            client.loop_stop()
            raise BrokerError(f"broker refused the admin log-in ({code})",
                              code="sensing.broker.unavailable")
        client.subscribe(RESPONSE, qos=1)
        return client

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one request; their responses, in order. Raises on real errors."""
        if not commands:
            return []
        with self._lock:
            if self._client is None or not self._client.is_connected():
                self.close_locked()
                self._client = self._connect()
            tag = f"shequ-{next(self._ids)}"
            tagged = [{**command, "correlationData": f"{tag}-{n}"}
                      for n, command in enumerate(commands)]
            self._client.publish(CONTROL, orjson.dumps({"commands": tagged}), qos=1)
            responses = self._await(tag)
        for response in responses:
            error = response.get("error")
            if error and not _HARMLESS.search(str(error)):
                raise BrokerError(f"{response.get('command')}: {error}",
                                  code="sensing.broker.refused", error=str(error)[:200])
        return responses

    def _await(self, tag: str) -> list[dict[str, Any]]:
        while True:
            try:
                raw = self._responses.get(timeout=self.timeout_s)
            except queue.Empty:
                self.close_locked()
                raise BrokerError("no answer from dynamic security",
                                  code="sensing.broker.unavailable") from None
            found = orjson.loads(raw).get("responses", [])
            if found and str(found[0].get("correlationData", "")).startswith(f"{tag}-"):
                return list(found)

    def close_locked(self) -> None:
        """Disconnect (the caller holds the lock or owns the object)."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def close(self) -> None:
        """Disconnect."""
        with self._lock:
            self.close_locked()


# ---------------------------------------------------------------------------------------------
# Accounts


def _exists(response: dict[str, Any]) -> bool:
    return "already exists" in str(response.get("error", "")).lower()


def ensure_account(dynsec: DynSec, username: str, password: str | None,
                   role: dict[str, Any], enabled: bool = True) -> None:
    """Create (or update) a role and an account holding it; set its password; (dis)able it."""
    rolename = role["rolename"]
    commands: list[dict[str, Any]] = [create_role_command(role)]
    if password is not None:
        commands.append({"command": "createClient", "username": username, "password": password,
                         "roles": [{"rolename": rolename}]})
    responses = dynsec.run(commands)
    if password is not None and _exists(responses[-1]):
        dynsec.run([{"command": "setClientPassword", "username": username,
                     "password": password}])
        found = dynsec.run([{"command": "getClient", "username": username}])[0]
        roles = {r.get("rolename") for r in found.get("data", {}).get("client", {}).get(
            "roles", [])}
        if rolename not in roles:
            dynsec.run([{"command": "addClientRole", "username": username,
                         "rolename": rolename}])
    dynsec.run([{"command": "enableClient" if enabled else "disableClient",
                 "username": username}])


def provision_device(dynsec: DynSec, community: str, device: str, secret: str | None,
                     enabled: bool) -> None:
    """Create or update a device's role and account; set its secret; enable or disable it."""
    ensure_account(dynsec, device_username(community, device), secret,
                   device_role(community, device), enabled)


def removal_commands(community: str, device: str) -> list[dict[str, Any]]:
    """Delete a device's account and role."""
    return [{"command": "deleteClient", "username": device_username(community, device)},
            {"command": "deleteRole", "rolename": device_rolename(community, device)}]


def simulator_role(community: str, name: str | None = None) -> dict[str, Any]:
    """A role that may speak for every device of one community (the simulator's account)."""
    scope = f"{PREFIX}/{VERSION}/{check_community(community)}/+"
    acls = [{"acltype": "publishClientSend", "topic": f"{scope}/{channel.value}",
             "priority": 0, "allow": True} for channel in UPLINK]
    command = f"{scope}/{Channel.CMD.value}"
    acls += [{"acltype": kind, "topic": command, "priority": 0, "allow": True}
             for kind in ("subscribePattern", "publishClientReceive", "unsubscribePattern")]
    return {"rolename": name or f"shequ-simulator:{community}", "acls": acls}


def setup_platform(dynsec: DynSec, username: str, password: str,
                   share_group: str = "ingest") -> None:
    """Deny by default, then create the platform's ingest/command account."""
    dynsec.run([default_acl_command()])
    ensure_account(dynsec, username, password, platform_role(share_group=share_group))


# ---------------------------------------------------------------------------------------------
# The process's provisioner (None when the platform does not manage broker accounts)

_PROVISIONER: dict[str, DynSec | None] = {}


def configure(dynsec: DynSec | None) -> None:
    """Install (or remove, with None) the dynamic-security client used by device verbs."""
    previous = _PROVISIONER.get("current")
    if previous is not None and previous is not dynsec:
        previous.close()
    _PROVISIONER["current"] = dynsec


def provisioner() -> DynSec | None:
    """The configured dynamic-security client, from SHEQU_SENSING_DYNSEC_URL on first use."""
    if "current" not in _PROVISIONER:
        from shequ.sensing.settings import get_sensing_settings

        url = get_sensing_settings().dynsec_url
        _PROVISIONER["current"] = DynSec(BrokerAddress.parse(url)) if url else None
    return _PROVISIONER["current"]


# ---------------------------------------------------------------------------------------------
# Configuration


def plugin_path() -> Path | None:
    """Where this machine's dynamic-security plugin is, if installed."""
    return next((path for path in PLUGIN_PATHS if path.exists()), None)


def _replace(lines: Iterable[str], key: str, value: str | None) -> list[str]:
    out, done = [], False
    for line in lines:
        if line.split(maxsplit=1)[:1] == [key]:
            if not done and value is not None:
                out.append(f"{key} {value}")
            done = True
        else:
            out.append(line)
    if not done and value is not None:
        out.append(f"{key} {value}")
    return out


def render_config(port: int, data_dir: Path, *, dynsec_file: Path | None = None,
                  plugin: Path | None = None, user: str | None = None,
                  template: Path = SHIPPED_CONFIG) -> str:
    """The shipped configuration with the listener, data directory and plugin paths replaced."""
    lines = template.read_text(encoding="utf-8").splitlines()
    lines = _replace(lines, "listener", f"{port} 127.0.0.1")
    lines = _replace(lines, "persistence_location", f"{data_dir}/")
    lines = _replace(lines, "log_dest", f"file {data_dir}/mosquitto.log")
    lines = _replace(lines, "user", user)
    lines = _replace(lines, "plugin", str(plugin) if plugin and dynsec_file else None)
    lines = _replace(lines, "plugin_opt_config_file", str(dynsec_file) if dynsec_file else None)
    if dynsec_file is None:
        lines = _replace(lines, "allow_anonymous", "true")
    return "\n".join(lines) + "\n"
