"""Helpers of the sensing runtime tests: devices in a test community, raw messages, a pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

from shequ.bus import InProcessBus
from shequ.platform.scoping import SYSTEM
from shequ.sensing.ledgers import devices
from shequ.sensing.models import DeadLetter, Telemetry, Transport
from shequ.sensing.registry import Directory
from shequ.sensing.service import Pipeline, Raw
from shequ.sensing.settings import SensingSettings
from tests.conftest import World

SECRET = "device-secret-0123456789"


def now() -> datetime:
    """The current time (messages must lie within the validation window)."""
    return datetime.now(UTC)


def add_device(world: World, code: str, device_type: str = "environment_station", *,
               secret: str | None = SECRET, payload_format: str = "native",
               **extra: Any) -> int:
    """Register a device in the world's community through the ledger; its id."""
    body = devices.create_schema.model_validate({
        "community_id": world.community_id, "code": code, "name": f"测试{code}",
        "device_type": device_type, "payload_format": payload_format, "secret": secret,
        **extra})
    with world.services.db.write() as session:
        row = devices.create(session, SYSTEM, body, world.services.platform.record)
        return int(row.id)


def topic(world: World, device: str, channel: str = "telemetry") -> str:
    """The MQTT topic of a device of the world's community."""
    return f"shequ/v1/{world.code.lower()}/{device}/{channel}"


def telemetry(metrics: dict[str, Any], ts: datetime | None = None,
              msg_id: str | None = None) -> bytes:
    """A native telemetry payload."""
    body: dict[str, Any] = {"metrics": metrics}
    if ts is not None:
        body["ts"] = ts.isoformat()
    if msg_id is not None:
        body["id"] = msg_id
    return orjson.dumps(body)


def raw(world: World, device: str, payload: bytes, channel: str = "telemetry",
        received_at: datetime | None = None) -> Raw:
    """A raw MQTT message of a device."""
    return Raw(topic(world, device, channel), payload, received_at or now(), Transport.mqtt)


@dataclass
class Harness:
    """A pipeline over the world's database with its own bus that records what it publishes."""

    world: World
    settings: SensingSettings = field(default_factory=SensingSettings)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bus = InProcessBus()
        self.bus.subscribe(">", lambda env: self.published.append((env.topic, dict(env.data))))
        self.pipeline = Pipeline(self.settings, directory=Directory(ttl_s=0, miss_ttl_s=0),
                                 bus=self.bus)

    def ingest(self, raws: list[Raw], at: datetime | None = None) -> Any:
        """Run one batch in one transaction."""
        with self.world.services.db.write() as session:
            return self.pipeline.ingest(session, raws, at)

    def count(self, model: Any = Telemetry, **where: Any) -> int:
        """Rows of a table, optionally filtered by column values."""
        with self.world.services.db.read() as session:
            stmt = select(func.count()).select_from(model)
            for name, value in where.items():
                stmt = stmt.where(getattr(model, name) == value)
            return int(session.scalar(stmt) or 0)

    def reasons(self, device_id: int | None = None) -> list[str]:
        """Dead-letter reasons of the world's community (or of one device), oldest first."""
        with self.world.services.db.read() as session:
            stmt = select(DeadLetter.reason).order_by(DeadLetter.id)
            if device_id is not None:
                stmt = stmt.where(DeadLetter.device_id == device_id)
            else:
                stmt = stmt.where(DeadLetter.community_code == self.world.code.lower())
            return list(session.scalars(stmt))


def minutes_ago(n: float) -> datetime:
    """A timestamp `n` minutes ago, to the millisecond."""
    stamp = now() - timedelta(minutes=n)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
