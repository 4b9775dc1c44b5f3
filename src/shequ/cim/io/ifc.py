"""IFC (IFC2X3, IFC4, IFC4X3) importer through IfcOpenShell.

IfcBuilding → building (with a block "white model" 白模 from its envelope elements),
IfcBuildingStorey → storey (elevation, Chinese floor numbering), IfcSpace → room with its
triangulated geometry in world coordinates. Georeferencing from IfcMapConversion +
IfcProjectedCRS (or the IFC2X3 ePSet_MapConversion), else from IfcSite RefLatitude /
RefLongitude / RefElevation and true north, else a local frame with a warning. A space whose
geometry fails is still imported, with a warning naming it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element
import ifcopenshell.util.geolocation
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from shequ.cim.io.crs import (
    AnchoredSource,
    CrsError,
    CrsSource,
    HelmertSource,
    SourceFrame,
    TransformFailed,
    parse_crs,
    place_scene,
)
from shequ.cim.io.read import CimFormatError, as_bytes, finish_scene, issue
from shequ.cim.io.scene import Crs, Footprint, Geometry, Issue, ObjectKind, Scene, SceneObject

FORMAT = "IFC"
LOD_SPACE = "3"
LOD_BLOCK = "1"
ENVELOPE_TYPES = (
    "IfcWall", "IfcSlab", "IfcRoof", "IfcCurtainWall", "IfcColumn", "IfcBeam", "IfcPlate",
    "IfcMember",
)  # fmt: skip
"""Elements whose plan outline and height make the building block (windows and doors sit in
walls; furniture, stairs, railings and foundations are left out)."""
GROUND_TOLERANCE = 0.3
"""Metres below ±0.000 at which a storey still counts as the ground floor (1F)."""
CLOSE_GAP = 0.05
"""Metres: gaps between envelope elements smaller than this are closed in the footprint."""
SIMPLIFY = 0.01
MIN_AREA = 1e-6
NORMAL_Z = 0.5


@dataclass
class _Shape:
    """A triangulated element in world coordinates (metres)."""

    vertices: np.ndarray
    faces: np.ndarray


@dataclass
class _Context:
    """One IFC model being read."""

    model: ifcopenshell.file
    scene: Scene
    unit: float
    building_of: dict[int, str] = field(default_factory=dict)
    envelope: dict[str, list[Any]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


def read_ifc(data: bytes | Path, name: str = "", default_crs: Crs | None = None) -> Scene:
    """Read an IFC file into a Scene in its local ENU frame."""
    model = _open(data)
    scene = Scene(source_crs=Crs(name="IFC engineering"), origin=(0.0, 0.0, 0.0))
    context = _Context(model, scene, ifcopenshell.util.unit.calculate_unit_scale(model))
    scene.metadata.update(_metadata(model))
    for project in model.by_type("IfcProject"):
        _walk(context, project, None)
    if not scene.of_kind(ObjectKind.building):
        context.issues.append(issue("IfcProject", "cim.io.ifc_no_building", "error"))
    spaces = [e for e in model.by_type("IfcSpace") if e.GlobalId in scene.objects]
    if not spaces:
        context.issues.append(issue("IfcProject", "cim.io.ifc_no_spaces", "warning"))
    shapes = _shapes(context, spaces + [e for els in context.envelope.values() for e in els])
    for space in spaces:
        _room_geometry(context, space, shapes.get(space.id()))
    for building in scene.of_kind(ObjectKind.building):
        _white_model(context, building, shapes)
    _number_storeys(context)
    _top_storey_heights(context)
    _place(context)
    scene.issues.extend(context.issues)
    finish_scene(scene)
    return scene


# --- opening ---------------------------------------------------------------------------------


def _open(data: bytes | Path) -> ifcopenshell.file:
    raw = as_bytes(data)
    if raw[:2] == b"PK":
        raw = _unzip(raw)
    text = raw.decode("utf-8", errors="replace")
    head = text.lstrip("\ufeff \t\r\n")
    if not head.startswith("ISO-10303-21"):
        raise CimFormatError("line 1", "not an IFC (STEP) file: ISO-10303-21 header missing",
                             fmt=FORMAT)
    if "END-ISO-10303-21" not in text[-4096:]:
        raise CimFormatError(f"line {text.count(chr(10)) + 1}",
                             "truncated: END-ISO-10303-21 missing", fmt=FORMAT)
    try:
        model = ifcopenshell.file.from_string(text)
    except (RuntimeError, ValueError) as exc:
        raise CimFormatError("file", str(exc), fmt=FORMAT) from exc
    if not model.by_type("IfcProject"):
        raise CimFormatError("file", "no IfcProject", fmt=FORMAT)
    return model


def _unzip(raw: bytes) -> bytes:
    try:
        with zipfile.ZipFile(BytesIO(raw)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".ifc")]
            if not names:
                raise CimFormatError("archive", "no .ifc file inside the ZIP", fmt=FORMAT)
            return archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise CimFormatError("archive", str(exc), fmt=FORMAT) from exc


def _metadata(model: ifcopenshell.file) -> dict[str, Any]:
    found: dict[str, Any] = {"format": "ifc", "schema": model.schema}
    project = model.by_type("IfcProject")[0]
    if project.Name:
        found["title"] = project.Name
    with contextlib.suppress(AttributeError, RuntimeError):
        found["application"] = model.header.file_name.originating_system
    return found


# --- the spatial tree --------------------------------------------------------------------------


def _decomposed(element: Any) -> Iterator[Any]:
    for rel in getattr(element, "IsDecomposedBy", None) or ():
        yield from rel.RelatedObjects


def _contained(element: Any) -> Iterator[Any]:
    for rel in getattr(element, "ContainsElements", None) or ():
        yield from rel.RelatedElements


def _walk(context: _Context, element: Any, parent: str | None) -> None:
    kind = _kind(element)
    own_id = parent
    if kind is not None:
        obj = _object(context, element, kind, parent)
        if obj is not None:
            own_id = obj.id
    building = context.building_of.get(element.id()) if kind != ObjectKind.building else own_id
    for child in _decomposed(element):
        if building is not None:
            context.building_of[child.id()] = building
        _walk(context, child, own_id)
    if building is not None:
        context.envelope.setdefault(building, []).extend(_envelope(_contained(element)))
        for child in _contained(element):
            if child.is_a("IfcSpace"):
                context.building_of[child.id()] = building
                _walk(context, child, own_id)


def _kind(element: Any) -> ObjectKind | None:
    if element.is_a("IfcBuilding"):
        return ObjectKind.building
    if element.is_a("IfcBuildingStorey"):
        return ObjectKind.storey
    if element.is_a("IfcSpace"):
        return ObjectKind.room
    return None


def _envelope(elements: Iterable[Any]) -> Iterator[Any]:
    """Envelope elements, descending into aggregates (a roof made of slabs)."""
    for element in elements:
        if any(element.is_a(t) for t in ENVELOPE_TYPES):
            yield element
        yield from _envelope(_decomposed(element))


def _object(
    context: _Context, element: Any, kind: ObjectKind, parent: str | None
) -> SceneObject | None:
    oid = element.GlobalId
    if oid in context.scene.objects:
        return None
    long_name = getattr(element, "LongName", None)
    name = element.Name
    obj = SceneObject(
        id=oid,
        kind=kind,
        name=(long_name or name) if kind == ObjectKind.room else (name or long_name),
        parent=parent,
        attributes=_attributes(element),
        source_type=element.is_a(),
    )
    if kind == ObjectKind.storey:
        _storey_elevation(context, element, obj)
    return context.scene.add(obj)


def _attributes(element: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"ifc_id": element.id(), "global_id": element.GlobalId}
    for key in ("Name", "LongName", "Description", "ObjectType"):
        value = getattr(element, key, None)
        if value:
            found[key[0].lower() + key[1:]] = value
    if element.is_a("IfcSpace") and element.Name:
        found["number"] = element.Name
    psets = _json_safe(ifcopenshell.util.element.get_psets(element))
    if psets:
        found["psets"] = psets
    return found


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _storey_elevation(context: _Context, element: Any, obj: SceneObject) -> None:
    """World z of the storey (source metres) and its elevation above the building's ±0.000."""
    world = _placement_z(context, element)
    relative = element.Elevation
    if relative is not None:
        obj.attributes["ifc_elevation"] = round(float(relative) * context.unit, 4)
    if world is not None:
        obj.elevation = world
    elif relative is not None:
        obj.elevation = float(relative) * context.unit


def _placement_z(context: _Context, element: Any) -> float | None:
    if element.ObjectPlacement is None:
        return None
    matrix = ifcopenshell.util.placement.get_local_placement(element.ObjectPlacement)
    return float(matrix[2, 3]) * context.unit


def _level(storey: SceneObject) -> float | None:
    value = storey.attributes.get("ifc_elevation", storey.elevation)
    return None if value is None else float(value)


def _number_storeys(context: _Context) -> None:
    """1F is the lowest storey at or above ±0.000; those below are -1, -2 ..."""
    by_parent: dict[str | None, list[SceneObject]] = {}
    for storey in context.scene.of_kind(ObjectKind.storey):
        by_parent.setdefault(storey.parent, []).append(storey)
    for storeys in by_parent.values():
        levels = [_level(s) for s in storeys]
        known = [(level, s) for level, s in zip(levels, storeys, strict=True) if level is not None]
        if len(known) < len(storeys):
            for number, storey in enumerate(storeys, start=1):
                storey.storey_index = number
            continue
        ordered = sorted(known, key=lambda pair: pair[0])
        above = [s for level, s in ordered if level >= -GROUND_TOLERANCE]
        below = [s for level, s in ordered if level < -GROUND_TOLERANCE]
        for number, storey in enumerate(above, start=1):
            storey.storey_index = number
        for number, storey in enumerate(reversed(below), start=1):
            storey.storey_index = -number
        for (_, lower), (_, upper) in itertools.pairwise(ordered):
            if lower.elevation is not None and upper.elevation is not None:
                lower.height = round(upper.elevation - lower.elevation, 4)


def _top_storey_heights(context: _Context) -> None:
    """The highest storey of a building reaches up to the top of its white model."""
    for building in context.scene.of_kind(ObjectKind.building):
        if building.footprint is None:
            continue
        top = building.footprint.base + building.footprint.height
        storeys = [s for s in context.scene.children(building.id) if s.kind == ObjectKind.storey]
        highest = max(storeys, key=lambda s: s.elevation or 0.0, default=None)
        if highest is None or highest.height is not None or highest.elevation is None:
            continue
        if top > highest.elevation:
            highest.height = round(top - highest.elevation, 4)


# --- geometry -----------------------------------------------------------------------------------


def _settings() -> ifcopenshell.geom.settings:
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("disable-opening-subtractions", True)
    return settings


def _shapes(context: _Context, elements: list[Any]) -> dict[int, _Shape]:
    """Triangulate elements (one pass); failures are simply missing from the result."""
    wanted = [e for e in elements if getattr(e, "Representation", None) is not None]
    if not wanted:
        return {}
    shapes: dict[int, _Shape] = {}
    try:
        iterator = ifcopenshell.geom.iterator(_settings(), context.model, 1, include=wanted)
        if iterator.initialize():
            while True:
                _keep(shapes, iterator.get())
                if not iterator.next():
                    break
    except (RuntimeError, ValueError):
        shapes.clear()
        _shapes_one_by_one(context, wanted, shapes)
    return shapes


def _shapes_one_by_one(context: _Context, elements: list[Any], shapes: dict[int, _Shape]) -> None:
    settings = _settings()
    for element in elements:
        try:
            _keep(shapes, ifcopenshell.geom.create_shape(settings, element))
        except (RuntimeError, ValueError):
            continue


def _keep(shapes: dict[int, _Shape], shape: Any) -> None:
    vertices = np.asarray(shape.geometry.verts, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(shape.geometry.faces, dtype=np.int64).reshape(-1, 3)
    if len(vertices) and len(faces):
        shapes[int(shape.id)] = _Shape(vertices, faces)


def _room_geometry(context: _Context, space: Any, shape: _Shape | None) -> None:
    obj = context.scene.objects[space.GlobalId]
    label = f"#{space.id()} IfcSpace '{space.Name or space.GlobalId}'"
    if shape is None:
        missing = space.Representation is None
        key = "cim.io.ifc_no_geometry" if missing else "cim.io.ifc_bad_geometry"
        context.issues.append(issue(label, key, "warning", name=obj.name or space.GlobalId))
        return
    normals = _normals(shape)
    semantics: list[str | None] = [
        "FloorSurface" if nz < -NORMAL_Z else "CeilingSurface" if nz > NORMAL_Z
        else "InteriorWallSurface"
        for nz in normals[:, 2]
    ]  # fmt: skip
    obj.geometry.append(
        Geometry(
            lod=LOD_SPACE,
            vertices=shape.vertices,
            surfaces=[[[int(a), int(b), int(c)]] for a, b, c in shape.faces],
            semantics=semantics,
            solid=True,
        )
    )
    floor = _projected_area(shape, normals[:, 2] < -NORMAL_Z)
    if floor > 0:
        obj.attributes["floor_area"] = round(floor, 3)


def _normals(shape: _Shape) -> np.ndarray:
    a, b, c = (shape.vertices[shape.faces[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    length = np.linalg.norm(cross, axis=1, keepdims=True)
    return np.asarray(cross / np.where(length == 0, 1.0, length))


def _projected_area(shape: _Shape, mask: np.ndarray) -> float:
    a, b, c = (shape.vertices[shape.faces[mask][:, i]] for i in range(3))
    return float(np.abs(np.cross(b - a, c - a)[:, 2]).sum() / 2)


def _white_model(context: _Context, building: SceneObject, shapes: dict[int, _Shape]) -> None:
    """A block (LoD1) from the plan outline of the envelope (or rooms) and their z range."""
    parts = [shapes[e.id()] for e in context.envelope.get(building.id, []) if e.id() in shapes]
    if not parts:
        parts = [
            shapes[e.id()] for e in context.model.by_type("IfcSpace")
            if e.id() in shapes and context.building_of.get(e.id()) == building.id
        ]  # fmt: skip
    if not parts:
        context.issues.append(
            issue(f"IfcBuilding '{building.name or building.id}'", "cim.io.ifc_no_extent",
                  "warning")
        )
        return
    outline = _outline(parts)
    if outline is None:
        return
    z = np.concatenate([p.vertices[:, 2] for p in parts])
    base, top = float(z.min()), float(z.max())
    rings = [list(outline.exterior.coords)[:-1]] + [list(i.coords)[:-1] for i in outline.interiors]
    rings2d = [[(float(x), float(y)) for x, y, *_ in ring] for ring in rings]
    building.geometry.append(prism(rings2d, base, top))
    building.footprint = Footprint(rings=rings2d, base=base, height=round(top - base, 4))


def _outline(parts: list[_Shape]) -> Polygon | None:
    """The largest polygon of the union of every triangle's plan projection."""
    triangles = np.concatenate([p.vertices[p.faces][:, :, :2] for p in parts])
    u, v = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    area = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    triangles = triangles[area > MIN_AREA]
    if not len(triangles):
        return None
    merged = shapely.union_all(shapely.polygons(triangles))
    merged = merged.buffer(CLOSE_GAP, join_style="mitre").buffer(-CLOSE_GAP, join_style="mitre")
    merged = merged.simplify(SIMPLIFY)
    polygons = list(merged.geoms) if isinstance(merged, MultiPolygon) else [merged]
    polygons = [p for p in polygons if isinstance(p, Polygon) and not p.is_empty]
    if not polygons:
        return None
    return shapely.geometry.polygon.orient(max(polygons, key=lambda p: p.area))


def prism(rings: list[list[tuple[float, float]]], base: float, top: float) -> Geometry:
    """A closed LoD1 block: a footprint (outer ring CCW, holes CW) extruded from base to top."""
    vertices: list[tuple[float, float, float]] = []
    bottom: list[list[int]] = []
    upper: list[list[int]] = []
    walls: list[list[list[int]]] = []
    for ring in rings:
        start = len(vertices)
        n = len(ring)
        vertices.extend((x, y, base) for x, y in ring)
        vertices.extend((x, y, top) for x, y in ring)
        bottom.append([start + i for i in reversed(range(n))])
        upper.append([start + n + i for i in range(n)])
        for i in range(n):
            j = (i + 1) % n
            walls.append([[start + i, start + j, start + n + j, start + n + i]])
    surfaces = [bottom, upper, *walls]
    semantics: list[str | None] = ["GroundSurface", "RoofSurface"]
    semantics += ["WallSurface"] * len(walls)
    return Geometry(lod=LOD_BLOCK, vertices=np.array(vertices, dtype=np.float64),
                    surfaces=surfaces, semantics=semantics, solid=True)


# --- georeferencing -------------------------------------------------------------------------------


def _place(context: _Context) -> None:
    source = _map_source(context) or _site_source(context)
    if source is None:
        context.issues.append(issue("IfcSite", "cim.io.ifc_no_georef", "warning"))
    try:
        place_scene(context.scene, source)
    except TransformFailed as exc:
        context.issues.append(issue("IfcMapConversion", exc.code, "error", **exc.params))
        place_scene(context.scene, None)


def _map_source(context: _Context) -> SourceFrame | None:
    """IfcMapConversion (IFC4+) or ePSet_MapConversion (IFC2X3) with a known map CRS."""
    model = context.model
    try:
        helmert = ifcopenshell.util.geolocation.get_helmert_transformation_parameters(model)
        target = ifcopenshell.util.geolocation.get_crs(model) if helmert else None
    except (AttributeError, IndexError, RuntimeError, AssertionError):
        return None
    if helmert is None or not target:
        return None
    name = str(target.get("Name") or "")
    try:
        crs = parse_crs(name)
    except CrsError as exc:
        context.issues.append(issue("IfcProjectedCRS", exc.code, "warning", **exc.params))
        return None
    map_unit = _map_unit_scale(target.get("MapUnit"), context.unit)
    scale = float(helmert.scale or 1.0)
    if abs(map_unit - context.unit) > 1e-12 and abs(scale - 1.0) < 1e-12:
        scale = context.unit / map_unit  # a common omission: Scale left out of a mm project
    return HelmertSource(
        target=CrsSource(crs),
        eastings=float(helmert.e) * map_unit,
        northings=float(helmert.n) * map_unit,
        height=float(helmert.h) * map_unit,
        x_axis=(float(helmert.xaa), float(helmert.xao)),
        scale=scale * map_unit / context.unit,
    )


def _map_unit_scale(unit: Any, project_unit: float) -> float:
    """Metres per map unit (the project length unit when MapUnit is not given)."""
    if unit is None or not hasattr(unit, "is_a"):
        return project_unit
    try:
        return float(ifcopenshell.util.unit.get_unit_scale(unit))
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return project_unit


def _site_source(context: _Context) -> SourceFrame | None:
    """The site's reference latitude/longitude/elevation with the model's true north."""
    for site in context.model.by_type("IfcSite"):
        lat, lon = _angle(site.RefLatitude), _angle(site.RefLongitude)
        if lat is None or lon is None or (lat == 0 and lon == 0):
            continue
        height = float(site.RefElevation or 0.0) * context.unit
        context.issues.append(issue("IfcSite", "cim.io.ifc_site_georef", "warning",
                                    lon=round(lon, 6), lat=round(lat, 6)))
        return AnchoredSource(
            anchor=(lon, lat, height),
            true_north=_true_north(context.model),
            crs=Crs(name=f"IfcSite {lat:.6f}, {lon:.6f}"),
        )
    return None


def _angle(value: Any) -> float | None:
    """An IfcCompoundPlaneAngleMeasure (degrees, minutes, seconds[, millionths]) in degrees."""
    if not value:
        return None
    parts = [float(v) for v in value] + [0.0] * (4 - len(value))
    degrees = parts[0] + parts[1] / 60 + (parts[2] + parts[3] / 1e6) / 3600
    return degrees if math.isfinite(degrees) else None


def _true_north(model: ifcopenshell.file) -> tuple[float, float]:
    for context in model.by_type("IfcGeometricRepresentationContext"):
        if context.is_a("IfcGeometricRepresentationSubContext"):
            continue
        north = getattr(context, "TrueNorth", None)
        if north is not None and north.DirectionRatios:
            ratios = list(north.DirectionRatios)
            return float(ratios[0]), float(ratios[1])
    return (0.0, 1.0)
