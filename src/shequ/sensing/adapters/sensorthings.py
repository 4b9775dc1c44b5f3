"""OGC SensorThings API Observations (观测) as telemetry.

Accepted payloads on a device's telemetry topic:

- one Observation: ``{"phenomenonTime": ..., "result": 21.5, "Datastream": {...}}``;
- an array of Observations, or a collection response ``{"value": [...]}``;
- the DataArray form of the CreateObservations request:
  ``[{"Datastream": {...}, "components": ["phenomenonTime", "result"], "dataArray": [[...]]}]``.

Each Observation becomes one telemetry message with one metric. The metric is named by the
Datastream: ``properties.metric`` if present, else a configured ``@iot.id`` → metric map, else
the Datastream ``name`` (its last ``/``-separated part, so ``"dev-1/pm25"`` names ``pm25``).
The timestamp is ``phenomenonTime`` (the end of an interval ``start/end``), else
``resultTime``, else the receive time. An ``@iot.id`` on the Observation becomes the message id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from shequ.sensing.readings import (
    DecodeError,
    Kind,
    Message,
    given_id,
    load_json,
    make_message,
    malformed,
    parse_ts,
)
from shequ.sensing.topics import Channel, TopicInfo

SOURCE = "sensorthings"


def _observations(document: Any) -> Iterator[dict[str, Any]]:
    """Flatten every accepted payload shape into Observation objects."""
    if document.__class__ is dict and document.get("value").__class__ is list:
        document = document["value"]
    items = document if document.__class__ is list else [document]
    if not items:
        raise malformed("no observations")
    for index, item in enumerate(items):
        if item.__class__ is not dict:
            raise malformed(f"item {index} is not an object")
        if "dataArray" in item:
            yield from _data_array(item, index)
        else:
            yield item


def _data_array(item: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
    components, rows = item.get("components"), item.get("dataArray")
    if components.__class__ is not list or rows.__class__ is not list:
        raise malformed(f"item {index}: dataArray needs 'components' and 'dataArray' lists")
    for row in rows:
        if row.__class__ is not list or len(row) != len(components):
            raise malformed(f"item {index}: a dataArray row does not match 'components'")
        observation = dict(zip(components, row, strict=True))
        observation.setdefault("Datastream", item.get("Datastream"))
        yield observation


def _time(observation: dict[str, Any]) -> datetime | None:
    value = observation.get("phenomenonTime")
    if value.__class__ is str and "/" in value:
        value = value.rsplit("/", 1)[1]
    if value is None:
        value = observation.get("resultTime")
    return None if value is None else parse_ts(value)


class SensorThingsDecoder:
    """A SensorThings decoder with an optional Datastream ``@iot.id`` → metric map."""

    def __init__(self, datastreams: Mapping[Any, str] | None = None) -> None:
        self.datastreams = {str(key): value for key, value in (datastreams or {}).items()}

    def metric(self, datastream: Any) -> str:
        """The metric key a Datastream carries."""
        if datastream.__class__ is not dict:
            raise malformed("observation without a Datastream")
        properties = datastream.get("properties")
        if properties.__class__ is dict and properties.get("metric").__class__ is str:
            return str(properties["metric"])
        ident = datastream.get("@iot.id")
        if ident is not None and str(ident) in self.datastreams:
            return self.datastreams[str(ident)]
        name = datastream.get("name")
        if name.__class__ is str and name:
            return str(name).rsplit("/", 1)[-1]
        label = str(ident) if ident is not None else "?"
        raise DecodeError(f"unmapped datastream {label}",
                          code="sensing.dead_letter.unmapped_datastream", datastream=label)

    def _message(self, topic: TopicInfo, observation: dict[str, Any],
                 received_at: datetime) -> Message:
        if "result" not in observation:
            raise malformed("observation without a result")
        metric = self.metric(observation.get("Datastream"))
        return make_message(
            topic, Kind.TELEMETRY, {metric: observation["result"]}, received_at,
            ts=_time(observation), msg_id=given_id(observation.get("@iot.id")), source=SOURCE,
            origin=None if observation.get("@iot.id") is None else str(observation["@iot.id"]),
        )

    def __call__(self, topic: TopicInfo, payload: bytes, received_at: datetime) -> list[Message]:
        """Decode Observations received on a telemetry topic."""
        if topic.channel is not Channel.TELEMETRY:
            raise DecodeError("observations are telemetry",
                              code="sensing.dead_letter.wrong_channel", format=SOURCE,
                              channel=topic.channel.value)
        document = load_json(payload)
        return [self._message(topic, observation, received_at)
                for observation in _observations(document)]


decode = SensorThingsDecoder()
