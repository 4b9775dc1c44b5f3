"""One entry point for every CIM importer: `read_scene(kind, data)` → `Scene`.

Malformed or truncated files raise `CimFormatError`; problems inside a well-formed file are
collected as `Scene.issues` (errors and warnings) so a caller can report all of them at once
and decide (all-or-nothing import). The helpers here are shared by the format readers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shequ.cim.io.scene import Crs, Issue, ObjectKind, Scene, SceneObject
from shequ.kit.errors import ValidationFailed
from shequ.kit.i18n import t

KINDS = ("cityjson", "citygml", "ifc", "geojson")
GROUND_TOLERANCE = 0.5
"""Metres below the building's base at which a storey still counts as the ground floor."""

_EXTENSIONS = {
    ".jsonl": "cityjson",
    ".gml": "citygml",
    ".xml": "citygml",
    ".ifc": "ifc",
    ".ifczip": "ifc",
    ".geojson": "geojson",
}


class CimFormatError(ValidationFailed):
    """A file that is not readable as the format it claims (bad syntax, truncated, wrong type)."""

    code = "cim.io.bad_file"

    def __init__(self, location: str, reason: str, *, fmt: str = "") -> None:
        super().__init__(
            f"{fmt or 'file'} at {location}: {reason}",
            errors=[{"location": location, "message": reason}],
            location=location,
            reason=reason,
            format=fmt,
        )


def issue(location: str, key: str, severity: str = "error", **params: Any) -> Issue:
    """An Issue whose message is the translated text of `key` (current language)."""
    return Issue(location=location, message=t(key, **params), severity=severity)


def as_bytes(data: bytes | Path) -> bytes:
    """The raw content of an upload or a file."""
    return data.read_bytes() if isinstance(data, Path) else bytes(data)


def decode_text(raw: bytes, fmt: str) -> str:
    """Text from bytes (UTF-8 with or without BOM); undecodable input is a format error."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CimFormatError(f"byte {exc.start}", "not UTF-8 text", fmt=fmt) from exc


def to_float(value: Any) -> float | None:
    """A number from an attribute value ("12.5", 12, "12,5 m"), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", ".").rstrip("mM米层 ").strip()
        try:
            number = float(text)
        except ValueError:
            return None
        return number if np.isfinite(number) else None
    return None


def to_int(value: Any) -> int | None:
    """An integer from an attribute value, or None when it is not a whole number."""
    number = to_float(value)
    if number is None or abs(number - round(number)) > 1e-6:
        return None
    return round(number)


def first_value(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first key present (case-insensitive), or None."""
    lowered = {k.lower(): v for k, v in attributes.items()}
    for key in keys:
        if key in attributes and attributes[key] not in (None, ""):
            return attributes[key]
        value = lowered.get(key.lower())
        if value not in (None, ""):
            return value
    return None


# --- after georeferencing -------------------------------------------------------------------


def finish_scene(scene: Scene) -> None:
    """Fill elevations and heights from geometry, number storeys, flag empty scenes."""
    for obj in scene.objects.values():
        _fill_extent(obj)
    _number_storeys(scene)
    if not scene.objects:
        scene.issues.append(issue("file", "cim.io.empty", "warning"))


def _fill_extent(obj: SceneObject) -> None:
    zs = [g.vertices[:, 2] for g in obj.geometry if len(g.vertices)]
    if zs:
        z = np.concatenate(zs)
        low, high = float(z.min()), float(z.max())
        if obj.elevation is None:
            obj.elevation = round(low, 4)
        if obj.height is None:
            obj.height = round(high - low, 4)
    elif obj.footprint is not None:
        if obj.elevation is None:
            obj.elevation = obj.footprint.base
        if obj.height is None:
            obj.height = obj.footprint.height


def _number_storeys(scene: Scene) -> None:
    groups: dict[str | None, list[SceneObject]] = defaultdict(list)
    for obj in scene.of_kind(ObjectKind.storey):
        groups[obj.parent].append(obj)
    for parent_id, storeys in groups.items():
        if all(s.storey_index is not None for s in storeys):
            continue
        parent = scene.objects.get(parent_id) if parent_id else None
        base = parent.elevation if parent is not None and parent.elevation is not None else None
        _assign_indexes(storeys, base)


def _assign_indexes(storeys: list[SceneObject], base: float | None) -> None:
    """Ground floor 1, upward 2, 3 ...; below ground -1, -2 ... (Chinese floor numbering)."""
    taken = {s.storey_index for s in storeys if s.storey_index is not None}
    todo = [s for s in storeys if s.storey_index is None]
    if any(s.elevation is None for s in todo):
        next_index = max([i for i in taken if i is not None] or [0]) + 1
        for storey in todo:
            storey.storey_index = next_index
            next_index += 1
        return
    ordered = sorted(todo, key=lambda s: s.elevation or 0.0)
    ground_level = (base if base is not None else 0.0) - GROUND_TOLERANCE
    above = [s for s in ordered if (s.elevation or 0.0) >= ground_level]
    below = [s for s in ordered if (s.elevation or 0.0) < ground_level]
    for number, storey in enumerate(above, start=1):
        storey.storey_index = number
    for number, storey in enumerate(reversed(below), start=1):
        storey.storey_index = -number


# --- dispatch -------------------------------------------------------------------------------


Reader = Callable[[bytes | Path, str, Crs | None], Scene]


def _reader(kind: str) -> Reader:
    if kind == "cityjson":
        from shequ.cim.io.cityjson import read_cityjson

        return read_cityjson
    if kind == "citygml":
        from shequ.cim.io.citygml import read_citygml

        return read_citygml
    if kind == "ifc":
        from shequ.cim.io.ifc import read_ifc

        return read_ifc
    from shequ.cim.io.geojson import read_geojson

    return read_geojson


def detect_kind(data: bytes | Path, name: str = "") -> str:
    """Guess the format from the file name, then from the first bytes."""
    label = name or (data.name if isinstance(data, Path) else "")
    lower = label.lower()
    if lower.endswith((".city.json", ".city.jsonl")):
        return "cityjson"
    for ext, kind in _EXTENSIONS.items():
        if lower.endswith(ext):
            return kind
    if isinstance(data, Path):
        with data.open("rb") as handle:
            head = handle.read(4096)
    else:
        head = bytes(data[:4096])
    return _sniff(head.lstrip(b"\xef\xbb\xbf \t\r\n"))


def _sniff(head: bytes) -> str:
    if head.startswith(b"ISO-10303-21") or head.startswith(b"PK"):
        return "ifc"
    if head.startswith(b"<"):
        return "citygml"
    if head.startswith(b"{"):
        compact = head.replace(b" ", b"")
        if b'"CityJSON' in compact:
            return "cityjson"
        return "geojson"
    raise CimFormatError("file", "unknown format", fmt="auto")


def read_scene(
    kind: str,
    data: bytes | Path,
    *,
    name: str = "",
    default_crs: Crs | None = None,
) -> Scene:
    """Read one CIM file into a Scene.

    `kind` is one of cityjson, citygml, ifc, geojson, or "auto" (by extension, then content).
    `default_crs` is assumed when the file declares no CRS (e.g. a CityJSON without
    `referenceSystem` whose coordinates are known to be in EPSG:7415).
    """
    chosen = detect_kind(data, name) if kind == "auto" else kind
    if chosen not in KINDS:
        raise ValidationFailed(f"unknown CIM format {kind!r}", code="cim.io.unknown_kind",
                               kind=kind, kinds=", ".join(KINDS))
    scene = _reader(chosen)(data, name, default_crs)
    scene.metadata.setdefault("format", chosen)
    if name:
        scene.metadata.setdefault("file_name", name)
    return scene
