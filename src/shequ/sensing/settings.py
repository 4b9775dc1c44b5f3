"""Sensing settings from `SHEQU_SENSING_*` environment variables (the broker from SHEQU_MQTT_URL).

The ingest worker subscribes to every community's device topics (or to those listed in
``communities``), as plain persistent subscriptions unless ``share_group`` is set.

URLs name the broker and the account: ``mqtt://user:password@host:port``. The ingest account
holds the ``shequ-platform`` role; the dynamic-security account (``dynsec_url``) administers
device accounts through ``$CONTROL/dynamic-security/v1``. An empty ``dynsec_url`` means the
platform does not manage broker accounts (HTTP-only deployments, or accounts managed by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shequ.sensing.readings import Limits


class SensingSettings(BaseSettings):
    """Ingest, broker and storage parameters of the sensing layer."""

    model_config = SettingsConfigDict(env_prefix="SHEQU_SENSING_", extra="ignore")

    mqtt_url: str = ""
    dynsec_url: str = ""
    client_id: str = Field(default="shequ-ingest", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    share_group: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})?$")
    communities: str = Field(default="", pattern=r"^[a-z0-9_,-]*$")
    session_expiry_s: int = Field(default=7 * 86400, ge=0)
    receive_maximum: int = Field(default=5000, ge=1, le=65535)
    batch_size: int = Field(default=2000, ge=1, le=50_000)
    threads: int = Field(default=2, ge=1, le=16)
    """Batches in progress at once: one is decoded while another waits for the database."""
    batch_linger_ms: int = Field(default=100, ge=0, le=10_000)
    max_payload_bytes: int = Field(default=64 * 1024, ge=256, le=16 * 1024 * 1024)
    max_future_s: int = Field(default=300, ge=0)
    max_past_s: int = Field(default=7 * 86400, ge=60)
    device_budget_per_minute: int = Field(default=600, ge=1)
    trace_sample: int = Field(default=0, ge=0)
    directory_ttl_s: float = Field(default=30.0, ge=0)
    maintenance_interval_s: float = Field(default=10.0, gt=0)
    rollup_grace_s: int = Field(default=5, ge=0)
    partitions_ahead_days: int = Field(default=3, ge=1, le=60)
    command_poll_ms: int = Field(default=100, ge=10, le=10_000)
    adapters: str = Field(default="", pattern=r"^([a-z][a-z0-9_]*=[A-Za-z0-9_.:]+,?)*$")
    """Vendor payload formats: ``name=package.module[:function]``, comma-separated."""

    def register_adapters(self) -> None:
        """Register the configured vendor payload formats under their names."""
        from shequ.sensing import adapters

        for item in filter(None, self.adapters.split(",")):
            name, _, target = item.partition("=")
            adapters.register(name, target)

    def filters(self) -> list[str]:
        """The ingest subscriptions: every community, or the listed ones; shared when a group
        is set.

        Plain subscriptions survive a broker restart in the broker's persistence file; shared
        ones are not restored by Mosquitto 2.0, so until the worker reconnects, messages find
        no subscriber. Split the load between workers by community rather than by group when
        that window matters (see deploy/README.md).
        """
        from shequ.sensing.topics import platform_filters

        group = self.share_group or None
        names = [c for c in self.communities.split(",") if c]
        if not names:
            return platform_filters(share_group=group)
        return [f for name in names for f in platform_filters(name, share_group=group)]

    def limits(self) -> Limits:
        """How far message timestamps may lie in the future and the past."""
        return Limits(max_future=timedelta(seconds=self.max_future_s),
                      max_past=timedelta(seconds=self.max_past_s))


@dataclass(frozen=True)
class BrokerAddress:
    """Host, port and account of an ``mqtt://user:password@host:port`` URL."""

    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse a broker URL (port 1883 by default)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"not an mqtt:// URL: {url!r}")
        return cls(parts.hostname, parts.port or 1883,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def url(self) -> str:
        """The URL back, with the password."""
        account = f"{self.username}:{self.password}@" if self.username else ""
        return f"mqtt://{account}{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_sensing_settings() -> SensingSettings:
    """The process-wide sensing settings, read once."""
    settings = SensingSettings()
    if not settings.mqtt_url:
        from shequ.config import get_settings

        settings = settings.model_copy(update={"mqtt_url": get_settings().mqtt_url})
    settings.register_adapters()
    return settings
