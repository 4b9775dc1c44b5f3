"""Payload adapters: decoders from a wire format to `Message`s, found by name or dotted path.

A decoder is any callable ``decode(topic: TopicInfo, payload: bytes, received_at: datetime)
-> list[Message]`` that raises `DecodeError` (a stable ``sensing.dead_letter.*`` code) when the
payload cannot be decoded. Decoding is all-or-nothing per payload: a structurally broken item
in a batch rejects the batch, because it means the encoder is broken; value problems are left
to `readings.validate`, which works per message and per value.

Built-in formats: ``native`` (the platform's JSON), ``sensorthings`` (OGC SensorThings
Observations) and ``fiware`` (NGSI-v2 and NGSI-LD entities mapped through the catalogue). A
vendor format is one small module with a ``decode`` function, registered by name with
`register()` or named directly by dotted path (``vendor_pkg.acme`` or ``vendor_pkg.acme:decode``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shequ.kit.errors import ShequError
from shequ.sensing.readings import DecodeError, Message, Rejection, check_size
from shequ.sensing.topics import TopicInfo


class Decoder(Protocol):
    """Turns one payload received on a device topic into messages."""

    def __call__(
        self, topic: TopicInfo, payload: bytes, received_at: datetime
    ) -> list[Message]:
        """Decode a payload; raise DecodeError when it cannot be decoded."""


_BUILTIN: dict[str, str] = {
    "native": "shequ.sensing.adapters.native:decode",
    "sensorthings": "shequ.sensing.adapters.sensorthings:decode",
    "fiware": "shequ.sensing.adapters.fiware:decode",
}
_registry: dict[str, Decoder | str] = dict(_BUILTIN)


def register(name: str, decoder: Decoder | str) -> None:
    """Register a decoder (or the dotted path of one) under a name."""
    _registry[name] = decoder


def names() -> list[str]:
    """The registered format names."""
    return sorted(_registry)


def _unknown(name: str) -> DecodeError:
    return DecodeError(f"unknown format {name!r}", code="sensing.dead_letter.unknown_format",
                       format=name)


def _import(path: str) -> Decoder:
    """Import ``pkg.module:attr``, ``pkg.module.attr`` or ``pkg.module`` (its ``decode``)."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        target: Any = getattr(module, attr or "decode")
    except (ImportError, AttributeError):
        if attr or "." not in path:
            raise _unknown(path) from None
        module_name, _, attr = path.rpartition(".")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            raise _unknown(path) from None
    if not callable(target):
        raise _unknown(path)
    decoder: Decoder = target
    return decoder


def get_decoder(name: str) -> Decoder:
    """The decoder registered under a name, or importable from a dotted path."""
    found = _registry.get(name)
    if found is None:
        if "." not in name:
            raise _unknown(name)
        found = name
    if isinstance(found, str):
        decoder = _import(found)
        _registry[name] = decoder
        return decoder
    return found


@dataclass
class Decoded:
    """The outcome of decoding one payload: messages, or the rejection that refused it."""

    messages: list[Message] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def decode_payload(
    format_name: str,
    topic: TopicInfo,
    payload: bytes,
    received_at: datetime,
    *,
    max_bytes: int,
) -> Decoded:
    """Size-check and decode a payload; errors become rejections instead of exceptions."""
    too_big = check_size(payload, max_bytes)
    if too_big is not None:
        return Decoded(rejections=[too_big])
    try:
        decoder = get_decoder(format_name)
        return Decoded(messages=decoder(topic, payload, received_at))
    except ShequError as error:
        return Decoded(rejections=[Rejection.from_error(error)])
    except Exception as error:  # noqa: BLE001 (a faulty plug-in must not stop ingestion)
        failure = {"format": format_name, "error": type(error).__name__}
        return Decoded(rejections=[Rejection("sensing.dead_letter.adapter_failed", failure)])

