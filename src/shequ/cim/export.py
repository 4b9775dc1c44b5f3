"""The community model as a `Scene` from the database, and its exports (CityJSON, GeoJSON,
3D Tiles), with 3D Tiles cached per model version.

Buildings appear at their CIM level: CIM2 the white model, CIM3 split by unit and floor,
CIM4 per household — procedural from the register, or the imported geometry (IFC, CityJSON,
CityGML) where the model holds it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cim.geo import footprint_rings
from shequ.cim.io.procedural import BuildingSpec, building_objects, prism, to_polygon
from shequ.cim.io.scene import Crs, Geometry, ObjectKind, Scene, SceneObject
from shequ.cim.models import Building, CimGeometry, Floor, Room, Structure, Unit
from shequ.cim.service import site

_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)


def community_scene(session: Session, community_id: int) -> Scene:
    """Every modelled object of a community in its local frame."""
    frame = site(session, community_id)
    origin = (frame.origin_lon, frame.origin_lat, frame.origin_height)
    scene = Scene(source_crs=Crs(epsg=4490, name="CGCS2000"), origin=origin,
                  metadata={"community_id": community_id, "version": frame.model_version})
    geometries = _geometries(session, community_id)
    buildings = session.scalars(select(Building).where(
        Building.community_id == community_id, Building.deleted_at.is_(None),
        Building.cim_level >= 2).order_by(Building.code)).all()
    for building in buildings:
        if geometries.get(("building", building.id)):
            _imported(session, scene, building, geometries)
        elif building.footprint:
            _procedural(session, scene, building, origin[:2])
    for structure in session.scalars(select(Structure).where(
            Structure.community_id == community_id, Structure.deleted_at.is_(None),
            Structure.height.is_not(None), Structure.geometry.is_not(None))):
        _structure(scene, structure, origin[:2])
    return scene


def _geometries(session: Session, community_id: int) -> dict[tuple[str, int], list[Geometry]]:
    found: dict[tuple[str, int], list[Geometry]] = defaultdict(list)
    for row in session.scalars(select(CimGeometry).where(
            CimGeometry.community_id == community_id, CimGeometry.deleted_at.is_(None))):
        data = row.data
        found[(row.object_type, row.object_id)].append(Geometry(
            lod=row.lod, vertices=np.asarray(data["vertices"], dtype=np.float64),
            surfaces=data["surfaces"], semantics=data.get("semantics") or [],
            solid=bool(data.get("solid", True))))
    return found


def _building_attributes(building: Building) -> dict[str, Any]:
    return {"building_pk": building.id, "code": building.code,
            "address_code": building.address_code, "use": building.use,
            "floors_above": building.floors_above, "cim_level": building.cim_level}


def _procedural(session: Session, scene: Scene, building: Building,
                origin: tuple[float, float]) -> None:
    assert building.footprint is not None
    rings = footprint_rings(building.footprint, origin)
    units = session.scalars(select(Unit).where(
        Unit.building_id == building.id, Unit.deleted_at.is_(None)).order_by(Unit.number)).all()
    households, per_floor = _households(session, building, units)
    spec = BuildingSpec(
        id=f"B{building.id}", name=building.name, footprint=rings[0], holes=rings[1:],
        floors=building.floors_above, floor_height=building.floor_height,
        units=max(1, len(units)), households_per_floor=max(1, per_floor),
        attributes=_building_attributes(building), households=households)
    keep = {2: {ObjectKind.building}, 3: {ObjectKind.building, ObjectKind.unit,
                                          ObjectKind.storey}}.get(building.cim_level)
    for obj in building_objects(spec):
        if keep is None or obj.kind in keep:
            scene.add(obj)


def _households(session: Session, building: Building, units: Any,
                ) -> tuple[dict[tuple[int, int, int], dict[str, Any]], int]:
    """Register rows by (unit, floor, household number), numbered by room order per floor."""
    position = {unit.id: index for index, unit in enumerate(units, start=1)}
    floors = {f.id: f.level_index for f in session.scalars(select(Floor).where(
        Floor.building_id == building.id, Floor.deleted_at.is_(None)))}
    grouped: dict[tuple[int, int], list[Room]] = defaultdict(list)
    for room in session.scalars(select(Room).where(
            Room.building_id == building.id, Room.deleted_at.is_(None)).order_by(Room.number)):
        unit = position.get(room.unit_id or 0, 1)
        grouped[(unit, floors.get(room.floor_id, 1))].append(room)
    households: dict[tuple[int, int, int], dict[str, Any]] = {}
    for (unit, floor), rooms in grouped.items():
        for number, room in enumerate(rooms, start=1):
            households[(unit, floor, number)] = {
                "room_pk": room.id, "number": room.number, "address_code": room.address_code,
                "use": room.use, "state": room.state, "building_area": room.building_area}
    per_floor = max((len(rooms) for rooms in grouped.values()), default=1)
    return households, per_floor


def _imported(session: Session, scene: Scene, building: Building,
              geometries: dict[tuple[str, int], list[Geometry]]) -> None:
    root = scene.add(SceneObject(
        id=f"B{building.id}", kind=ObjectKind.building, name=building.name,
        attributes=_building_attributes(building),
        geometry=geometries[("building", building.id)], height=building.height))
    storeys: dict[int, str] = {}
    for floor in session.scalars(select(Floor).where(
            Floor.building_id == building.id, Floor.deleted_at.is_(None)).order_by(
            Floor.level_index)):
        storey = scene.add(SceneObject(
            id=f"{root.id}-S{floor.id}", kind=ObjectKind.storey, name=floor.label,
            parent=root.id, storey_index=floor.level_index, elevation=floor.elevation,
            height=floor.height, attributes={"floor_pk": floor.id, "label": floor.label}))
        storeys[floor.id] = storey.id
    for room in session.scalars(select(Room).where(
            Room.building_id == building.id, Room.deleted_at.is_(None))):
        shapes = geometries.get(("room", room.id))
        if shapes:
            scene.add(SceneObject(
                id=f"{root.id}-R{room.id}", kind=ObjectKind.room, name=room.number,
                parent=storeys.get(room.floor_id, root.id), geometry=shapes,
                attributes={"room_pk": room.id, "number": room.number,
                            "address_code": room.address_code, "state": room.state}))


def _structure(scene: Scene, structure: Structure, origin: tuple[float, float]) -> None:
    assert structure.geometry is not None and structure.height is not None
    if structure.geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return
    rings = footprint_rings(structure.geometry, origin)
    outline = to_polygon([list(rings[0]), *[list(r) for r in rings[1:]]])
    scene.add(SceneObject(
        id=f"S{structure.id}", kind=ObjectKind.structure, name=structure.name,
        attributes={"structure_pk": structure.id, "kind": structure.kind},
        geometry=[prism(outline, 0.0, structure.height)], height=structure.height))


def tiles_dir(root: Path, community_id: int, version: int) -> Path:
    """Where a community's 3D Tiles of one model version live."""
    return root / str(community_id) / f"v{version}"


def ensure_tiles(session: Session, community_id: int, root: Path) -> Path:
    """The directory holding the current version's tileset, generated on first use."""
    from shequ.cim.io.tiles3d import write_tileset

    version = site(session, community_id).model_version
    target = tiles_dir(root, community_id, version)
    if (target / "tileset.json").is_file():
        return target
    with _locks[community_id]:
        if (target / "tileset.json").is_file():
            return target
        scratch = target.with_name(target.name + ".tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        write_tileset(community_scene(session, community_id), scratch)
        _version_uris(scratch / "tileset.json", f"v{version}/")
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
        for old in target.parent.glob("v*"):
            if old != target and not old.name.endswith(".tmp"):
                shutil.rmtree(old, ignore_errors=True)
    return target


def _version_uris(path: Path, prefix: str) -> None:
    """Prefix every content URI, so tile URLs change with the model and cache forever."""
    document = json.loads(path.read_text(encoding="utf-8"))
    stack = [document["root"]]
    while stack:
        tile = stack.pop()
        for content in [tile.get("content"), *tile.get("contents", [])]:
            if content and "uri" in content:
                content["uri"] = prefix + content["uri"]
        stack.extend(tile.get("children", []))
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def export(session: Session, community_id: int, kind: str, out: Path) -> dict[str, Any]:
    """Write one export of the community (cityjson, geojson or 3dtiles) and describe it."""
    scene = community_scene(session, community_id)
    if kind == "cityjson":
        from shequ.cim.io.cityjson_out import write_cityjson

        path = write_cityjson(scene, out)
        return {"kind": kind, "path": str(path), "bytes": path.stat().st_size,
                "objects": len(scene.objects)}
    if kind == "geojson":
        from shequ.cim.io.geojson_out import to_geojson

        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, collection in to_geojson(scene).items():
            target = out / f"{name}.geojson"
            target.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
            files[name] = len(collection["features"])
        return {"kind": kind, "path": str(out), "features": files}
    from shequ.cim.io.tiles3d import write_tileset

    report = write_tileset(scene, out)
    return {"kind": "3dtiles", "path": str(out), "bytes": report.bytes, "tiles": report.tiles,
            "features": report.features}
