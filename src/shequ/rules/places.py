"""Where devices are: the contracts the sensing runtime fills for the rule engine and linkage.

- `DeviceContext`: what the engine needs to know about the device of a message (its type and
  its place in the CIM), passed with every message.
- `PlaceIndex`: how linkage finds target devices near an alarm (by place level or by distance).
  `MemoryPlaceIndex` implements it over a list of devices, for tests and the demo.

Places are known only by id (the CIM tables' integer ids); this package never reads the CIM.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from shequ.kit.i18n import t

# The levels of a place, from the most to the least specific. A "flat" (户) is a room.
PLACE_LEVELS: tuple[str, ...] = ("room", "unit", "floor", "building", "facility", "zone",
                                 "community")
# What a grouped condition may group devices by.
GROUP_LEVELS: tuple[str, ...] = ("device", *PLACE_LEVELS)
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Place:
    """A position in the CIM: building/unit/floor/room ids, a facility, a zone, coordinates.

    `zone` is a named broadcast or perimeter zone (防区/广播分区); coordinates are WGS 84.
    """

    building: int | None = None
    unit: int | None = None
    floor: int | None = None
    room: int | None = None
    facility: int | None = None
    facility_category: str | None = None
    zone: str | None = None
    lon: float | None = None
    lat: float | None = None
    height: float | None = None

    @property
    def has_coordinates(self) -> bool:
        """Whether longitude and latitude are known."""
        return self.lon is not None and self.lat is not None

    def to_dict(self) -> dict[str, Any]:
        """The place as a compact JSON-able mapping (unset fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Place:
        """The inverse of `to_dict`."""
        return cls(**dict(data))


NOWHERE = Place()


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What the runtime tells the engine about a message's device: identity, type and place.

    `device` is the device code used in its MQTT topics; `community` the tenant key.
    """

    device: str
    device_type: str
    community: str = ""
    place: Place = NOWHERE
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.community}/{self.device}")

    def group(self, level: str) -> str | None:
        """The subject id of this device when grouped by a level, None if the place lacks it."""
        if level == "device":
            return self.key
        if level == "community":
            return f"{self.community}/community"
        ident = getattr(self.place, level)
        return None if ident is None else f"{self.community}/{level}:{ident}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (for snapshots)."""
        return {"device": self.device, "type": self.device_type, "community": self.community,
                "place": self.place.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceContext:
        """The inverse of `to_dict`."""
        return cls(data["device"], data["type"], data.get("community", ""),
                   Place.from_dict(data.get("place") or {}))


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """A device linkage may target: identity, type, place and free tags (e.g. ``evacuation``)."""

    device: str
    device_type: str
    community: str = ""
    place: Place = NOWHERE
    tags: frozenset[str] = frozenset()


class PlaceIndex(Protocol):
    """Finds devices around an alarm; the runtime implements it over the device ledger."""

    def devices_at(self, community: str, device_type: str, level: str,
                   ident: int | str) -> Sequence[DeviceRef]:
        """Devices of one type at a place level (`PLACE_LEVELS`) with that id, by device code."""
        ...

    def devices_near(self, community: str, device_type: str, lon: float, lat: float, *,
                     limit: int, max_distance_m: float | None) -> Sequence[DeviceRef]:
        """Up to `limit` devices of one type with coordinates, nearest first."""
        ...

    def describe(self, place: Place, lang: str) -> str:
        """A short human label of a place (building, floor, room...) in a language."""
        ...


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The great-circle distance in metres between two WGS 84 points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def place_id(place: Place, community: str, level: str) -> int | str | None:
    """The id of a place at one level (the community key for ``community``)."""
    return community if level == "community" else getattr(place, level)


class MemoryPlaceIndex:
    """A `PlaceIndex` over an in-memory list of devices (tests, demo)."""

    def __init__(self, devices: Iterable[DeviceRef],
                 labels: Mapping[tuple[str, int | str], str] | None = None) -> None:
        self.devices = tuple(devices)
        self.labels = dict(labels or {})

    def devices_at(self, community: str, device_type: str, level: str,
                   ident: int | str) -> list[DeviceRef]:
        """Devices of one type whose place has `ident` at `level`."""
        return sorted((ref for ref in self.devices
                       if ref.community == community and ref.device_type == device_type
                       and place_id(ref.place, community, level) == ident),
                      key=lambda ref: ref.device)

    def devices_near(self, community: str, device_type: str, lon: float, lat: float, *,
                     limit: int, max_distance_m: float | None) -> list[DeviceRef]:
        """The nearest devices of one type with coordinates, within `max_distance_m`."""
        found = []
        for ref in self.devices:
            where = ref.place
            if ref.community != community or ref.device_type != device_type or \
                    where.lon is None or where.lat is None:
                continue
            gap = distance_m(lon, lat, where.lon, where.lat)
            if max_distance_m is None or gap <= max_distance_m:
                found.append((gap, ref.device, ref))
        return [ref for _, _, ref in sorted(found, key=lambda item: item[:2])[:limit]]

    def describe(self, place: Place, lang: str) -> str:
        """The labels of the place's building, unit, floor, room, facility and zone."""
        parts = []
        for level in ("building", "unit", "floor", "room", "facility", "zone"):
            ident = getattr(place, level)
            if ident is not None:
                parts.append(self.labels.get((level, ident))
                             or t(f"rules.place.{level}", lang, id=ident))
        return " / ".join(parts) or t("rules.place.unknown", lang)
