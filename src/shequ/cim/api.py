"""CIM routes: the register tree, address search, level report, imports, GeoJSON layers."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shequ.api.deps import CurrentSubject, ReadSession, ServicesDep, WriteSession
from shequ.cim import ledgers
from shequ.cim.export import ensure_tiles, tiles_dir
from shequ.cim.imports import import_file, import_register, register_template
from shequ.cim.levels import report
from shequ.cim.models import Building, CimSite, Floor, Room, Unit
from shequ.cim.service import site
from shequ.kit import features
from shequ.kit.errors import Forbidden, NotFound, ValidationFailed
from shequ.kit.i18n import current_language, t
from shequ.kit.ledger import Ledger
from shequ.kit.ledger_api import json_response, read_upload
from shequ.kit.tabular import XLSX_TYPE
from shequ.platform.models import Community
from shequ.platform.scoping import Subject

router = APIRouter(prefix="/communities/{code}", tags=["cim"])
features.provide("feature:cim")

LAYERS: dict[str, Ledger[Any]] = {
    "buildings": ledgers.buildings, "structures": ledgers.structures,
    "facilities": ledgers.facilities, "roads": ledgers.roads,
    "parking_lots": ledgers.parking_lots, "parking_spaces": ledgers.parking_spaces,
    "pois": ledgers.pois, "device_placements": ledgers.device_placements,
}


def community_for(session: Session, subject: Subject, code: str, permission: str) -> Community:
    """A community the subject may act on with `permission`; 404 otherwise."""
    community = session.scalar(select(Community).where(Community.code == code))
    reach = subject.scope_for(permission)
    ids = reach.community_ids()
    if community is None or reach.empty or (ids is not None and community.id not in ids):
        raise NotFound(code="platform.community_unknown", community=code[:32])
    return community


@router.get("/cim/levels", summary="CIM level report (Table 2 mandatory data, Table 3 levels)")
def levels(code: str, subject: CurrentSubject, session: ReadSession) -> Any:
    """Objects per level, missing mandatory data, and what each building needs next."""
    community = community_for(session, subject, code, "buildings:read")
    frame = session.scalar(select(CimSite).where(CimSite.community_id == community.id))
    result = report(session, community.id, frame.target_level if frame else 3)
    lang = current_language()
    return {
        "community": community.code, "target_level": result.target_level,
        "reached_level": result.reached, "counts": result.counts,
        "missing_mandatory": result.missing_mandatory,
        "next_steps": [{**step, "needs": t(step["needs"], lang)} for step in result.next_steps],
    }


@router.get("/cim/register/template", response_class=Response,
            summary="Download the housing register (楼盘表) import template")
def template(code: str, subject: CurrentSubject, session: ReadSession) -> Response:
    """The XLSX template with Chinese (or English) headers and an example row."""
    community_for(session, subject, code, "rooms:import")
    return Response(register_template(current_language()), media_type=XLSX_TYPE, headers={
        "Content-Disposition": 'attachment; filename="register-template.xlsx"'})


@router.post("/cim/imports", summary="Import the register or a model file (all or nothing)")
def import_model(
    code: str, subject: CurrentSubject, services: ServicesDep, session: WriteSession,
    kind: Annotated[str, Form(pattern="^(register|cityjson|citygml|ifc|geojson)$")],
    file: Annotated[UploadFile, File()],
    crs: Annotated[str | None, Form(pattern=r"^EPSG:\d{4,6}$")] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
) -> Any:
    """Import into the community; the answer counts what was created per object kind."""
    community = community_for(session, subject, code, "buildings:import")
    if not subject.can("rooms:import"):
        raise Forbidden(code="auth.missing_permission", permission="rooms:import")
    content = read_upload(file, services.settings.max_upload_bytes)
    name = file.filename or kind
    if kind == "register":
        result = import_register(session, community, name, content)
    else:
        place = (lon, lat) if lon is not None and lat is not None else None
        result = import_file(session, community, kind, name, content, crs=crs, place_at=place)
    services.platform.record(session, subject, f"cim.import.{kind}", "buildings", None,
                             community.id, None, {"file": name[:200], **result.as_dict()})
    return result.as_dict()


@router.get("/cim/tree", summary="Buildings of the community with their register counts")
def tree(code: str, subject: CurrentSubject, session: ReadSession) -> Any:
    """The top of the register tree: every visible building."""
    community = community_for(session, subject, code, "buildings:read")
    stmt = ledgers.buildings.visible(subject).where(Building.community_id == community.id)
    rows = session.scalars(stmt.order_by(Building.code)).all()
    return json_response([ledgers.buildings.present(b, subject) for b in rows])


@router.get("/cim/buildings/{building_id}/tree",
            summary="One building's units → floors → rooms with register data")
def building_tree(code: str, building_id: int, subject: CurrentSubject,
                  session: ReadSession) -> Any:
    """The register under one building."""
    community = community_for(session, subject, code, "buildings:read")
    building = ledgers.buildings.get(session, subject, building_id)
    if building.community_id != community.id:
        raise NotFound()
    floors = session.scalars(ledgers.floors.visible(subject).where(
        Floor.building_id == building.id).order_by(Floor.unit_id, Floor.level_index)).all()
    units = session.scalars(ledgers.units.visible(subject).where(
        Unit.building_id == building.id).order_by(Unit.number)).all()
    rooms = session.scalars(ledgers.rooms.visible(subject).where(
        Room.building_id == building.id).order_by(Room.number)).all()
    by_floor: dict[int, list[dict[str, Any]]] = {}
    for room in rooms:
        by_floor.setdefault(room.floor_id, []).append(ledgers.rooms.present(room, subject))
    floor_rows = [{**ledgers.floors.present(f, subject), "rooms": by_floor.get(f.id, [])}
                  for f in floors]
    return json_response({
        **ledgers.buildings.present(building, subject),
        "units": [{**ledgers.units.present(u, subject),
                   "floors": [f for f in floor_rows if f["unit_id"] == u.id]} for u in units],
        "floors": [f for f in floor_rows if f["unit_id"] is None],
    })


@router.get("/cim/search", summary="Find rooms and buildings by address, code or room number")
def search(code: str, subject: CurrentSubject, session: ReadSession,
           q: Annotated[str, Query(min_length=1, max_length=100)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Any:
    """Rooms and buildings whose number, address or standard address code match."""
    community = community_for(session, subject, code, "rooms:read")
    if "\x00" in q:
        raise ValidationFailed(code="request.bad_filter", name="q", value="␀")
    pattern = f"%{q.replace('%', '').replace('_', '')}%"
    rooms = session.scalars(ledgers.rooms.visible(subject).where(
        Room.community_id == community.id,
        or_(Room.number.ilike(pattern), Room.address.ilike(pattern),
            Room.address_code.ilike(pattern))).order_by(Room.address_code).limit(limit)).all()
    buildings: list[Any] = []
    if not subject.scope_for("buildings:read").empty:
        buildings = list(session.scalars(ledgers.buildings.visible(subject).where(
            Building.community_id == community.id,
            or_(Building.code.ilike(pattern), Building.name.ilike(pattern),
                Building.address.ilike(pattern), Building.address_code.ilike(pattern)),
        ).order_by(Building.code).limit(limit)))
    return json_response({
        "rooms": [ledgers.rooms.present(r, subject) for r in rooms],
        "buildings": [ledgers.buildings.present(b, subject) for b in buildings],
    })


@router.get("/geojson/{layer}", summary="One layer of the community as GeoJSON (WGS 84)")
def geojson(code: str, layer: str, subject: CurrentSubject, session: ReadSession) -> Any:
    """Every visible object of a layer with its geometry and attributes."""
    ledger = LAYERS.get(layer)
    if ledger is None:
        raise NotFound(code="request.not_found")
    community = community_for(session, subject, code, f"{ledger.permission}:read")
    model: Any = ledger.model
    rows = session.scalars(ledger.visible(subject).where(
        model.community_id == community.id).order_by(model.id)).all()
    features_out = []
    for row in rows:
        props = ledger.present(row, subject)
        geometry = props.pop("footprint", None) or props.pop("geometry", None)
        if geometry is None and props.get("lon") is not None and props.get("lat") is not None:
            geometry = {"type": "Point", "coordinates": [props["lon"], props["lat"]]}
        features_out.append({"type": "Feature", "id": row.id, "geometry": geometry,
                             "properties": props})
    body = orjson.dumps({"type": "FeatureCollection", "name": layer, "features": features_out})
    return Response(body, media_type="application/geo+json")


@router.get("/tiles/tileset.json", summary="The community's 3D Tiles 1.1 tileset (CIM2–CIM4)")
def tileset(code: str, subject: CurrentSubject, services: ServicesDep,
            session: WriteSession) -> Any:
    """The tileset of the current model version, regenerated when the model changed."""
    community = community_for(session, subject, code, "buildings:read")
    folder = ensure_tiles(session, community.id, services.settings.tiles_dir)
    return FileResponse(folder / "tileset.json", media_type="application/json",
                        headers={"Cache-Control": "no-cache"})


@router.get("/tiles/v{version}/{path:path}", summary="One tile of a model version")
def tile(code: str, version: int, path: str, subject: CurrentSubject, services: ServicesDep,
         session: ReadSession) -> Any:
    """A GLB tile; its URL names the model version, so it never changes."""
    community = community_for(session, subject, code, "buildings:read")
    folder = tiles_dir(services.settings.tiles_dir, community.id, version).resolve()
    target = (folder / path).resolve()
    if not target.is_file() or not target.is_relative_to(folder) or target.suffix != ".glb":
        raise NotFound(code="request.not_found")
    return FileResponse(target, media_type="model/gltf-binary",
                        headers={"Cache-Control": "private, max-age=31536000, immutable"})


def site_origin(session: Session, community_id: int) -> tuple[float, float, float]:
    """The community's local frame origin (lon, lat, height)."""
    frame = site(session, community_id)
    return frame.origin_lon, frame.origin_lat, frame.origin_height
