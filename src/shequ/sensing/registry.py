"""The device registry (设备台账) verbs: check and complete device rows, keep credentials as
digests, link CIM placements, provision broker accounts, and the in-memory device directory
the ingest pipeline resolves topics with.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shequ.cim.models import Building, DevicePlacement, Facility, Floor, Room
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.errors import ValidationFailed
from shequ.platform.models import Community
from shequ.platform.security.sm import hmac_sm3, keyring, same
from shequ.sensing import adapters, broker
from shequ.sensing.catalogue import DeviceType, default_catalogue
from shequ.sensing.models import Device, Lifecycle
from shequ.sensing.settings import get_sensing_settings
from shequ.sensing.topics import COMMUNITY_RE, device_username

_PENDING = "sensing.pending_secrets"
_ANCHORS = (("building_id", Building), ("floor_id", Floor), ("room_id", Room),
            ("facility_id", Facility))
_FROM_PLACEMENT = ("building_id", "floor_id", "room_id", "facility_id", "lon", "lat", "height")


def _invalid(field: str, code: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(code=code, errors=[{"field": field, "code": code}], **params)


# ---------------------------------------------------------------------------------------------
# Credentials


def _secret_key() -> bytes:
    return hmac_sm3(keyring.field_key, b"shequ device secret v1")


def digest_secret(community_id: int, code: str, secret: str) -> str:
    """The stored form of a device secret: keyed SM3 over community, code and secret."""
    data = f"{community_id}\x1f{code}\x1f{secret}".encode()
    return "hsm3$" + hmac_sm3(_secret_key(), data).hex()


def check_secret(device_community: int, code: str, digest: str | None, secret: str) -> bool:
    """Whether a presented secret matches the stored digest (constant time)."""
    if not digest or not secret:
        return False
    return same(digest, digest_secret(device_community, code, secret))


def new_secret() -> str:
    """A fresh random device secret (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def topic_community(code: str) -> str:
    """A community's id in MQTT topics: its code in lower case."""
    return code.lower()


# ---------------------------------------------------------------------------------------------
# Preparing device rows (the ledger's `prepare` hook)


def device_type_of(type_id: str, field: str = "device_type") -> DeviceType:
    """The catalogue type with this id, or 422 naming the field."""
    found = default_catalogue().find(type_id)
    if found is None:
        raise _invalid(field, "sensing.device_type.unknown", id=type_id[:64])
    return found


def _merged(data: dict[str, Any], current: Device | None, name: str) -> Any:
    return data[name] if name in data else getattr(current, name, None)


def _check_place(session: Session, data: dict[str, Any], current: Device | None,
                 community_id: int) -> None:
    placement_id = data.get("placement_id")
    if placement_id:
        placement = parent(session, DevicePlacement, placement_id, community_id, "placement_id")
        own = current.id if current is not None else None
        if placement.device_id not in (None, own):
            taken = session.get(Device, placement.device_id)
            if taken is not None and taken.deleted_at is None:
                raise _invalid("placement_id", "sensing.placement_taken", device=taken.code)
        for name in _FROM_PLACEMENT:
            if data.get(name) is None and getattr(placement, name) is not None:
                data[name] = getattr(placement, name)
    for name, model in _ANCHORS:
        if data.get(name):
            parent(session, model, data[name], community_id, name)


def _check_properties(data: dict[str, Any], device_type: DeviceType) -> None:
    properties = data.get("properties")
    if not properties:
        return
    known = {spec.key for spec in device_type.all_indicators()}
    unknown = sorted(set(properties) - known)
    if unknown:
        raise _invalid("properties", "sensing.property_unknown", key=unknown[0][:64],
                       device_type=device_type.id)


def prepare_device(session: Session, data: dict[str, Any], current: Device | None
                   ) -> dict[str, Any]:
    """Check type, format, place and indicator keys; turn a secret into its digest."""
    community_id = _merged(data, current, "community_id")
    device_type = device_type_of(_merged(data, current, "device_type"))
    payload_format = _merged(data, current, "payload_format") or "native"
    get_sensing_settings()  # registers the configured vendor formats
    if payload_format not in adapters.names():
        raise _invalid("payload_format", "sensing.format_unknown", format=payload_format[:64])
    _check_place(session, data, current, community_id)
    _check_properties({"properties": _merged(data, current, "properties")}, device_type)
    if "secret" in data:
        secret = data.pop("secret")
        if secret is not None:
            code = _merged(data, current, "code")
            data["secret_digest"] = digest_secret(community_id, code, secret)
            data["credentials_at"] = utcnow()
            session.info.setdefault(_PENDING, {})[(community_id, code)] = secret
    return data


# ---------------------------------------------------------------------------------------------
# After a write (the ledger's `after_write` hook)


def link_placement(session: Session, device: Device) -> None:
    """Point the device's CIM placement at it, and unlink placements it has left."""
    live = device.deleted_at is None and device.lifecycle != Lifecycle.retired
    keep = device.placement_id if live else None
    session.execute(update(DevicePlacement).where(
        DevicePlacement.device_id == device.id,
        DevicePlacement.id != (keep or 0)).values(device_id=None))
    if keep:
        session.execute(update(DevicePlacement).where(DevicePlacement.id == keep)
                        .values(device_id=device.id))


def community_code(session: Session, community_id: int) -> str:
    """The community's code as used in topics (lower case)."""
    code = session.scalar(select(Community.code).where(Community.id == community_id))
    return topic_community(code or "")


def sync_broker(session: Session, device: Device) -> None:
    """Bring the device's broker account in line with the row (when the platform manages it).

    Runs inside the transaction, before the commit: if the broker refuses, the write is rolled
    back, so the registry never claims an account the broker does not have.
    """
    dynsec = broker.provisioner()
    pending = session.info.get(_PENDING, {}).pop((device.community_id, device.code), None)
    if dynsec is None:
        return
    community = community_code(session, device.community_id)
    if not COMMUNITY_RE.fullmatch(community):
        return
    if device.deleted_at is not None:
        dynsec.run(broker.removal_commands(community, device.code))
        return
    enabled = device.lifecycle != Lifecycle.retired and device.secret_digest is not None
    if pending is None and device.secret_digest is None:
        return
    broker.provision_device(dynsec, community, device.code, pending, enabled)


def after_device_write(session: Session, device: Device) -> None:
    """Keep the placement link and the broker account current."""
    session.flush()
    link_placement(session, device)
    sync_broker(session, device)
    DIRECTORY.forget(device.community_id, device.code)


def rotate_secret(session: Session, device: Device) -> str:
    """Give a device a new secret (returned once), stored as a digest and sent to the broker."""
    secret = new_secret()
    device.secret_digest = digest_secret(device.community_id, device.code, secret)
    device.credentials_at = utcnow()
    session.info.setdefault(_PENDING, {})[(device.community_id, device.code)] = secret
    after_device_write(session, device)
    return secret


def credentials_view(session: Session, device: Device, secret: str) -> dict[str, Any]:
    """What a device needs to connect: user name, secret, topic prefix, HTTP header."""
    community = community_code(session, device.community_id)
    return {"device_id": device.id, "username": device_username(community, device.code),
            "secret": secret, "topic_prefix": f"shequ/v1/{community}/{device.code}",
            "http_authorization": f"Device {device.code}:{secret}"}


# ---------------------------------------------------------------------------------------------
# The directory: topic identities → device rows, cached for the ingest pipeline


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What the ingest pipeline needs to know about a device."""

    id: int
    community_id: int
    community: str
    code: str
    type: DeviceType
    payload_format: str
    lifecycle: Lifecycle
    secret_digest: str | None

    @property
    def retired(self) -> bool:
        """Whether the device is retired (its messages are refused)."""
        return self.lifecycle == Lifecycle.retired


Key = tuple[str, str]
_MISSING = object()


class Directory:
    """Devices by (topic community, device code), cached for `ttl_s` seconds.

    Unknown keys are cached too (for a shorter time), so a flood of messages from an unknown
    device costs one query per period, not one per message.
    """

    def __init__(self, ttl_s: float = 30.0, miss_ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self.miss_ttl_s = miss_ttl_s
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[float, DeviceRef | None]] = {}
        self._communities: dict[str, tuple[float, tuple[int, str] | None]] = {}

    def forget(self, community_id: int | None = None, code: str | None = None) -> None:
        """Drop cached entries (all, or one device's)."""
        with self._lock:
            if code is None:
                self._entries.clear()
                self._communities.clear()
                return
            for key in [k for k, v in self._entries.items() if k[1] == code and (
                    v[1] is None or v[1].community_id == community_id)]:
                del self._entries[key]

    def resolve(self, session: Session, keys: Iterable[Key]) -> dict[Key, DeviceRef | None]:
        """Look up many devices at once, querying only those not cached."""
        now = time.monotonic()
        found: dict[Key, DeviceRef | None] = {}
        wanted: set[Key] = set()
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > now:
                    found[key] = entry[1]
                else:
                    wanted.add(key)
        if wanted:
            loaded = self._load(session, wanted)
            with self._lock:
                for key in wanted:
                    ref = loaded.get(key)
                    self._entries[key] = (now + (self.ttl_s if ref else self.miss_ttl_s), ref)
                    found[key] = ref
        return found

    def _community_ids(self, session: Session, names: set[str]) -> dict[str, tuple[int, str]]:
        now = time.monotonic()
        out: dict[str, tuple[int, str]] = {}
        missing = set()
        for name in names:
            entry = self._communities.get(name)
            if entry is not None and entry[0] > now:
                if entry[1] is not None:
                    out[name] = entry[1]
            else:
                missing.add(name)
        if missing:
            rows = session.execute(select(Community.id, Community.code).where(
                func.lower(Community.code).in_(missing))).all()
            seen: dict[str, list[tuple[int, str]]] = {}
            for community_id, code in rows:
                seen.setdefault(topic_community(code), []).append((community_id, code))
            for name in missing:
                matches = seen.get(name, [])
                value = matches[0] if len(matches) == 1 else None
                self._communities[name] = (now + self.ttl_s, value)
                if value is not None:
                    out[name] = value
        return out

    def _load(self, session: Session, keys: set[Key]) -> dict[Key, DeviceRef]:
        communities = self._community_ids(session, {community for community, _ in keys})
        by_id = {community_id: name for name, (community_id, _) in communities.items()}
        pairs = [(communities[c][0], code) for c, code in keys if c in communities]
        if not pairs:
            return {}
        catalogue = default_catalogue()
        out: dict[Key, DeviceRef] = {}
        codes = {code for _, code in pairs}
        rows = session.scalars(select(Device).where(
            Device.deleted_at.is_(None), Device.code.in_(codes),
            Device.community_id.in_({community_id for community_id, _ in pairs}))).all()
        for row in rows:
            device_type = catalogue.find(row.device_type)
            name = by_id.get(row.community_id)
            if device_type is None or name is None or (name, row.code) not in keys:
                continue
            out[(name, row.code)] = DeviceRef(
                row.id, row.community_id, name, row.code, device_type, row.payload_format,
                Lifecycle(row.lifecycle), row.secret_digest)
        return out

    def get(self, session: Session, community: str, code: str) -> DeviceRef | None:
        """One device by topic community and code (cached)."""
        return self.resolve(session, [(community, code)])[(community, code)]


DIRECTORY = Directory()
"""The process's directory (the ingest worker configures its TTL from the settings)."""
