"""CityGML 1.0/2.0/3.0 importer (lxml, entities and network disabled).

Buildings and their parts, 2.0 rooms (Room), 3.0 subdivisions (Storey, BuildingUnit) and rooms
(BuildingRoom), installations and furniture, plus city furniture, roads and other top-level
features. Geometry comes from lodN Solid/MultiSurface/Geometry properties and from thematic
surfaces (RoofSurface, WallSurface, ... and their openings) that also carry the semantics;
polygons may be referenced by xlink:href anywhere in the file and reversed by
OrientableSurface. Problems are reported with their line numbers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from shequ.cim.io.crs import CrsError, georeference, parse_crs
from shequ.cim.io.read import (
    CimFormatError,
    as_bytes,
    finish_scene,
    first_value,
    issue,
    to_float,
    to_int,
)
from shequ.cim.io.scene import Crs, Geometry, Issue, ObjectKind, Scene, SceneObject, Vertices

FORMAT = "CityGML"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
GML_NAMESPACES = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
CITYGML_NS = re.compile(r"^http://www\.opengis\.net/citygml(?:/(?P<module>[a-z]+))?/(?P<v>\d\.\d)$")
GEOMETRY_PROPERTY = re.compile(
    r"^lod(?P<lod>[0-4])(?P<what>Solid|MultiSolid|MultiSurface|CompositeSurface|Geometry"
    r"|FootPrint|RoofEdge|ImplicitRepresentation|MultiCurve|TerrainIntersection"
    r"|TerrainIntersectionCurve|Point)$"
)
CURVE_PROPERTIES = ("MultiCurve", "TerrainIntersection", "TerrainIntersectionCurve", "Point")

FEATURES: dict[str, ObjectKind] = {
    "Building": ObjectKind.building,
    "BuildingPart": ObjectKind.building_part,
    "Room": ObjectKind.room,
    "BuildingRoom": ObjectKind.room,
    "Storey": ObjectKind.storey,
    "BuildingUnit": ObjectKind.unit,
    "BuildingInstallation": ObjectKind.other,
    "IntBuildingInstallation": ObjectKind.other,
    "BuildingFurniture": ObjectKind.other,
    "BuildingConstructiveElement": ObjectKind.other,
    "CityFurniture": ObjectKind.facility,
    "Road": ObjectKind.road,
    "Square": ObjectKind.road,
    "OtherConstruction": ObjectKind.structure,
    "Track": ObjectKind.other,
    "Railway": ObjectKind.other,
    "TransportationComplex": ObjectKind.other,
    "GenericCityObject": ObjectKind.other,
    "GenericOccupiedSpace": ObjectKind.other,
    "GenericUnoccupiedSpace": ObjectKind.other,
    "ReliefFeature": ObjectKind.other,
    "TINRelief": ObjectKind.other,
    "CityObjectGroup": ObjectKind.other,
    "Bridge": ObjectKind.other,
    "BridgePart": ObjectKind.other,
    "Tunnel": ObjectKind.other,
    "TunnelPart": ObjectKind.other,
    "LandUse": ObjectKind.other,
    "PlantCover": ObjectKind.other,
    "SolitaryVegetationObject": ObjectKind.other,
    "WaterBody": ObjectKind.other,
}
THEMATIC = frozenset(
    {
        "RoofSurface", "WallSurface", "GroundSurface", "ClosureSurface", "FloorSurface",
        "InteriorWallSurface", "CeilingSurface", "OuterCeilingSurface", "OuterFloorSurface",
        "TrafficArea", "AuxiliaryTrafficArea", "Marking", "HoleSurface", "WaterSurface",
        "WaterGroundSurface", "WaterClosureSurface", "Window", "Door", "WindowSurface",
        "DoorSurface",
    }
)  # fmt: skip
SEMANTIC_NAME = {"WindowSurface": "Window", "DoorSurface": "Door"}
SUBDIVISIONS = ("BuildingUnit", "Storey")  # later ones win when both reference a room
SKIPPED_PROPERTIES = frozenset({"boundedBy", "appearance", "externalReference", "lod"})
GENERIC_TYPES = {"int": int, "double": float, "measure": float}
STOREY_KEYS = ("storeyNumber", "storey_number", "floorNumber", "floor", "楼层")
ELEVATION_KEYS = ("elevation", "storeyElevation", "标高")
NAME_KEYS = ("name", "名称")
UNIT_SCALE = {"mm": 0.001, "cm": 0.01, "dm": 0.1, "km": 1000.0, "ft": 0.3048, "[ft_i]": 0.3048}

Rings = list[Vertices]


# --- XML helpers -----------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _namespace(el: etree._Element) -> str:
    return etree.QName(el).namespace or "" if isinstance(el.tag, str) else ""


def _is_gml(el: etree._Element) -> bool:
    return _namespace(el) in GML_NAMESPACES


def _module(el: etree._Element) -> str | None:
    """The CityGML module of an element ("" for core, "building", ...), None if not CityGML."""
    match = CITYGML_NS.match(_namespace(el))
    return None if match is None else (match.group("module") or "")


def _gml_id(el: etree._Element) -> str | None:
    for ns in GML_NAMESPACES:
        value = el.get(f"{{{ns}}}id")
        if value:
            return value
    return None


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _where(el: etree._Element) -> str:
    return f"line {el.sourceline}"


def _typed(text: str) -> Any:
    value = text.strip()
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


# --- reading -----------------------------------------------------------------------------------


@dataclass
class _Thematic:
    """Polygons of a thematic surface (or opening) at one LoD, with their semantic name."""

    lod: str
    semantic: str
    polygons: list[tuple[etree._Element, Rings]]


@dataclass
class _Reader:
    """State of one CityGML document being read."""

    root: etree._Element
    scene: Scene
    ids: dict[str, etree._Element] = field(default_factory=dict)
    references: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    sort_keys: dict[str, float] = field(default_factory=dict)
    dimension: int | None = None
    srs_seen: bool = False
    issues: list[Issue] = field(default_factory=list)

    def add_issue(self, el: etree._Element, key: str, severity: str = "error", **p: Any) -> None:
        """Record an issue at an element's line."""
        self.issues.append(issue(_where(el), key, severity, **p))


def read_citygml(data: bytes | Path, name: str = "", default_crs: Crs | None = None) -> Scene:
    """Read a CityGML file into a Scene in its local ENU frame."""
    root = _parse(as_bytes(data))
    if _local(root) != "CityModel" and _local(root) not in FEATURES:
        raise CimFormatError(_where(root), f"not a CityGML CityModel (root <{_local(root)}>)",
                             fmt=FORMAT)
    scene = Scene(source_crs=Crs(), origin=(0.0, 0.0, 0.0))
    reader = _Reader(root=root, scene=scene)
    reader.ids = _index_ids(root)
    reader.dimension = _default_dimension(root)
    scene.metadata.update(_metadata(root))
    members = [root] if _local(root) in FEATURES else list(_members(root))
    for member in members:
        _read_feature(reader, member, None)
    _apply_references(reader)
    _order_by_sort_key(reader)
    scene.issues.extend(reader.issues)
    crs = _declared_crs(reader)
    georeference(scene, crs if crs is not None else default_crs, location="srsName",
                 authority_order=True, warn_missing=not reader.srs_seen)
    if crs is None and default_crs is not None:
        scene.issues.append(issue("srsName", "cim.io.assumed_crs", "warning",
                                  crs=default_crs.label))
    finish_scene(scene)
    return scene


def _parse(raw: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
        remove_comments=True, remove_pis=True,
    )  # fmt: skip
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else 0)
        raise CimFormatError(f"line {line}", str(exc.msg or exc), fmt=FORMAT) from exc
    if root is None:
        raise CimFormatError("line 1", "empty document", fmt=FORMAT)
    return root


def _index_ids(root: etree._Element) -> dict[str, etree._Element]:
    ids: dict[str, etree._Element] = {}
    for ns in GML_NAMESPACES:
        for el in root.iterfind(f".//*[@{{{ns}}}id]"):
            ids.setdefault(el.get(f"{{{ns}}}id"), el)
    return ids


def _default_dimension(root: etree._Element) -> int | None:
    first = next(iter(root.iterfind(".//*[@srsDimension]")), None)
    value = first.get("srsDimension") if first is not None else None
    return int(value) if value and value.strip().isdigit() else None


def _members(root: etree._Element) -> Iterator[etree._Element]:
    for prop in _children(root):
        if _local(prop) in ("cityObjectMember", "featureMember", "member", "featureMembers"):
            yield from _children(prop)


def _metadata(root: etree._Element) -> dict[str, Any]:
    found: dict[str, Any] = {"format": "citygml"}
    match = CITYGML_NS.match(_namespace(root))
    if match:
        found["version"] = match.group("v")
    for child in _children(root):
        if _is_gml(child) and _local(child) == "name" and child.text:
            found["title"] = child.text.strip()
    return found


def _declared_crs(reader: _Reader) -> Crs | None:
    names: list[tuple[str, etree._Element]] = []
    seen: set[str] = set()
    for el in reader.root.iterfind(".//*[@srsName]"):
        value = el.get("srsName") or ""
        if value and value not in seen:
            seen.add(value)
            names.append((value, el))
    if not names:
        return None
    reader.srs_seen = True
    parsed: list[Crs] = []
    for value, el in names:
        try:
            parsed.append(parse_crs(value))
        except CrsError as exc:
            reader.scene.issues.append(issue(_where(el), exc.code, "error", **exc.params))
    distinct = {(c.epsg, c.vertical_epsg, c.wkt) for c in parsed}
    if len(distinct) > 1:
        reader.scene.issues.append(
            issue(_where(names[1][1]), "cim.io.mixed_srs", "warning", crs=parsed[0].label)
        )
    return parsed[0] if parsed else None


# --- features ---------------------------------------------------------------------------------


def _feature_kind(el: etree._Element, top_level: bool) -> ObjectKind | None:
    name = _local(el)
    if name in FEATURES and _module(el) is not None:
        return FEATURES[name]
    if top_level:
        return ObjectKind.other  # an ADE feature or one of a module we do not map
    return None


def _read_feature(reader: _Reader, el: etree._Element, parent: str | None) -> None:
    kind = _feature_kind(el, parent is None)
    if kind is None:
        return
    oid = _gml_id(el) or f"{_local(el)}-line{el.sourceline}"
    if oid in reader.scene.objects:
        reader.add_issue(el, "cim.io.duplicate_id", id=oid)
        return
    obj = SceneObject(id=oid, kind=kind, parent=parent, source_type=_local(el))
    reader.scene.add(obj)
    if parent is None and _module(el) is None:
        reader.add_issue(el, "cim.io.unmapped_feature", "warning", type=_local(el), id=oid)
    own: list[tuple[str, bool, list[tuple[etree._Element, Rings]]]] = []
    thematic: list[_Thematic] = []
    for prop in _children(el):
        _read_property(reader, obj, prop, own, thematic)
    obj.geometry = _assemble(own, thematic)
    _derive_fields(obj)


def _read_property(
    reader: _Reader,
    obj: SceneObject,
    prop: etree._Element,
    own: list[tuple[str, bool, list[tuple[etree._Element, Rings]]]],
    thematic: list[_Thematic],
) -> None:
    name = _local(prop)
    geometry = GEOMETRY_PROPERTY.match(name)
    if geometry:
        _read_geometry_property(reader, obj, prop, geometry, own)
        return
    if name == "tin":
        lod = prop.getparent().findtext("{*}lod") if prop.getparent() is not None else None
        own.append(((lod or "1").strip(), False, list(_polygons(reader, prop, False, set()))))
        return
    if _is_gml(prop):
        _read_gml_property(obj, prop)
        return
    kids = _children(prop)
    if any(_local(k) in THEMATIC for k in kids):
        for kid in kids:
            if _local(kid) in THEMATIC:
                _collect_thematic(reader, kid, thematic)
        return
    if any(_feature_kind(k, False) is not None for k in kids):
        for kid in kids:
            _read_feature(reader, kid, obj.id)
        return
    _read_attribute(reader, obj, prop, kids)


def _read_geometry_property(
    reader: _Reader,
    obj: SceneObject,
    prop: etree._Element,
    match: re.Match[str],
    own: list[tuple[str, bool, list[tuple[etree._Element, Rings]]]],
) -> None:
    what = match.group("what")
    if what in CURVE_PROPERTIES:
        return
    if what == "ImplicitRepresentation":
        reader.add_issue(prop, "cim.io.unsupported_geometry", "warning", type=what)
        return
    polygons = list(_polygons(reader, prop, False, set()))
    solid = what in ("Solid", "MultiSolid") or any(
        _local(d) in ("Solid", "CompositeSolid", "MultiSolid") for d in prop.iter("{*}*")
    )
    if polygons:
        own.append((match.group("lod"), solid, polygons))


def _read_gml_property(obj: SceneObject, prop: etree._Element) -> None:
    name = _local(prop)
    text = (prop.text or "").strip()
    if name == "name" and text:
        if obj.name is None:
            obj.name = text
        else:
            obj.attributes.setdefault("names", []).append(text)
    elif name == "description" and text:
        obj.attributes["description"] = text


def _read_attribute(
    reader: _Reader, obj: SceneObject, prop: etree._Element, kids: list[etree._Element]
) -> None:
    name = _local(prop)
    if name in SKIPPED_PROPERTIES:
        return
    if _module(prop) == "generics" or name in ("genericAttribute", "genericAttributeSet"):
        _read_generic(obj.attributes, prop)
        return
    if name == "address":
        text = " ".join(
            el.text.strip()
            for el in prop.iter("{*}*")
            if not _is_gml(el) and el.text and el.text.strip() and el.getparent() is not None
            and not any(_is_gml(a) for a in el.iterancestors())
        )
        if text:
            obj.attributes["address"] = text
        return
    if name == "height" and kids:
        _read_height_3(obj, prop)
        return
    if name == "elevation" and kids:
        value = _first_number(prop, "elevationValue")
        if value is not None:
            obj.attributes["elevation"] = value
        return
    if name == "sortKey":
        value = to_float(prop.text)
        if value is not None:
            reader.sort_keys[obj.id] = value
            obj.attributes["sortKey"] = value
        return
    href = prop.get(XLINK_HREF)
    if href and not kids:
        reader.references.setdefault(obj.id, []).append((name, href.lstrip("#")))
        return
    if not kids and prop.text and prop.text.strip():
        _set_attribute(obj.attributes, name, _simple_value(prop))


def _simple_value(prop: etree._Element) -> Any:
    value = _typed(prop.text or "")
    uom = (prop.get("uom") or "").lstrip("#").rsplit(":", 1)[-1].lower()
    if isinstance(value, int | float) and uom in UNIT_SCALE:
        return float(value) * UNIT_SCALE[uom]
    return value


def _set_attribute(attributes: dict[str, Any], name: str, value: Any) -> None:
    if name not in attributes:
        attributes[name] = value
    elif isinstance(attributes[name], list):
        attributes[name].append(value)
    else:
        attributes[name] = [attributes[name], value]


def _read_generic(attributes: dict[str, Any], prop: etree._Element) -> None:
    """gen:stringAttribute name=.. (2.0) and gen:genericAttribute/gen:StringAttribute (3.0)."""
    nodes = [prop] if prop.get("name") is not None else _children(prop)
    for node in nodes:
        local = _local(node)
        key = node.get("name") or node.findtext("{*}name") or ""
        if local.endswith("AttributeSet") or (not key and _children(node)):
            for child in _children(node):
                _read_generic(attributes, child)
            continue
        text = node.findtext("{*}value")
        if not key or text is None:
            continue
        cast = GENERIC_TYPES.get(local[0].lower() + local[1:].replace("Attribute", ""), str)
        try:
            attributes[key] = cast(text.strip())
        except ValueError:
            attributes[key] = text.strip()


def _read_height_3(obj: SceneObject, prop: etree._Element) -> None:
    """CityGML 3.0 con:height/con:Height: the first measured (or any) value is measuredHeight."""
    value = _first_number(prop, "value")
    if value is None:
        return
    status = (prop.findtext(".//{*}status") or "").strip()
    heights = obj.attributes.setdefault("heights", [])
    heights.append({"value": value, "status": status or None})
    if "measuredHeight" not in obj.attributes or status == "measured":
        obj.attributes["measuredHeight"] = value


def _first_number(prop: etree._Element, local: str) -> float | None:
    for el in prop.iter(f"{{*}}{local}"):
        parts = "".join(el.itertext()).split()
        if parts:
            return to_float(parts[0])
    return None


def _derive_fields(obj: SceneObject) -> None:
    attributes = obj.attributes
    if obj.name is None:
        value = first_value(attributes, NAME_KEYS)
        obj.name = None if value is None else str(value)
    obj.height = to_float(attributes.get("measuredHeight"))
    obj.storey_index = to_int(first_value(attributes, STOREY_KEYS))
    obj.elevation = to_float(first_value(attributes, ELEVATION_KEYS))


def _apply_references(reader: _Reader) -> None:
    """Storeys and units that reference rooms (xlink) become those rooms' parents."""
    objects = reader.scene.objects
    for source_type in SUBDIVISIONS:
        for oid, refs in reader.references.items():
            holder = objects[oid]
            if holder.source_type != source_type:
                continue
            for _, target in refs:
                child = objects.get(target)
                if child is not None and child.kind == ObjectKind.room:
                    child.parent = oid


def _order_by_sort_key(reader: _Reader) -> None:
    """Storeys with a 3.0 sortKey and no other numbering are numbered 1, 2, ... in that order."""
    groups: dict[str | None, list[SceneObject]] = defaultdict(list)
    for oid in reader.sort_keys:
        obj = reader.scene.objects[oid]
        if obj.kind == ObjectKind.storey and obj.storey_index is None and obj.elevation is None:
            groups[obj.parent].append(obj)
    for storeys in groups.values():
        storeys.sort(key=lambda s: reader.sort_keys[s.id])
        for number, storey in enumerate(storeys, start=1):
            storey.storey_index = number


# --- thematic surfaces and geometry -----------------------------------------------------------


def _collect_thematic(reader: _Reader, el: etree._Element, sink: list[_Thematic]) -> None:
    semantic = SEMANTIC_NAME.get(_local(el), _local(el))
    for prop in _children(el):
        match = GEOMETRY_PROPERTY.match(_local(prop))
        if match and match.group("what") not in CURVE_PROPERTIES:
            polygons = list(_polygons(reader, prop, False, set()))
            if polygons:
                sink.append(_Thematic(match.group("lod"), semantic, polygons))
            continue
        for kid in _children(prop):
            if _local(kid) in THEMATIC:
                _collect_thematic(reader, kid, sink)


def _assemble(
    own: list[tuple[str, bool, list[tuple[etree._Element, Rings]]]],
    thematic: list[_Thematic],
) -> list[Geometry]:
    """Own geometries take semantics from thematic polygons they share; the rest stay apart."""
    semantic_of: dict[etree._Element, str] = {}
    for part in thematic:
        for poly, _ in part.polygons:
            semantic_of[poly] = part.semantic
    used: set[etree._Element] = set()
    geometries: list[Geometry] = []
    for lod, solid, polygons in own:
        used.update(p for p, _ in polygons)
        semantics = [semantic_of.get(p) for p, _ in polygons]
        geometries.append(_geometry(lod, [r for _, r in polygons], semantics, solid))
    leftovers: dict[str, tuple[list[Rings], list[str | None]]] = {}
    for part in thematic:
        for poly, rings in part.polygons:
            if poly in used:
                continue
            surfaces, semantics = leftovers.setdefault(part.lod, ([], []))
            surfaces.append(rings)
            semantics.append(part.semantic)
    for lod, (surfaces, semantics) in sorted(leftovers.items()):
        geometries.append(_geometry(lod, surfaces, semantics, False))
    return geometries


def _geometry(
    lod: str, surfaces: list[Rings], semantics: list[str | None], solid: bool
) -> Geometry:
    """Merge identical vertices and number the rings into one Geometry."""
    stacked = [ring for rings in surfaces for ring in rings]
    if not stacked:
        return Geometry(lod=lod, vertices=np.zeros((0, 3)), surfaces=[], semantics=[], solid=solid)
    allpoints = np.concatenate(stacked)
    unique, inverse = np.unique(np.round(allpoints, 6), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    indexed: list[list[list[int]]] = []
    at = 0
    for rings in surfaces:
        surface: list[list[int]] = []
        for ring in rings:
            surface.append([int(i) for i in inverse[at : at + len(ring)]])
            at += len(ring)
        indexed.append(surface)
    return Geometry(lod=lod, vertices=unique.astype(np.float64), surfaces=indexed,
                    semantics=semantics, solid=solid)


def _polygons(
    reader: _Reader, el: etree._Element, flip: bool, stack: set[int]
) -> Iterator[tuple[etree._Element, Rings]]:
    """Every polygon below an element (following xlinks), as (element, rings)."""
    name = _local(el)
    if name in ("Polygon", "Triangle", "Rectangle", "PolygonPatch"):
        rings = _rings(reader, el)
        if rings:
            yield el, [r[::-1] for r in rings] if flip else rings
        return
    if name in ("LineString", "Curve", "MultiCurve", "Point", "MultiPoint", "CompositeCurve"):
        return
    if name == "OrientableSurface" and el.get("orientation") == "-":
        flip = not flip
    href = el.get(XLINK_HREF)
    if href and not _children(el):
        target = reader.ids.get(href.lstrip("#"))
        if target is None:
            reader.add_issue(el, "cim.io.unresolved_href", href=href)
            return
        if id(target) in stack:
            return
        stack = stack | {id(target)}
        yield from _polygons(reader, target, flip, stack)
        return
    for child in _children(el):
        yield from _polygons(reader, child, flip, stack)


def _rings(reader: _Reader, polygon: etree._Element) -> Rings:
    rings: Rings = []
    for boundary in _children(polygon):
        if _local(boundary) not in ("exterior", "interior", "outerBoundaryIs", "innerBoundaryIs"):
            continue
        for ring_el in _children(boundary):
            ring = _ring(reader, ring_el)
            if ring is None:
                continue
            if _local(boundary) in ("exterior", "outerBoundaryIs"):
                rings.insert(0, ring)
            else:
                rings.append(ring)
    return rings


def _ring(reader: _Reader, ring_el: etree._Element) -> Vertices | None:
    """The points of a gml:LinearRing without the repeated closing point."""
    try:
        points = _ring_points(ring_el, reader.dimension)
    except ValueError as exc:
        reader.add_issue(ring_el, "cim.io.bad_coordinates", reason=str(exc))
        return None
    if len(points) > 1 and np.allclose(points[0], points[-1], rtol=0.0, atol=1e-9):
        points = points[:-1]
    if len(points) < 3:
        reader.add_issue(ring_el, "cim.io.degenerate_ring", "warning", count=len(points))
        return None
    return points


def _ring_points(ring_el: etree._Element, default_dimension: int | None) -> Vertices:
    pos_list = ring_el.find("{*}posList")
    if pos_list is not None:
        values = np.array((pos_list.text or "").split(), dtype=np.float64)
        return _shape(values, _dimension(pos_list, len(values), default_dimension))
    positions = ring_el.findall("{*}pos")
    if positions:
        rows = [np.array((p.text or "").split(), dtype=np.float64) for p in positions]
        return np.array([_pad(r) for r in rows], dtype=np.float64)
    coordinates = ring_el.find("{*}coordinates")
    if coordinates is not None:
        tuples = (coordinates.text or "").split()
        return np.array([_pad(np.array(t.split(","), dtype=np.float64)) for t in tuples])
    raise ValueError("ring without posList, pos or coordinates")


def _pad(row: Vertices) -> Vertices:
    if len(row) == 2:
        return np.array([row[0], row[1], 0.0])
    if len(row) == 3:
        return row
    raise ValueError(f"a position needs 2 or 3 numbers, not {len(row)}")


def _dimension(pos_list: etree._Element, count: int, default: int | None) -> int:
    node: etree._Element | None = pos_list
    while node is not None:
        value = node.get("srsDimension") or node.get("dimension")
        if value and value.strip().isdigit():
            return int(value)
        node = node.getparent()
    if default in (2, 3) and count % default == 0:
        return default
    return 3 if count % 3 == 0 else 2


def _shape(values: Vertices, dimension: int) -> Vertices:
    if dimension not in (2, 3) or len(values) % dimension:
        raise ValueError(f"{len(values)} numbers do not make {dimension}D positions")
    points = values.reshape(-1, dimension)
    if dimension == 2:
        points = np.column_stack([points, np.zeros(len(points))])
    return points
