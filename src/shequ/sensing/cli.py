"""The bodies of the `shequ ingest` and `shequ simulate` commands."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from shequ.kit.logging import configure_logging
from shequ.sensing.mqtt import IngestWorker
from shequ.sensing.service import Outcome
from shequ.sensing.settings import BrokerAddress, SensingSettings, get_sensing_settings

log = logging.getLogger("shequ.sensing.ingest")
REPORT_EVERY_S = 30.0


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (finish the batch at hand, then stop)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def sensing_settings(**overrides: Any) -> SensingSettings:
    """The sensing settings with command-line overrides (None means: keep)."""
    values = {key: value for key, value in overrides.items() if value is not None}
    return get_sensing_settings().model_copy(update=values)


def run_ingest(services: Any, settings: SensingSettings) -> dict[str, int]:
    """Run the ingest worker until a signal; its counters at the end."""
    configure_logging(services.settings.log_level, services.settings.log_json)
    if not settings.mqtt_url:
        raise ValueError("no broker: set SHEQU_MQTT_URL or pass --mqtt-url")
    worker = IngestWorker(services.db, settings, BrokerAddress.parse(settings.mqtt_url))
    stop = stop_on_signals()
    last = [time.monotonic()]

    def report(_: Outcome) -> None:
        """Log the counters every half minute."""
        if time.monotonic() - last[0] >= REPORT_EVERY_S:
            last[0] = time.monotonic()
            log.info("ingest", extra=worker.counters.as_dict())

    log.info("ingest worker starting", extra={"client_id": settings.client_id,
                                              "share_group": settings.share_group})
    worker.run(stop, report)
    log.info("ingest worker stopped", extra=worker.counters.as_dict())
    return worker.counters.as_dict()


def simulator_account(community: str) -> BrokerAddress:
    """A fresh simulator account for a community, made through dynamic security."""
    import secrets

    from shequ.sensing import broker

    dynsec = broker.provisioner()
    if dynsec is None:
        raise ValueError("no broker: pass --mqtt-url or set SHEQU_SENSING_DYNSEC_URL")
    username, password = f"shequ-simulator:{community}", secrets.token_urlsafe(18)
    broker.ensure_account(dynsec, username, password, broker.simulator_role(community))
    return BrokerAddress(dynsec.address.host, dynsec.address.port, username, password)


def simulated_devices(services: Any, code: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The community's topic id and its live devices (code, type, format) the simulator can
    speak for (native and SensorThings formats)."""
    from sqlalchemy import select

    from shequ.sensing.models import Device, Lifecycle
    from shequ.sensing.registry import topic_community

    with services.db.read() as session:
        community = services.platform.community(session, code)
        rows = session.execute(select(Device.code, Device.device_type, Device.payload_format)
                               .where(Device.community_id == community.id,
                                      Device.deleted_at.is_(None),
                                      Device.lifecycle != Lifecycle.retired,
                                      Device.payload_format.in_(("native", "sensorthings")))
                               .order_by(Device.code)).all()
        return topic_community(community.code), [(c, t, f) for c, t, f in rows]


def run_simulate(services: Any, code: str, mqtt_url: str | None, *, speed: float,
                 duration_s: float, incidents: list[str], seed: int,
                 interval_s: float, stop: threading.Event | None = None) -> dict[str, int]:
    """Simulate a community's devices over MQTT until a signal or the duration; the counts."""
    import paho.mqtt.client as mqtt

    from shequ.sensing.simulator import Simulator

    community, devices = simulated_devices(services, code)
    if not devices:
        raise ValueError(f"community {code} has no device the simulator can speak for")
    address = BrokerAddress.parse(mqtt_url) if mqtt_url else simulator_account(community)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"shequ-simulator-{community}")
    client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(1000)

    def publish(topic: str, payload: bytes) -> None:
        """Publish at QoS 1 (paho queues while disconnected)."""
        client.publish(topic, payload, qos=1)

    sim = Simulator(community, devices, publish, speed=speed, seed=seed, interval_s=interval_s)
    client.on_message = lambda c, u, msg: sim.commands.put((msg.topic, bytes(msg.payload)))
    client.on_connect = lambda c, u, flags, rc, props: c.subscribe(
        f"shequ/v1/{community}/+/cmd", qos=1)
    client.connect(address.host, address.port)
    client.loop_start()
    for spec in incidents:
        name, _, device = spec.partition(":")
        log.info("incident %s on %s", name, sim.play(name, device or None))
    stop = stop or stop_on_signals()
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    sim.run(lambda: stop.is_set() or (deadline is not None and time.monotonic() >= deadline))
    client.disconnect()
    client.loop_stop()
    return sim.counts
