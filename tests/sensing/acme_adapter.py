"""A vendor payload format as a plug-in: ``TEMP=21.5;HUM=40`` lines (test fixture).

It shows that a vendor format is one small function, loaded by dotted path.
"""

from __future__ import annotations

from datetime import datetime

from shequ.sensing.readings import Kind, Message, make_message, malformed
from shequ.sensing.topics import TopicInfo

FIELDS = {"TEMP": "temperature", "HUM": "humidity", "PM25": "pm25"}


def decode(topic: TopicInfo, payload: bytes, received_at: datetime) -> list[Message]:
    """Decode ``KEY=value;KEY=value`` into one telemetry message."""
    values: dict[str, object] = {}
    for part in payload.decode("ascii", "replace").strip().split(";"):
        key, sep, raw = part.partition("=")
        if not sep or key not in FIELDS:
            raise malformed(f"bad field {part!r}")
        try:
            values[FIELDS[key]] = float(raw)
        except ValueError:
            raise malformed(f"bad number {raw!r}") from None
    return [make_message(topic, Kind.TELEMETRY, values, received_at, source="acme")]
