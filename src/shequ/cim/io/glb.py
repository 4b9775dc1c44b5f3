"""glTF 2.0 binary (GLB) writing for 3D Tiles content, with numpy and struct only.

`tessellate` turns scene geometries (surfaces of rings) into one triangle mesh with flat
normals and a feature id per vertex; `encode_glb` writes it as one mesh primitive with
`EXT_mesh_features` (feature ids in `_FEATURE_ID_0`) and `EXT_structural_metadata` (a schema
and one property table with a row per feature). Positions are taken in the scene's z-up
local frame and written y-up as glTF requires (x, z, -y), relative to the mesh centre which
becomes the node's translation (float32 keeps millimetres even far from the origin); 3D Tiles
rotates y-up content back to z-up.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mapbox_earcut
import numpy as np
import numpy.typing as npt

from shequ.cim.io.scene import Geometry

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.uint32]

GLB_MAGIC = 0x46546C67  # "glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
ALIGN = 8  # EXT_structural_metadata asks for 8-byte alignment of chunks and buffer views
FLOAT, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
NO_DATA_INT32 = -(2**31)
NO_DATA_FLOAT64 = -1.7976931348623157e308
RESERVED = ("id", "kind", "name", "parent")
_PROPERTY_ID = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EPSILON = 1e-12


@dataclass
class Mesh:
    """Triangles ready for glTF: z-up positions, unit flat normals, feature ids, indices."""

    positions: FloatArray
    normals: FloatArray
    feature_ids: npt.NDArray[np.int64]
    indices: IndexArray

    @property
    def empty(self) -> bool:
        """True when the mesh has no triangle."""
        return len(self.indices) == 0


@dataclass
class _Batch:
    """Surfaces of one tile gathered by shape, with vertex indices into `vertices`."""

    vertices: list[FloatArray] = field(default_factory=list)
    offset: int = 0
    quads: list[list[int]] = field(default_factory=list)
    quad_features: list[int] = field(default_factory=list)
    polygons: list[tuple[list[list[int]], int]] = field(default_factory=list)

    def add(self, geometry: Geometry, feature: int) -> None:
        """Queue every surface of one geometry under one feature id."""
        if len(geometry.vertices) == 0:
            return
        self.vertices.append(np.asarray(geometry.vertices, dtype=np.float64)[:, :3])
        start = self.offset
        self.offset += len(geometry.vertices)
        for surface in geometry.surfaces:
            if not surface or len(surface[0]) < 3:
                continue
            if len(surface) == 1 and len(surface[0]) == 4:
                self.quads.append([i + start for i in surface[0]])
                self.quad_features.append(feature)
            else:
                self.polygons.append(([[i + start for i in r] for r in surface], feature))


def tessellate(features: Sequence[Sequence[Geometry]]) -> Mesh:
    """Triangulate the geometries of each feature (feature id = position in `features`)."""
    batch = _Batch()
    for feature, geometries in enumerate(features):
        for geometry in geometries:
            batch.add(geometry, feature)
    if not batch.vertices:
        return _empty_mesh()
    vertices = np.concatenate(batch.vertices)
    quads, leftovers = _quads(vertices, batch)
    parts = [quads] + [_polygon(vertices, r, f) for r, f in batch.polygons + leftovers]
    return _merge([p for p in parts if p is not None])


def _empty_mesh() -> Mesh:
    """A mesh without triangles."""
    return Mesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.uint32))


def _unit(vectors: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Normalised vectors and a mask of those long enough to normalise."""
    length = np.linalg.norm(vectors, axis=-1)
    good = length > _EPSILON
    safe = np.where(good, length, 1.0)
    return vectors / safe[..., None], good


def _quads(
    vertices: FloatArray, batch: _Batch
) -> tuple[Mesh | None, list[tuple[list[list[int]], int]]]:
    """Fan-triangulate the convex planar quads at once; return the others for earcut."""
    if not batch.quads:
        return None, []
    index = np.asarray(batch.quads, dtype=np.int64)
    features = np.asarray(batch.quad_features, dtype=np.int64)
    points = vertices[index]
    normal, good = _unit(np.cross(points[:, 2] - points[:, 0], points[:, 3] - points[:, 1]))
    edges = np.roll(points, -1, axis=1) - points
    turns = np.einsum("kij,kj->ki", np.cross(edges, np.roll(edges, -1, axis=1)), normal)
    convex = good & np.all(turns > -1e-9, axis=1)
    leftovers = [([index[k].tolist()], int(features[k])) for k in np.flatnonzero(good & ~convex)]
    points, normal, features = points[convex], normal[convex], features[convex]
    fan = np.array([0, 1, 2, 0, 2, 3], dtype=np.int64)
    mesh = Mesh(
        positions=points.reshape(-1, 3),
        normals=np.repeat(normal, 4, axis=0),
        feature_ids=np.repeat(features, 4),
        indices=(fan[None, :] + 4 * np.arange(len(points))[:, None]).reshape(-1).astype(np.uint32),
    )
    return mesh, leftovers


def _polygon(vertices: FloatArray, rings: list[list[int]], feature: int) -> Mesh | None:
    """Triangulate one planar polygon with holes by projecting it to its own plane."""
    rings = [r for r in rings if len(r) >= 3]
    if not rings:
        return None
    points = vertices[np.concatenate([np.asarray(r, dtype=np.int64) for r in rings])]
    outer = points[: len(rings[0])]
    centred = outer - outer.mean(axis=0)
    normal, good = _unit(np.cross(centred, np.roll(centred, -1, axis=0)).sum(axis=0))
    if not good:
        return None
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    u, _ = _unit(np.cross(helper, normal))
    v = np.cross(normal, u)
    plane = np.stack([points @ u, points @ v], axis=1)
    ends = np.cumsum([len(r) for r in rings]).astype(np.uint32)
    triangles = mapbox_earcut.triangulate_float64(plane, ends).astype(np.int64)
    if len(triangles) == 0:
        return None
    return Mesh(
        positions=points,
        normals=np.repeat(normal[None, :], len(points), axis=0),
        feature_ids=np.full(len(points), feature, dtype=np.int64),
        indices=triangles.astype(np.uint32),
    )


def _merge(parts: list[Mesh]) -> Mesh:
    """Concatenate meshes, orient every triangle with its surface normal, drop slivers."""
    if not parts:
        return _empty_mesh()
    offsets = np.cumsum([0] + [len(p.positions) for p in parts])[:-1]
    positions = np.concatenate([p.positions for p in parts])
    normals = np.concatenate([p.normals for p in parts])
    indices = np.concatenate(
        [p.indices.astype(np.int64) + o for p, o in zip(parts, offsets, strict=True)]
    ).reshape(-1, 3)
    corners = positions[indices]
    area = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    facing = np.einsum("ij,ij->i", area, normals[indices[:, 0]])
    indices = np.where((facing < 0)[:, None], indices[:, [0, 2, 1]], indices)
    keep = np.linalg.norm(area, axis=1) > 1e-10
    return Mesh(
        positions=positions,
        normals=normals,
        feature_ids=np.concatenate([p.feature_ids for p in parts]),
        indices=indices[keep].reshape(-1).astype(np.uint32),
    )


# ---------------------------------------------------------------- property table


@dataclass
class Column:
    """One property of the metadata class: its id, original name, type and values."""

    id: str
    name: str
    type: str
    values: list[Any]
    component: str | None = None
    no_data: Any = None


def property_id(key: str, taken: set[str]) -> str:
    """A metadata property id (^[a-zA-Z_][a-zA-Z0-9_]*$) for an attribute key, unique."""
    base = key if _PROPERTY_ID.match(key) and key not in RESERVED else ""
    if not base:
        ascii_part = re.sub(r"[^a-zA-Z0-9_]", "_", key).strip("_")
        base = f"attr_{ascii_part}" if ascii_part else "attr"
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(candidate)
    return candidate


def _text(value: Any) -> str:
    """A property value as text: JSON for containers, str() for the rest."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return str(value)


def _is_number(value: Any) -> bool:
    """True for finite ints and floats (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(float(value))


def _column(prop_id: str, name: str, values: list[Any]) -> Column:
    """Infer the metadata type of one attribute from its values (None = missing)."""
    present = [v for v in values if v is not None]
    missing = len(present) < len(values)
    if present and all(isinstance(v, bool) for v in present) and not missing:
        return Column(prop_id, name, "BOOLEAN", values)
    if present and all(_is_number(v) for v in present):
        if all(float(v).is_integer() and abs(v) < 2**31 - 1 for v in present):
            ints = [int(v) if v is not None else NO_DATA_INT32 for v in values]
            return Column(
                prop_id, name, "SCALAR", ints, "INT32", NO_DATA_INT32 if missing else None
            )
        floats = [float(v) if v is not None else NO_DATA_FLOAT64 for v in values]
        no_data = NO_DATA_FLOAT64 if missing else None
        return Column(prop_id, name, "SCALAR", floats, "FLOAT64", no_data)
    texts = [_text(v) if v is not None else "" for v in values]
    return Column(prop_id, name, "STRING", texts, no_data="" if missing else None)


def columns(rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    """Columns for a property table: id, kind, name, parent, then every attribute key.

    Columns without any value are left out (glTF buffer views cannot be empty); readers then
    see the property as absent for every feature.
    """
    taken = set(RESERVED)
    result = [_column(key, key, [r.get(key) for r in rows]) for key in RESERVED]
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(k for k in row.get("attributes", {}) if isinstance(k, str)))
    for key in keys:
        values = [row.get("attributes", {}).get(key) for row in rows]
        result.append(_column(property_id(key, taken), key, values))
    return [c for c in result if c.id == "id" or any(_has_bytes(c, v) for v in c.values)]


def _has_bytes(column: Column, value: Any) -> bool:
    """True when a value contributes bytes to its column's value buffer."""
    return column.type != "STRING" or value != ""


def _class_property(column: Column) -> dict[str, Any]:
    """The schema definition of one column."""
    definition: dict[str, Any] = {"type": column.type}
    if column.name != column.id:
        definition["name"] = column.name
    if column.component:
        definition["componentType"] = column.component
    if column.no_data is not None:
        definition["noData"] = column.no_data
    if column.id == "id":
        definition["required"] = True
    return definition


def _column_bytes(column: Column) -> list[bytes]:
    """Binary value buffers of one column (strings add an offsets buffer)."""
    if column.type == "BOOLEAN":
        bits = np.asarray(column.values, dtype=np.uint8)
        return [np.packbits(bits, bitorder="little").tobytes()]
    if column.type == "STRING":
        encoded = [str(v).encode("utf-8") for v in column.values]
        offsets = np.zeros(len(encoded) + 1, dtype="<u4")
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        return [b"".join(encoded), offsets.tobytes()]
    dtype = "<i4" if column.component == "INT32" else "<f8"
    return [np.asarray(column.values, dtype=dtype).tobytes()]


# ---------------------------------------------------------------- GLB encoding


class _Buffer:
    """The binary chunk under construction: 8-byte aligned buffer views."""

    def __init__(self) -> None:
        """An empty buffer."""
        self.data = bytearray()
        self.views: list[dict[str, Any]] = []

    def view(self, payload: bytes, target: int | None = None) -> int:
        """Append one buffer view and return its index."""
        self.data += b"\x00" * (-len(self.data) % ALIGN)
        entry: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.data)}
        entry["byteLength"] = len(payload)
        if target is not None:
            entry["target"] = target
        self.data += payload
        self.views.append(entry)
        return len(self.views) - 1


def y_up(points: FloatArray) -> FloatArray:
    """z-up (x east, y north, z up) coordinates as glTF y-up ones: (x, z, -y)."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def centre_of(mesh: Mesh) -> FloatArray:
    """The middle of a mesh's bounds, rounded to millimetres (the node translation)."""
    if mesh.empty:
        return np.zeros(3)
    middle = (mesh.positions.min(axis=0) + mesh.positions.max(axis=0)) / 2
    return np.asarray(np.round(middle, 3), dtype=np.float64)


def _accessors(
    mesh: Mesh, centre: FloatArray, buffer: _Buffer
) -> tuple[dict[str, int], int, list[dict[str, Any]]]:
    """Accessors for positions (y-up, relative to `centre`), normals, feature ids, indices."""
    position = y_up(mesh.positions - centre).astype("<f4")
    nyup = y_up(mesh.normals)
    count = len(position)
    wide = count > 65535
    index_type = "<u4" if wide else "<u2"
    accessors = [
        {
            "bufferView": buffer.view(position.tobytes(), ARRAY_BUFFER),
            "componentType": FLOAT,
            "count": count,
            "type": "VEC3",
            "min": position.min(axis=0).astype(float).tolist(),
            "max": position.max(axis=0).astype(float).tolist(),
        },
        {
            "bufferView": buffer.view(nyup.astype("<f4").tobytes(), ARRAY_BUFFER),
            "componentType": FLOAT,
            "count": count,
            "type": "VEC3",
        },
        {
            "bufferView": buffer.view(mesh.feature_ids.astype("<f4").tobytes(), ARRAY_BUFFER),
            "componentType": FLOAT,
            "count": count,
            "type": "SCALAR",
        },
        {
            "bufferView": buffer.view(
                mesh.indices.astype(index_type).tobytes(), ELEMENT_ARRAY_BUFFER
            ),
            "componentType": UNSIGNED_INT if wide else UNSIGNED_SHORT,
            "count": len(mesh.indices),
            "type": "SCALAR",
        },
    ]
    attributes = {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2}
    return attributes, 3, accessors


def _metadata(
    table: list[Column], count: int, buffer: _Buffer, class_id: str, class_name: str
) -> dict[str, Any]:
    """The root EXT_structural_metadata object: schema plus one property table."""
    properties: dict[str, Any] = {}
    for column in table:
        parts = _column_bytes(column)
        entry: dict[str, Any] = {"values": buffer.view(parts[0])}
        if column.type == "STRING":
            entry["stringOffsets"] = buffer.view(parts[1])
            entry["stringOffsetType"] = "UINT32"
        properties[column.id] = entry
    schema_class = {
        "name": class_name,
        "properties": {c.id: _class_property(c) for c in table},
    }
    return {
        "schema": {"id": "shequ_cim", "classes": {class_id: schema_class}},
        "propertyTables": [
            {"name": class_name, "class": class_id, "count": count, "properties": properties}
        ],
    }


def encode_glb(
    mesh: Mesh,
    rows: Sequence[Mapping[str, Any]],
    *,
    color: tuple[float, float, float, float] = (0.9, 0.9, 0.9, 1.0),
    name: str = "cim",
) -> bytes:
    """One GLB with one triangle primitive, per-vertex feature ids and a property table.

    `rows[i]` describes feature i: keys id, kind, name, parent and a dict `attributes`.
    """
    if mesh.empty:
        raise ValueError("cannot encode an empty mesh")
    buffer = _Buffer()
    centre = centre_of(mesh)
    attributes, indices, accessors = _accessors(mesh, centre, buffer)
    metadata = _metadata(columns(rows), len(rows), buffer, "cim_object", name)
    buffer.data += b"\x00" * (-len(buffer.data) % ALIGN)
    primitive = {
        "attributes": attributes,
        "indices": indices,
        "material": 0,
        "mode": TRIANGLES,
        "extensions": {
            "EXT_mesh_features": {
                "featureIds": [{"featureCount": len(rows), "attribute": 0, "propertyTable": 0}]
            }
        },
    }
    document = {
        "asset": {"version": "2.0", "generator": "shequ"},
        "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata"],
        "extensions": {"EXT_structural_metadata": metadata},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name, "translation": y_up(centre).tolist()}],
        "meshes": [{"name": name, "primitives": [primitive]}],
        "materials": [_material(color)],
        "accessors": accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": len(buffer.data)}],
    }
    return pack_glb(document, bytes(buffer.data))


def _material(color: tuple[float, float, float, float]) -> dict[str, Any]:
    """A plain matte material; double-sided because imported shells are not always closed."""
    return {
        "name": "cim",
        "pbrMetallicRoughness": {
            "baseColorFactor": list(color),
            "metallicFactor": 0.0,
            "roughnessFactor": 1.0,
        },
        "doubleSided": True,
    }


def pack_glb(document: Mapping[str, Any], binary: bytes) -> bytes:
    """The GLB container: header, JSON chunk (space padded), BIN chunk (zero padded)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % ALIGN)
    binary += b"\x00" * (-len(binary) % ALIGN)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<III", GLB_MAGIC, 2, total),
            struct.pack("<II", len(text), CHUNK_JSON),
            text,
            struct.pack("<II", len(binary), CHUNK_BIN),
            binary,
        ]
    )


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a GLB into its JSON document and binary chunk (for checks and tests)."""
    magic, version, total = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2 or total != len(data):
        raise ValueError("not a GLB 2.0 file")
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != CHUNK_JSON:
        raise ValueError("GLB does not start with a JSON chunk")
    document = json.loads(data[20 : 20 + json_length])
    binary = b""
    start = 20 + json_length
    if start < len(data):
        bin_length, _ = struct.unpack_from("<II", data, start)
        binary = data[start + 8 : start + 8 + bin_length]
    return document, binary
