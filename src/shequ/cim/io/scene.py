"""The interchange model between CIM file formats and the database.

Importers turn a file into a `Scene`; exporters turn a `Scene` into files; the CIM service
turns a `Scene` into register rows and back. Coordinates inside a scene are metres in a local
east-north-up (ENU) frame whose origin is `Scene.origin` (WGS 84 longitude, latitude,
ellipsoidal height); the source CRS is recorded so nothing is lost.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Vertices = npt.NDArray[np.float64]
"""An (N, 3) array of x east, y north, z up, in metres in the scene's local frame."""


class ObjectKind(enum.StrEnum):
    """What a scene object is, in the register's terms."""

    building = "building"          # 楼栋
    building_part = "building_part"
    unit = "unit"                  # 单元
    storey = "storey"              # 楼层
    room = "room"                  # 户 / 房间
    structure = "structure"        # 构筑物
    facility = "facility"          # 设施
    road = "road"
    parking = "parking"
    other = "other"


@dataclass(frozen=True)
class Crs:
    """A coordinate reference system as the source declared it."""

    epsg: int | None = None
    vertical_epsg: int | None = None
    wkt: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. EPSG:7415."""
        if self.epsg:
            suffix = f"+{self.vertical_epsg}" if self.vertical_epsg else ""
            return f"EPSG:{self.epsg}{suffix}"
        return self.name or "local"


@dataclass
class Geometry:
    """A boundary representation: surfaces made of rings of vertex indices.

    `surfaces[i]` is a list of rings; ring 0 is the outer boundary, the rest are holes.
    `semantics[i]` names surface i (RoofSurface, WallSurface, GroundSurface, FloorSurface,
    CeilingSurface, ...) or is None. `lod` is the level of detail as text ("1", "2.2", "3").
    """

    lod: str
    vertices: Vertices
    surfaces: list[list[list[int]]]
    semantics: list[str | None] = field(default_factory=list)
    solid: bool = True


@dataclass
class Footprint:
    """A prism: an outer ring (and holes) in x/y, a base height and a height above it."""

    rings: list[list[tuple[float, float]]]
    base: float = 0.0
    height: float = 3.0


@dataclass
class SceneObject:
    """One thing in the scene: a building, unit, storey, room, facility ..."""

    id: str
    kind: ObjectKind
    name: str | None = None
    parent: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    geometry: list[Geometry] = field(default_factory=list)
    footprint: Footprint | None = None
    storey_index: int | None = None
    elevation: float | None = None
    height: float | None = None
    source_type: str | None = None


@dataclass(frozen=True)
class Issue:
    """A problem found in a file, located by line, row or object id."""

    location: str
    message: str
    severity: str = "error"


@dataclass
class Scene:
    """Everything one file holds, in one local frame."""

    source_crs: Crs
    origin: tuple[float, float, float]
    objects: dict[str, SceneObject] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add(self, obj: SceneObject) -> SceneObject:
        """Add an object; ids are unique within a scene."""
        if obj.id in self.objects:
            raise ValueError(f"duplicate object id {obj.id!r}")
        self.objects[obj.id] = obj
        return obj

    def children(self, parent_id: str) -> list[SceneObject]:
        """Direct children of an object, in insertion order."""
        return [o for o in self.objects.values() if o.parent == parent_id]

    def of_kind(self, kind: ObjectKind) -> list[SceneObject]:
        """Every object of one kind."""
        return [o for o in self.objects.values() if o.kind == kind]

    def counts(self) -> dict[str, int]:
        """How many objects of each kind (the import summary)."""
        found: dict[str, int] = {}
        for obj in self.objects.values():
            found[obj.kind.value] = found.get(obj.kind.value, 0) + 1
        return found

    @property
    def errors(self) -> list[Issue]:
        """Issues of error severity."""
        return [i for i in self.issues if i.severity == "error"]
