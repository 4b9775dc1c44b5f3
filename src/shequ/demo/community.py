"""The demo community's CIM: a residential quarter in Hangzhou (CGCS2000 longitude/latitude).

About twenty buildings of 6–33 floors with 2–3 units and 2–4 households per floor (about 3,000
households), modelled at CIM2, CIM3 and CIM4, plus one building imported from a real IFC file
at CIM4; roads, a surface car park with spaces and an underground garage; facilities of every
category; a pump room, a power room, a shelter and a pavilion; points of interest; and device
placements. Everything is generated from a fixed seed, so every demo is the same.
"""

from __future__ import annotations

import gzip
import math
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from shequ.cim.geo import to_lonlat
from shequ.cim.imports import import_file
from shequ.cim.levels import placement_level, refresh_building, shape_level
from shequ.cim.models import (
    Building,
    BuildingUse,
    DeviceModelKind,
    DevicePlacement,
    Facility,
    FacilityCategory,
    Floor,
    GeometrySource,
    ParkingLot,
    ParkingSpace,
    Poi,
    Road,
    Room,
    RoomState,
    RoomUse,
    Structure,
    StructureKind,
    Unit,
)
from shequ.cim.service import bump, site
from shequ.platform.models import Community
from shequ.platform.service import PlatformService

ORIGIN = (120.1265, 30.2918)
"""The quarter's centre, 翠苑 area of 西湖区, Hangzhou."""
UNIT_WIDTH, DEPTH = 16.0, 13.0
STATES = [(RoomState.occupied, 70), (RoomState.rented, 15), (RoomState.vacant, 12),
          (RoomState.renovating, 3)]


@dataclass(frozen=True)
class Plan:
    """One demo building: size, register shape and the level it is modelled at."""

    floors: int
    units: int
    per_floor: int
    level: int
    use: BuildingUse = BuildingUse.residential


PLANS = (
    [Plan(6, 3, 3, 2)] * 6 + [Plan(11, 2, 2, 3)] * 4 + [Plan(18, 3, 4, 3)] * 4
    + [Plan(26, 3, 4, 4)] * 3 + [Plan(33, 2, 4, 4)] * 2 + [Plan(3, 2, 2, 3, BuildingUse.mixed)]
)


def _rect(cx: float, cy: float, width: float, depth: float, angle: float = 0.0,
          ) -> dict[str, Any]:
    """A rotated rectangle around a local centre, as a lon/lat polygon."""
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(-width / 2, -depth / 2), (width / 2, -depth / 2), (width / 2, depth / 2),
               (-width / 2, depth / 2)]
    ring = [to_lonlat(cx + x * cos - y * sin, cy + x * sin + y * cos, ORIGIN)
            for x, y in corners]
    return {"type": "Polygon", "coordinates": [[list(p) for p in [*ring, ring[0]]]]}


def _point(x: float, y: float) -> dict[str, Any]:
    lon, lat = to_lonlat(x, y, ORIGIN)
    return {"type": "Point", "coordinates": [lon, lat]}


def _line(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(to_lonlat(x, y, ORIGIN))
                                                  for x, y in points]}


def _slots() -> list[tuple[float, float]]:
    """Building centres in rows, south-facing slabs 40 m apart."""
    return [(-120.0 + col * 60.0, -110.0 + row * 45.0) for row in range(5) for col in range(5)]


class _Builder:
    """Writes the demo register and model objects into one community."""

    def __init__(self, session: Session, community: Community) -> None:
        self.session, self.community = session, community
        self.random = random.Random(2021)

    def add(self, row: Any) -> Any:
        self.session.add(row)
        return row

    def buildings(self) -> list[Building]:
        made = []
        for number, (plan, (cx, cy)) in enumerate(zip(PLANS, _slots(), strict=False), start=1):
            made.append(self.building(number, plan, cx, cy))
        return made

    def building(self, number: int, plan: Plan, cx: float, cy: float) -> Building:
        code = f"{number}幢"
        width = plan.units * UNIT_WIDTH
        footprint = _rect(cx, cy, width, DEPTH)
        building = self.add(Building(
            community_id=self.community.id, code=code, name=f"翠苑一区{number}号楼",
            address_code=f"{self.community.code}-{code}",
            address=f"杭州市西湖区文二西路翠苑一区{number}幢", use=plan.use,
            floors_above=plan.floors, floors_below=1 if plan.floors > 11 else 0,
            floor_height=3.0, height=plan.floors * 3.0 + 1.2, built_year=1996 + number,
            footprint=footprint, geometry_source=GeometrySource.register,
            modelling_level=plan.level))
        lons = [p[0] for p in footprint["coordinates"][0]]
        lats = [p[1] for p in footprint["coordinates"][0]]
        building.min_lon, building.max_lon = min(lons), max(lons)
        building.min_lat, building.max_lat = min(lats), max(lats)
        self.session.flush()
        for unit_number in range(1, plan.units + 1):
            self.unit(building, plan, unit_number, cx - width / 2 + (unit_number - 0.5)
                      * UNIT_WIDTH, cy)
        return building

    def unit(self, building: Building, plan: Plan, number: int, ux: float, uy: float) -> None:
        unit = self.add(Unit(community_id=self.community.id, building_id=building.id,
                             number=number, name=f"{number}单元",
                             address_code=f"{building.address_code}-{number:02d}",
                             footprint=_rect(ux, uy, UNIT_WIDTH, DEPTH)))
        self.session.flush()
        for index in range(1, plan.floors + 1):
            floor = self.add(Floor(community_id=self.community.id, building_id=building.id,
                                   unit_id=unit.id, level_index=index, label=f"{index}F",
                                   elevation=(index - 1) * 3.0, height=3.0))
            self.session.flush()
            for flat in range(1, plan.per_floor + 1):
                self.room(building, unit, floor, plan, index, flat)

    def room(self, building: Building, unit: Unit, floor: Floor, plan: Plan, index: int,
             flat: int) -> None:
        number = f"{index}{flat:02d}"
        shop = plan.use == BuildingUse.mixed and index == 1
        area = self.random.choice((58.6, 72.4, 89.3, 98.7, 121.5, 143.2))
        state = self.random.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
        self.add(Room(
            community_id=self.community.id, building_id=building.id, unit_id=unit.id,
            floor_id=floor.id, number=number,
            address_code=f"{unit.address_code}-{number}",
            address=f"{building.address}{unit.name}{number}室",
            use=RoomUse.commercial if shop else RoomUse.residential, state=state,
            building_area=area, inner_area=round(area * 0.79, 1),
            fee_coefficient=1.5 if shop else 1.0,
            layout=None if shop else self.random.choice(("1室1厅", "2室1厅", "3室2厅"))))

    def outdoors(self) -> None:
        cid = self.community.id
        for name, points, width in (
            ("翠苑一区环路", [(-160, -140), (160, -140), (160, 100), (-160, 100), (-160, -140)],
             7.0),
            ("中心路", [(-160, -20), (160, -20)], 6.0),
            ("南北通道", [(0, -140), (0, 100)], 5.0),
        ):
            self.add(Road(community_id=cid, name=name, width=width, geometry=_line(*points),
                          cim_level=2))
        lot = self.add(ParkingLot(community_id=cid, name="东门地面停车场", kind="surface",
                                  capacity=60, geometry=_rect(190, -60, 50, 40), cim_level=2))
        garage = self.add(ParkingLot(community_id=cid, name="地下车库", kind="underground",
                                     capacity=240, cim_level=1))
        self.session.flush()
        for n in range(60):
            x, y = 170.0 + (n % 15) * 2.7, -75.0 + (n // 15) * 7.5
            self.add(ParkingSpace(community_id=cid, lot_id=lot.id, number=f"D{n + 1:03d}",
                                  kind="charging" if n < 8 else "standard",
                                  geometry=_rect(x, y, 2.5, 5.3), cim_level=2))
        for n in range(240):
            self.add(ParkingSpace(community_id=cid, lot_id=garage.id, number=f"B{n + 1:03d}",
                                  kind="charging" if n % 12 == 0 else "standard", cim_level=1))

    def structures(self) -> None:
        for name, kind, x, y, w, d, height in (
            ("二次供水泵房", StructureKind.pump_room, 140, 80, 12, 8, 4.5),
            ("10kV 配电房", StructureKind.power_room, -150, 80, 10, 8, 4.5),
            ("人防应急避难场所", StructureKind.shelter, 60, -130, 30, 20, None),
            ("翠苑亭", StructureKind.pavilion, -30, -45, 6, 6, 5.0),
            ("南门岗亭", StructureKind.guard_room, 0, -150, 4, 3, 3.0),
            ("东门岗亭", StructureKind.guard_room, 170, -20, 4, 3, 3.0),
            ("垃圾分类收集房", StructureKind.waste_station, -150, -120, 8, 5, 3.5),
        ):
            geometry = _rect(x, y, w, d)
            self.add(Structure(community_id=self.community.id, name=name, kind=kind,
                               geometry=geometry, height=height,
                               capacity=800 if kind == StructureKind.shelter else None,
                               cim_level=shape_level(geometry, height, False)))

    def facilities(self) -> None:
        items: list[tuple[str, FacilityCategory, str, dict[str, Any], float | None]] = []
        for n, x in enumerate(range(-150, 160, 20)):
            items.append((f"路灯{n + 1:02d}", FacilityCategory.lighting, "street_lamp",
                          _point(x, -15), 6.0))
        for n, (x, y) in enumerate([(-100, -130), (40, -130), (150, -60), (-150, 10),
                                     (150, 40), (-60, 90), (60, 90), (0, 10), (-100, 40),
                                     (100, -60)]):
            items.append((f"室外消火栓{n + 1}", FacilityCategory.fire, "hydrant", _point(x, y),
                          None))
        items.append(("消防控制室", FacilityCategory.fire, "fire_control_room",
                      _rect(-140, 60, 8, 6), 3.5))
        for n, (x, y) in enumerate([(-120, -20), (-40, -20), (40, -20), (120, -20),
                                     (0, -100), (0, 60)]):
            items.append((f"雨水井{n + 1}", FacilityCategory.drainage, "manhole", _point(x, y),
                          None))
        items += [
            ("污水主管", FacilityCategory.drainage, "sewer", _line((-160, -25), (160, -25)), None),
            ("给水总阀", FacilityCategory.water_supply, "valve", _point(138, 70), None),
            ("小区总水表", FacilityCategory.water_supply, "water_meter", _point(142, 70), None),
            ("给水主管", FacilityCategory.pipeline, "water_main",
             _line((140, 80), (140, -130)), None),
            ("燃气调压箱", FacilityCategory.gas, "regulator", _point(-155, -60), 1.8),
            ("燃气中压管", FacilityCategory.gas, "gas_pipe", _line((-160, -60), (160, -60)), None),
            ("箱式变电站1", FacilityCategory.power, "transformer", _rect(-145, 30, 4, 3), 2.5),
            ("箱式变电站2", FacilityCategory.power, "transformer", _rect(145, -110, 4, 3), 2.5),
            ("通信光缆", FacilityCategory.other, "fibre", _line((-160, 95), (160, 95)), None),
        ]
        for n in range(8):
            items.append((f"电动车充电桩{n + 1}", FacilityCategory.power, "charger",
                          _point(172 + n * 2.7, -40), 1.5))
        for n, (x, y) in enumerate([(-140, -100), (-70, -100), (70, -100), (140, -100),
                                     (-100, 60), (100, 60)]):
            items.append((f"垃圾分类投放点{n + 1}", FacilityCategory.sanitation, "waste_point",
                          _point(x, y), None))
        for name, category, kind, geometry, height in items:
            self.add(Facility(community_id=self.community.id, name=name, category=category,
                              kind=kind, geometry=geometry, height=height,
                              source=GeometrySource.survey,
                              cim_level=shape_level(geometry, height, False)))

    def pois(self) -> None:
        # Six-digit class codes in the GB/T 35648 form; illustrative demo values.
        for name, code, x, y in (
            ("翠苑一区社区服务中心", "140100", -20, 95), ("翠苑社区卫生服务站", "090200", 20, 95),
            ("翠苑幼儿园", "141200", -120, 95), ("邻里便利店", "060200", 180, 0),
            ("公交站·翠苑一区", "150700", 0, -160), ("快递驿站", "070500", 160, 80),
        ):
            lon, lat = to_lonlat(x, y, ORIGIN)
            self.add(Poi(community_id=self.community.id, name=name, class_code=code, lon=lon,
                         lat=lat, address="杭州市西湖区文二西路翠苑一区"))

    def placements(self, buildings: list[Building]) -> None:
        for building in buildings[:12]:
            self.placement(f"{building.code}烟感", DeviceModelKind.building_sensing,
                           building_id=building.id)
        for n, (x, y) in enumerate([(0, -145), (170, -20), (-30, -45), (60, -125), (140, 80),
                                     (-150, 80)]):
            lon, lat = to_lonlat(x, y, ORIGIN)
            self.placement(f"高清摄像机{n + 1}", DeviceModelKind.security_monitoring, lon=lon,
                           lat=lat, height=4.5)
        lon, lat = to_lonlat(-10, -40, ORIGIN)
        self.placement("环境监测站", DeviceModelKind.environment_sensing, lon=lon, lat=lat,
                       height=3.0)

    def placement(self, name: str, kind: DeviceModelKind, **where: Any) -> None:
        row = DevicePlacement(community_id=self.community.id, name=name, model_kind=kind,
                              **where)
        row.cim_level = placement_level(row)
        self.add(row)


def duplex_ifc() -> bytes:
    """The shipped IFC sample (CC BY 4.0, buildingSMART)."""
    data = resources.files("shequ.demo").joinpath("data/duplex.ifc.gz").read_bytes()
    return gzip.decompress(data)


def load_cim(session: Session, platform: PlatformService, community: Community) -> None:
    """Fill the demo community's CIM: register, model objects, levels."""
    frame = site(session, community.id, ORIGIN)
    frame.target_level = 4
    builder = _Builder(session, community)
    buildings = builder.buildings()
    builder.outdoors()
    builder.structures()
    builder.facilities()
    builder.pois()
    builder.placements(buildings)
    session.flush()
    for building in buildings:
        refresh_building(session, building)
    bx, by = 210.0, 60.0
    import_file(session, community, "ifc", "duplex.ifc", duplex_ifc(),
                place_at=to_lonlat(bx, by, ORIGIN))
    bump(session, community.id)
