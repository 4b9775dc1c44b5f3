"""FIWARE Smart Data Models entities (NGSI-v2 and NGSI-LD) as telemetry.

Accepted payloads on a device's telemetry topic: one entity, an array of entities, or a
notification (``{"subscriptionId": ..., "data": [...]}``, NGSI-v2 and NGSI-LD alike). Each
entity may be in key-values form or normalized (NGSI-v2 ``{"type": "Number", "value": ...,
"metadata": {...}}``, NGSI-LD ``{"type": "Property", "value": ..., "observedAt": ...}``).

The mapping from an entity type's attributes to metric keys is data, declared in the device
type files under ``fiware:`` and collected by the catalogue: attribute paths (``phaseVoltage.L1``,
``location.coordinates.1``), scale and offset, value maps for enumerations and unit-code
factors. Unmapped attributes (addresses, static properties) are ignored. The timestamp is the
attribute's own (``observedAt`` / ``metadata.timestamp``), else the first declared entity
timestamp attribute present, else the receive time; attributes with different timestamps
become separate messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shequ.sensing.catalogue import AttributeMap, Catalogue, FiwareMapping, default_catalogue
from shequ.sensing.readings import (
    DecodeError,
    Kind,
    Message,
    load_json,
    make_message,
    malformed,
    parse_ts,
)
from shequ.sensing.topics import Channel, TopicInfo

SOURCE = "fiware"
_MISSING = object()
_RESERVED = frozenset({"id", "type", "@context"})


def _entities(document: Any) -> list[dict[str, Any]]:
    if document.__class__ is dict and document.get("data").__class__ is list:
        document = document["data"]
    items = document if document.__class__ is list else [document]
    if not items:
        raise malformed("no entities")
    for index, item in enumerate(items):
        if item.__class__ is not dict or item.get("type").__class__ is not str:
            raise malformed(f"entity {index} is not an object with a 'type'")
    return items


def _is_normalized(entity: dict[str, Any]) -> bool:
    """Whether every attribute is a normalized {type, value|object} structure."""
    attributes = [value for key, value in entity.items() if key not in _RESERVED]
    return bool(attributes) and all(
        (value.__class__ is dict and ("value" in value or "object" in value))
        or (value.__class__ is list and value and all(v.__class__ is dict for v in value))
        for value in attributes
    )


def _unwrap(value: Any) -> Any:
    """Unwrap an NGSI-LD typed literal ({"@type": "DateTime", "@value": ...})."""
    if value.__class__ is dict and "@value" in value:
        return value["@value"]
    return value


class _Attribute:
    """One attribute of an entity: its value, own timestamp and unit code."""

    __slots__ = ("ts", "unit_code", "value")

    def __init__(self, raw: Any, normalized: bool) -> None:
        self.ts: Any = None
        self.unit_code: str | None = None
        if not normalized:
            self.value = _unwrap(raw)
            return
        if raw.__class__ is list:  # NGSI-LD multi-attribute: prefer the default instance
            raw = next((item for item in raw if "datasetId" not in item), raw[0])
        self.value = _unwrap(raw.get("value", raw.get("object")))
        metadata = raw.get("metadata") if raw.get("metadata").__class__ is dict else {}
        stamp = metadata.get("timestamp")
        self.ts = raw.get("observedAt") or (stamp.get("value") if stamp.__class__ is dict else None)
        code = raw.get("unitCode") or (metadata.get("unitCode") or {}).get("value")
        self.unit_code = code if code.__class__ is str else None


def _descend(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if step.__class__ is int and value.__class__ is list and step < len(value):
            value = value[step]
        elif value.__class__ is dict and str(step) in value:
            value = value[str(step)]
        else:
            return _MISSING
    return value


def _convert(spec: AttributeMap, value: Any, unit_code: str | None, attribute: str) -> Any:
    if spec.values and value.__class__ is str and value in spec.values:
        return spec.values[value]
    if value.__class__ not in (int, float):
        return value
    factor = spec.scale
    if unit_code is not None and spec.unit_codes:
        found = spec.unit_codes.get(unit_code)
        if found is None:
            raise DecodeError(f"unit code {unit_code}",
                              code="sensing.dead_letter.unknown_unit_code",
                              attribute=attribute, unit_code=unit_code)
        factor *= found
    if factor == 1.0 and spec.offset == 0.0:
        return value
    return round(value * factor + spec.offset, 9)


def _entity_time(entity: dict[str, Any], mapping: FiwareMapping, normalized: bool) -> Any:
    for name in mapping.timestamp:
        if name in entity:
            return _Attribute(entity[name], normalized).value
    return None


class FiwareDecoder:
    """Decodes FIWARE entities using the catalogue's entity-type mappings."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self._catalogue = catalogue

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue whose mappings are used (the built-in one by default)."""
        if self._catalogue is None:
            self._catalogue = default_catalogue()
        return self._catalogue

    def mapping(self, entity_type: str) -> FiwareMapping:
        """The mapping of an entity type; DecodeError when the type is not mapped."""
        found = self.catalogue.fiware.get(entity_type)
        if found is None:
            raise DecodeError(f"unmapped entity type {entity_type}",
                              code="sensing.dead_letter.unmapped_entity_type",
                              entity_type=entity_type)
        return found

    def _groups(self, entity: dict[str, Any], mapping: FiwareMapping,
                normalized: bool) -> dict[Any, dict[str, Any]]:
        """Mapped metric values grouped by their timestamp (None: the entity's)."""
        groups: dict[Any, dict[str, Any]] = {}
        for spec in mapping.attributes:
            name = str(spec.path[0])
            if name not in entity:
                continue
            attribute = _Attribute(entity[name], normalized)
            value = _descend(attribute.value, spec.path[1:])
            if value is _MISSING or value is None:
                continue
            converted = _convert(spec, value, attribute.unit_code, name)
            groups.setdefault(attribute.ts, {})[spec.metric] = converted
        return groups

    def _messages(self, topic: TopicInfo, entity: dict[str, Any],
                  received_at: datetime) -> list[Message]:
        mapping = self.mapping(entity["type"])
        normalized = _is_normalized(entity)
        groups = self._groups(entity, mapping, normalized)
        origin = str(entity.get("id")) if entity.get("id") is not None else None
        if not groups:
            raise DecodeError("no mapped attributes",
                              code="sensing.dead_letter.no_mapped_attributes",
                              entity=origin or entity["type"])
        default = _entity_time(entity, mapping, normalized)
        messages = []
        for stamp, values in groups.items():
            chosen = stamp if stamp is not None else default
            messages.append(make_message(
                topic, Kind.TELEMETRY, values, received_at,
                ts=None if chosen is None else parse_ts(chosen), source=SOURCE, origin=origin,
            ))
        messages.sort(key=lambda message: message.ts)
        return messages

    def __call__(self, topic: TopicInfo, payload: bytes, received_at: datetime) -> list[Message]:
        """Decode FIWARE entities received on a telemetry topic."""
        if topic.channel is not Channel.TELEMETRY:
            raise DecodeError("entities are telemetry", code="sensing.dead_letter.wrong_channel",
                              format=SOURCE, channel=topic.channel.value)
        messages: list[Message] = []
        for entity in _entities(load_json(payload)):
            messages.extend(self._messages(topic, entity, received_at))
        return messages


decode = FiwareDecoder()
