"""The MQTT ingest worker: persistent QoS 1 subscriptions, batches, commit, then acknowledge.

At-least-once delivery end to end, exactly-once storage:

- the worker connects with MQTT 5, ``clean_start=False`` and a session expiry, so the broker
  keeps its subscriptions and queues messages while it is away (restart, crash, deploy);
- it subscribes at QoS 1, to every community or to its share of them; plain subscriptions
  are kept in the broker's persistence file across a broker restart (Mosquitto 2.0 does not
  restore shared ``$share/<group>/...`` subscriptions, which are available as an option);
- paho's ``manual_ack=True``: a message is acknowledged (PUBACK) only after the batch that
  holds it has committed; a crash before the commit leaves it unacknowledged and the broker
  delivers it again; storage is idempotent, so it is stored once;
- the broker never has more unacknowledged messages in flight to the worker than the
  worker's Receive Maximum, so overload turns into a backlog queued at the broker (sized by
  ``max_queued_messages`` in ``deploy/mosquitto.conf``) that drains when the worker catches up;
- after a reconnect, acknowledgements for messages of the previous connection are not sent:
  the broker redelivers those messages and the duplicates are dropped by storage.

Between batches the worker publishes due commands (see `shadow`) and runs the maintenance
jobs (`tasks`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shequ.bus import Bus
from shequ.kit.db import Database, utcnow
from shequ.sensing import shadow
from shequ.sensing.models import Transport
from shequ.sensing.registry import DIRECTORY, Directory
from shequ.sensing.service import Outcome, Pipeline, Raw
from shequ.sensing.settings import BrokerAddress, SensingSettings
from shequ.sensing.tasks import Maintenance, ensure_partitions

log = logging.getLogger("shequ.sensing.mqtt")
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message with what is needed to acknowledge it."""

    mid: int
    qos: int
    generation: int
    raw: Raw


@dataclass
class Counters:
    """What the worker has done since it started."""

    received: int = 0
    acked: int = 0
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    points: int = 0
    retries: int = 0
    reconnects: int = 0
    commands: int = 0

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready copy."""
        return dict(self.__dict__)

    def add(self, outcome: Outcome, received: int) -> None:
        """Count a committed batch."""
        self.received += received
        self.batches += 1
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        self.dead_letters += outcome.dead_letters
        self.points += outcome.points


@dataclass
class IngestWorker:
    """One ingest process: an MQTT session, the pipeline, commands and maintenance."""

    db: Database
    settings: SensingSettings
    address: BrokerAddress
    bus: Bus | None = None
    directory: Directory = DIRECTORY
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self.directory.ttl_s = self.settings.directory_ttl_s
        self.pipeline = Pipeline(self.settings, directory=self.directory, bus=self.bus)
        self.maintenance = Maintenance(self.db, self.settings, self.bus)
        self.inbox: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.generation = 0
        self._client: Any = None
        self._last_dispatch = 0.0
        self._count_lock = threading.Lock()

    # -- the MQTT session --------------------------------------------------------------------

    def _make_client(self) -> Any:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(1, 5)
        client.max_inflight_messages_set(1000)
        return client

    def _on_connect(self, client: Any, _userdata: Any, flags: Any, reason: Any,
                    _properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest client: %s", reason)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self.settings.filters()])
        log.info("connected (session present: %s)", getattr(flags, "session_present", None))
        self.connected.set()

    def _on_subscribe(self, _client: Any, _userdata: Any, _mid: int, reasons: Any,
                      _properties: Any) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.error("broker refused %d of the ingest subscriptions: %s (check the account's "
                      "role)", len(refused), ", ".join(refused))

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                       _properties: Any) -> None:
        self.generation += 1
        self.counters.reconnects += 1
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        topic = bytes(message._topic).decode("utf-8", "replace")  # raw bytes: never raises
        self.inbox.put(Delivery(message.mid, message.qos, self.generation,
                                Raw(topic, bytes(message.payload), utcnow(), Transport.mqtt)))

    def start(self) -> None:
        """Connect (asynchronously; paho reconnects by itself) and start the network loop."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        properties.ReceiveMaximum = self.settings.receive_maximum
        self._client = self._make_client()
        self._client.connect_async(self.address.host, self.address.port, keepalive=30,
                                   clean_start=False, properties=properties)
        self._client.loop_start()
        with self.db.write() as session:
            ensure_partitions(session, self.settings)

    def close(self) -> None:
        """Disconnect; the session (and anything unacknowledged) stays at the broker."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, on_batch: Callable[[Outcome], None] | None = None
            ) -> None:
        """Process batches until `stop` is set; then finish the batches at hand and disconnect.

        `threads` batches are in progress at once (the GIL is released while a batch waits
        for the database); the first thread also sends commands and runs maintenance.
        """
        self.start()
        helpers = [threading.Thread(target=self._loop, args=(stop, on_batch, False),
                                    name=f"ingest-{n}", daemon=True)
                   for n in range(1, self.settings.threads)]
        for helper in helpers:
            helper.start()
        try:
            self._loop(stop, on_batch, True)
        finally:
            for helper in helpers:
                helper.join(60)
            self.close()

    def _loop(self, stop: threading.Event, on_batch: Callable[[Outcome], None] | None,
              leader: bool) -> None:
        while not stop.is_set():
            batch = self._take(stop)
            if batch:
                outcome = self._commit(batch, stop)
                if outcome is not None and on_batch is not None:
                    on_batch(outcome)
            if leader:
                self._dispatch_commands()
                self.maintenance.run_due()

    def _take(self, stop: threading.Event) -> list[Delivery]:
        try:
            first = self.inbox.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_linger_ms / 1000.0
        while len(batch) < self.settings.batch_size and not stop.is_set():
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self.inbox.get(timeout=min(left, 0.01)))
                except queue.Empty:
                    continue
        return batch

    def _commit(self, batch: list[Delivery], stop: threading.Event) -> Outcome | None:
        """Store a batch (retrying while the database is down), then acknowledge it."""
        raws = [delivery.raw for delivery in batch]
        attempt = 0
        while True:
            try:
                with self.db.write() as session:
                    outcome = self.pipeline.ingest(session, raws)
                break
            except Exception:  # the database is down or busy: retry, never acknowledge
                attempt += 1
                self.counters.retries += 1
                log.exception("batch of %d failed (attempt %d); retrying", len(raws), attempt)
                self._repair()
                if stop.wait(min(MAX_BACKOFF_S, 0.1 * 2 ** attempt)):
                    return None
        with self._count_lock:
            self.counters.add(outcome, len(batch))
        self._ack(batch)
        return outcome

    def _repair(self) -> None:
        """A missing partition is the one failure the worker can fix by itself."""
        try:
            with self.db.write() as session:
                ensure_partitions(session, self.settings)
        except Exception:  # the database may simply be down; the retry loop goes on
            log.debug("could not ensure partitions", exc_info=True)

    def _ack(self, batch: list[Delivery]) -> None:
        client, generation = self._client, self.generation
        for delivery in batch:
            if delivery.qos and delivery.generation == generation:
                client.ack(delivery.mid, delivery.qos)
                self.counters.acked += 1

    def _dispatch_commands(self) -> None:
        clock = time.monotonic()
        if clock - self._last_dispatch < self.settings.command_poll_ms / 1000.0:
            return
        self._last_dispatch = clock
        if not self.connected.is_set():
            return
        try:
            with self.db.write() as session:
                done = shadow.dispatch(session, self._publish)
            self.counters.commands += sum(1 for item in done if item["status"] == "sent")
        except Exception:  # commands stay queued and are tried again on the next turn
            log.exception("command dispatch failed")

    def _publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1)
