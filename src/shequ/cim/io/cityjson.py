"""CityJSON 1.0/1.1/2.0 and CityJSONSeq (.city.jsonl) importer.

Reads `transform`, every surface and solid geometry type (shells flattened to surfaces, holes
kept as extra rings), semantics, geometry templates, attributes and parent/child links, then
places the scene in its local frame from `metadata.referenceSystem`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shequ.cim.io.crs import CrsError, georeference, parse_crs
from shequ.cim.io.read import (
    CimFormatError,
    as_bytes,
    decode_text,
    finish_scene,
    first_value,
    issue,
    to_float,
    to_int,
)
from shequ.cim.io.scene import Crs, Geometry, Issue, ObjectKind, Scene, SceneObject, Vertices

FORMAT = "CityJSON"
VERSIONS = ("1.0", "1.1", "2.0")

KIND_OF_TYPE: dict[str, ObjectKind] = {
    "Building": ObjectKind.building,
    "BuildingPart": ObjectKind.building_part,
    "BuildingStorey": ObjectKind.storey,
    "BuildingUnit": ObjectKind.unit,
    "BuildingRoom": ObjectKind.room,
    "TransportSquare": ObjectKind.road,
    "TransportationSquare": ObjectKind.road,
    "Road": ObjectKind.road,
    "CityFurniture": ObjectKind.facility,
    "OtherConstruction": ObjectKind.structure,
}
OTHER_TYPES = frozenset(
    {
        "BuildingInstallation", "BuildingConstructiveElement", "BuildingFurniture",
        "Bridge", "BridgePart", "BridgeInstallation", "BridgeConstructiveElement",
        "BridgeConstructionElement", "BridgeRoom", "BridgeFurniture",
        "Tunnel", "TunnelPart", "TunnelInstallation", "TunnelConstructiveElement",
        "TunnelHollowSpace", "TunnelFurniture",
        "CityObjectGroup", "GenericCityObject", "LandUse", "PlantCover",
        "SolitaryVegetationObject", "TINRelief", "Railway", "WaterBody", "Waterway",
    }
)  # fmt: skip
GROUP = "CityObjectGroup"

NAME_KEYS = ("name", "名称", "label")
HEIGHT_KEYS = ("measuredHeight", "height", "高度")
STOREY_KEYS = ("storeyNumber", "storey_number", "storeyIndex", "floorNumber", "floor", "楼层")
ELEVATION_KEYS = ("elevation", "storeyElevation", "floorElevation", "标高")

SURFACE_TYPES = ("MultiSurface", "CompositeSurface")
SOLID_TYPES = ("Solid",)
MULTI_SOLID_TYPES = ("MultiSolid", "CompositeSolid")
SKIPPED_TYPES = ("MultiPoint", "MultiLineString")

Surfaces = list[list[list[int]]]


@dataclass
class _Context:
    """What every object of one file (or one CityJSONSeq feature) shares."""

    scale: Vertices
    translate: Vertices
    templates: list[dict[str, Any]] = field(default_factory=list)
    template_vertices: Vertices = field(default_factory=lambda: np.zeros((0, 3)))
    issues: list[Issue] = field(default_factory=list)


def read_cityjson(data: bytes | Path, name: str = "", default_crs: Crs | None = None) -> Scene:
    """Read a CityJSON file (or CityJSONSeq) into a Scene in its local ENU frame."""
    text = decode_text(as_bytes(data), FORMAT)
    doc, features = _load(text)
    context = _context(doc)
    scene = Scene(source_crs=Crs(), origin=(0.0, 0.0, 0.0))
    scene.metadata.update(_metadata(doc, scene))
    crs = _declared_crs(doc, scene)
    links: dict[str, dict[str, Any]] = {}
    chunks = [(doc.get("CityObjects", {}), doc.get("vertices", []), "vertices")]
    chunks += [(f["CityObjects"], f.get("vertices", []), f"feature {n}") for n, f in features]
    for objects, raw_vertices, where in chunks:
        vertices = _vertices(raw_vertices, context, where)
        for oid, city_object in objects.items():
            _read_object(scene, context, str(oid), city_object, vertices, links)
    scene.issues.extend(context.issues)
    _link(scene, links)
    declared = crs if crs is not None else default_crs
    georeference(scene, declared, location="metadata.referenceSystem",
                 warn_missing=_reference(doc) is None)
    if crs is None and default_crs is not None:
        scene.issues.append(
            issue("metadata.referenceSystem", "cim.io.assumed_crs", "warning",
                  crs=default_crs.label)
        )
    finish_scene(scene)
    return scene


# --- document --------------------------------------------------------------------------------


def _parse_json(text: str, line_offset: int = 0) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        location = f"line {exc.lineno + line_offset}, column {exc.colno}"
        raise CimFormatError(location, exc.msg, fmt=FORMAT) from exc


def _load(text: str) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """The CityJSON document and, for CityJSONSeq, its numbered CityJSONFeature lines."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            location = f"line {exc.lineno}, column {exc.colno}"
            raise CimFormatError(location, exc.msg, fmt=FORMAT) from exc
        return _load_sequence(text)
    _check_root(doc, "line 1")
    return doc, []


def _load_sequence(text: str) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    first_line, first = lines[0]
    doc = _parse_json(first, first_line - 1)
    _check_root(doc, f"line {first_line}")
    features: list[tuple[int, dict[str, Any]]] = []
    for number, line in lines[1:]:
        feature = _parse_json(line, number - 1)
        if not isinstance(feature, dict) or feature.get("type") != "CityJSONFeature":
            raise CimFormatError(f"line {number}", "expected a CityJSONFeature", fmt=FORMAT)
        if not isinstance(feature.get("CityObjects"), dict):
            raise CimFormatError(f"line {number}", "CityObjects missing", fmt=FORMAT)
        features.append((number, feature))
    return doc, features


def _check_root(doc: Any, location: str) -> None:
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise CimFormatError(location, 'not a CityJSON document (type must be "CityJSON")',
                             fmt=FORMAT)
    if not isinstance(doc.get("CityObjects"), dict):
        raise CimFormatError("CityObjects", "CityObjects must be an object", fmt=FORMAT)
    if not isinstance(doc.get("vertices", []), list):
        raise CimFormatError("vertices", "vertices must be an array", fmt=FORMAT)


def _metadata(doc: dict[str, Any], scene: Scene) -> dict[str, Any]:
    version = str(doc.get("version", ""))
    if version not in VERSIONS:
        scene.issues.append(
            issue("version", "cim.io.unsupported_version", "warning", version=version,
                  format=FORMAT)
        )
    meta = _meta(doc)
    found: dict[str, Any] = {"format": "cityjson", "version": version}
    for key in ("title", "identifier", "referenceDate", "referenceSystem", "geographicalExtent"):
        if key in meta:
            found[key] = meta[key]
    return found


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _reference(doc: dict[str, Any]) -> Any:
    meta = _meta(doc)
    return meta.get("referenceSystem") or meta.get("crs") or None


def _declared_crs(doc: dict[str, Any], scene: Scene) -> Crs | None:
    reference = _reference(doc)
    if not reference:
        return None
    try:
        return parse_crs(str(reference))
    except CrsError as exc:
        scene.issues.append(issue("metadata.referenceSystem", exc.code, "error", **exc.params))
        return None


def _context(doc: dict[str, Any]) -> _Context:
    transform = doc.get("transform")
    scale, translate = np.ones(3), np.zeros(3)
    if transform is not None:
        try:
            scale = np.asarray(transform["scale"], dtype=np.float64).reshape(3)
            translate = np.asarray(transform["translate"], dtype=np.float64).reshape(3)
        except (KeyError, TypeError, ValueError) as exc:
            raise CimFormatError("transform", "transform needs scale and translate [x, y, z]",
                                 fmt=FORMAT) from exc
    context = _Context(scale=scale, translate=translate)
    templates = doc.get("geometry-templates")
    if isinstance(templates, dict):
        context.templates = list(templates.get("templates", []))
        context.template_vertices = _array(
            templates.get("vertices-templates", []), "geometry-templates"
        )
    return context


def _array(raw: Any, where: str) -> Vertices:
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CimFormatError(where, "vertices must be [x, y, z] numbers", fmt=FORMAT) from exc
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise CimFormatError(where, "vertices must be [x, y, z] numbers", fmt=FORMAT)
    return arr


def _vertices(raw: Any, context: _Context, where: str) -> Vertices:
    return _array(raw, where) * context.scale + context.translate


# --- objects ---------------------------------------------------------------------------------


def _kind(scene: Scene, oid: str, type_name: str) -> ObjectKind:
    if type_name in KIND_OF_TYPE:
        return KIND_OF_TYPE[type_name]
    if type_name not in OTHER_TYPES and not type_name.startswith("+"):
        scene.issues.append(
            issue(f"object '{oid}'", "cim.io.unknown_type", "error", type=type_name, id=oid)
        )
    return ObjectKind.other


def _read_object(
    scene: Scene,
    context: _Context,
    oid: str,
    city_object: Any,
    vertices: Vertices,
    links: dict[str, dict[str, Any]],
) -> None:
    location = f"object '{oid}'"
    if not isinstance(city_object, dict):
        scene.issues.append(issue(location, "cim.io.bad_object", "error", id=oid))
        return
    if oid in scene.objects:
        scene.issues.append(issue(location, "cim.io.duplicate_id", "error", id=oid))
        return
    type_name = str(city_object.get("type", ""))
    attributes = dict(city_object.get("attributes") or {})
    if "address" in city_object:
        attributes.setdefault("address", city_object["address"])
    obj = SceneObject(
        id=oid,
        kind=_kind(scene, oid, type_name),
        name=_text(first_value(attributes, NAME_KEYS)),
        attributes=attributes,
        source_type=type_name,
        height=to_float(first_value(attributes, HEIGHT_KEYS)),
        storey_index=to_int(first_value(attributes, STOREY_KEYS)),
        elevation=to_float(first_value(attributes, ELEVATION_KEYS)),
    )
    for number, geometry in enumerate(city_object.get("geometry") or []):
        parsed = _geometry(context, geometry, vertices, f"{location} geometry {number}")
        if parsed is not None:
            obj.geometry.append(parsed)
    scene.add(obj)
    links[oid] = {
        "parents": list(city_object.get("parents") or []),
        "children": list(city_object.get("children") or []),
        "type": type_name,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _link(scene: Scene, links: dict[str, dict[str, Any]]) -> None:
    """Set each object's parent (groups become attributes) and check the links exist."""
    child_of: dict[str, str] = {}
    for oid, link in links.items():
        for child in link["children"]:
            if child not in scene.objects:
                scene.issues.append(
                    issue(f"object '{oid}'", "cim.io.missing_child", "error", id=child)
                )
            elif link["type"] != GROUP:
                child_of.setdefault(child, oid)
    for oid, link in links.items():
        obj = scene.objects[oid]
        groups: list[str] = []
        for parent in link["parents"]:
            if parent not in scene.objects:
                scene.issues.append(
                    issue(f"object '{oid}'", "cim.io.missing_parent", "error", id=parent)
                )
            elif links[parent]["type"] == GROUP:
                groups.append(parent)
            elif obj.parent is None:
                obj.parent = parent
        if obj.parent is None and oid in child_of:
            obj.parent = child_of[oid]
        if groups:
            obj.attributes.setdefault("groups", groups)


# --- geometry --------------------------------------------------------------------------------


def _lod(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _geometry(
    context: _Context, geometry: Any, vertices: Vertices, location: str
) -> Geometry | None:
    if not isinstance(geometry, dict):
        context.issues.append(
            issue(location, "cim.io.bad_geometry", "error", reason="not an object")
        )
        return None
    kind = geometry.get("type")
    try:
        if kind == "GeometryInstance":
            return _instance(context, geometry, vertices, location)
        if kind in SKIPPED_TYPES:
            context.issues.append(
                issue(location, "cim.io.unsupported_geometry", "warning", type=kind)
            )
            return None
        return _boundary_geometry(geometry, vertices)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        context.issues.append(issue(location, "cim.io.bad_geometry", "error", reason=str(exc)))
        return None


def _boundary_geometry(geometry: dict[str, Any], vertices: Vertices) -> Geometry:
    kind = geometry.get("type")
    boundaries = geometry.get("boundaries")
    if not isinstance(boundaries, list):
        raise ValueError("boundaries must be an array")
    values = (geometry.get("semantics") or {}).get("values")
    if kind in SURFACE_TYPES:
        surfaces, flat_values, solid = boundaries, values, False
    elif kind in SOLID_TYPES:
        surfaces = [s for shell in boundaries for s in shell]
        flat_values = _flatten(values, boundaries, 1)
        solid = True
    elif kind in MULTI_SOLID_TYPES:
        surfaces = [s for one in boundaries for shell in one for s in shell]
        flat_values = _flatten(values, boundaries, 2)
        solid = True
    else:
        raise ValueError(f"unknown geometry type {kind!r}")
    semantics = _semantics(geometry.get("semantics"), flat_values, len(surfaces))
    return _compact(_lod(geometry.get("lod")), surfaces, semantics, vertices, solid)


def _flatten(values: Any, boundaries: Any, depth: int) -> list[Any] | None:
    """Semantic values nested like the shells (and solids) of the boundaries, flattened."""
    if values is None:
        return None
    if depth == 1:
        out: list[Any] = []
        for shell, shell_values in zip(boundaries, values, strict=False):
            out.extend(shell_values if shell_values is not None else [None] * len(shell))
        return out
    flat: list[Any] = []
    for one, one_values in zip(boundaries, values, strict=False):
        part = _flatten(one_values, one, 1) if one_values is not None else None
        flat.extend(part if part is not None else [None] * sum(len(s) for s in one))
    return flat


def _semantics(semantics: Any, values: list[Any] | None, count: int) -> list[str | None]:
    if not isinstance(semantics, dict) or values is None:
        return [None] * count
    kinds = semantics.get("surfaces") or []
    found: list[str | None] = []
    for value in values[:count]:
        if isinstance(value, int) and 0 <= value < len(kinds) and isinstance(kinds[value], dict):
            found.append(str(kinds[value].get("type")))
        else:
            found.append(None)
    return found + [None] * (count - len(found))


def _compact(
    lod: str,
    surfaces: Surfaces,
    semantics: list[str | None],
    vertices: Vertices,
    solid: bool,
) -> Geometry:
    """A Geometry holding only the vertices its rings use, renumbered from 0."""
    flat = [i for surface in surfaces for ring in surface for i in ring]
    if any(not isinstance(i, int) or isinstance(i, bool) for i in flat):
        raise ValueError("vertex indices must be integers")
    used = np.unique(np.asarray(flat, dtype=np.int64)) if flat else np.zeros(0, dtype=np.int64)
    if len(used) and (used[0] < 0 or used[-1] >= len(vertices)):
        bad = int(used[-1] if used[-1] >= len(vertices) else used[0])
        raise IndexError(f"vertex index {bad} out of range (0..{len(vertices) - 1})")
    lookup = {int(old): new for new, old in enumerate(used)}
    rings = [[[lookup[i] for i in ring] for ring in surface] for surface in surfaces]
    return Geometry(
        lod=lod,
        vertices=np.ascontiguousarray(vertices[used], dtype=np.float64),
        surfaces=rings,
        semantics=semantics,
        solid=solid,
    )


def _instance(
    context: _Context, geometry: dict[str, Any], vertices: Vertices, location: str
) -> Geometry | None:
    index = int(geometry["template"])
    if not 0 <= index < len(context.templates):
        context.issues.append(issue(location, "cim.io.bad_template", "error", index=index))
        return None
    template = _boundary_geometry(context.templates[index], context.template_vertices)
    matrix = np.asarray(geometry.get("transformationMatrix", np.eye(4).ravel()), dtype=np.float64)
    reference = vertices[int(geometry["boundaries"][0])]
    local = np.column_stack([template.vertices, np.ones(len(template.vertices))])
    moved = (local @ matrix.reshape(4, 4).T)[:, :3] + reference
    template.vertices = np.ascontiguousarray(moved)
    return template
