"""The people ledgers: persons, residencies, vehicles, organisation staff, key units and
rentals. Every field is classified (`classification.yaml`); writes go through the checks in
`service.py`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from shequ.cim.models import Building, Floor, Room, Unit
from shequ.people import service
from shequ.people.identity import compose_resident_id
from shequ.people.models import (
    KeyUnit,
    OrganisationStaff,
    Person,
    PersonIdentity,
    Population,
    Relation,
    Rental,
    Residency,
    Vehicle,
)
from shequ.people.privacy import ProtectedLedger
from shequ.people.schemas import (
    KeyUnitCreate,
    KeyUnitRead,
    KeyUnitUpdate,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    RentalCreate,
    RentalRead,
    RentalUpdate,
    ResidencyCreate,
    ResidencyRead,
    ResidencyUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    VehicleCreate,
    VehicleRead,
    VehicleUpdate,
)
from shequ.platform.models import Organisation, OrganisationKind

# -- examples (contract tests, documentation) --------------------------------------------------


def example_room(session: Session, community_id: int) -> Room:
    """A new room in a new one-unit building (prerequisite of examples)."""
    tag = uuid.uuid4().hex[:10]
    building = Building(community_id=community_id, code=f"P{tag[:8]}", name=f"人口示例楼{tag[:4]}",
                        address_code=f"PX-{tag}")
    session.add(building)
    session.flush()
    unit = Unit(community_id=community_id, building_id=building.id, number=1, name="1单元",
                address_code=f"PX-{tag}-01")
    session.add(unit)
    session.flush()
    floor = Floor(community_id=community_id, building_id=building.id, unit_id=unit.id,
                  level_index=1, label="1F")
    session.add(floor)
    session.flush()
    room = Room(community_id=community_id, building_id=building.id, unit_id=unit.id,
                floor_id=floor.id, number="101", address_code=f"PX-{tag}-01-101")
    session.add(room)
    session.flush()
    return room


def example_person(session: Session, community_id: int, name: str = "示例居民") -> Person:
    """A new person without documents (prerequisite of examples)."""
    person = Person(community_id=community_id, name=name)
    session.add(person)
    session.flush()
    return person


def example_organisation(session: Session, community_id: int) -> Organisation:
    """A new organisation (prerequisite of examples)."""
    row = Organisation(community_id=community_id, name=f"示例单位{uuid.uuid4().hex[:8]}",
                       kind=OrganisationKind.commercial_company)
    session.add(row)
    session.flush()
    return row


def _person_example(_: Session, community_id: int, n: int) -> dict[str, Any]:
    born = dt.date(1940 + n * 3 % 70, 1 + n % 12, 1 + n % 28)
    return {"community_id": community_id, "name": f"示例居民{n:03d}",
            "id_type": "resident_id", "id_number": compose_resident_id("330106", born, 11 + n),
            "phone": f"1390571{n:04d}", "ethnicity": "汉族",
            "population": list(Population)[n % len(Population)],
            "identity": list(PersonIdentity)[n % len(PersonIdentity)],
            "is_key_person": n % 3 == 0, "domicile": "浙江省杭州市西湖区翠苑街道",
            "notes": f"备注{n}"}


def _residency_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id, "room_id": example_room(session, community_id).id,
            "person_id": example_person(session, community_id).id,
            "relation": list(Relation)[n % len(Relation)], "is_householder": n % 2 == 0,
            "move_in_date": f"{2010 + n % 15}-{1 + n % 12:02d}-01", "notes": f"入住{n}"}


def _plate(n: int) -> str:
    return (f"浙A{n:05d}", f"浙AD{n:05d}", f"浙A{n:05d}F")[n % 3]


def _vehicle_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id, "plate": _plate(n),
            "vehicle_type": ["car", "suv", "van"][n % 3],
            "category": ["resident", "staff", "visitor"][n % 3],
            "owner_person_id": example_person(session, community_id).id,
            "room_id": example_room(session, community_id).id, "brand": f"品牌{n}",
            "colour": "白色"}


def _staff_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id,
            "organisation_id": example_organisation(session, community_id).id,
            "person_id": example_person(session, community_id).id,
            "position": f"岗位{n}", "since_date": f"{2015 + n % 10}-03-01"}


def _key_unit_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id,
            "organisation_id": example_organisation(session, community_id).id,
            "category": ["school", "crowded_place", "hazardous_materials"][n % 3],
            "risk_level": ["low", "medium", "high", "major"][n % 4],
            "risk_notes": f"消防通道需保持畅通{n}",
            "safety_person_id": example_person(session, community_id).id,
            "last_inspected_on": f"2026-0{1 + n % 9}-10"}


def _rental_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    return {"community_id": community_id, "room_id": example_room(session, community_id).id,
            "landlord_person_id": example_person(session, community_id, "房东").id,
            "tenant_person_id": example_person(session, community_id, "租客").id,
            "lease_start": f"{2020 + n % 6}-01-01", "lease_end": f"{2021 + n % 6}-12-31",
            "monthly_rent": 2000.0 + 100 * n, "purpose": ["residential", "commercial"][n % 2],
            "occupants": 1 + n % 4, "filed": n % 2 == 0}


# -- declarations -------------------------------------------------------------------------

PERSON_LABELS = {
    "name": ("姓名", "Name"), "gender": ("性别", "Gender"), "birth_date": ("出生日期", "Born"),
    "ethnicity": ("民族", "Ethnic group"), "id_type": ("证件类型", "Document type"),
    "id_number": ("证件号码", "Document number"), "phone": ("联系电话", "Phone"),
    "population": ("人口类别", "Population class"), "identity": ("人员身份", "Standing"),
    "is_key_person": ("重点人员", "Key person"), "key_category": ("重点类别", "Key category"),
    "care_tags": ("关爱标签", "Care tags"), "domicile": ("户籍地址", "Registered domicile"),
    "face_photo_key": ("人脸照片", "Face photo"), "household_id": ("现住户", "Household"),
    "status": ("状态", "Status"), "source": ("来源", "Source"),
    "user_id": ("平台账号", "User account"),
}
ROOM = {"room_id": ("房屋", "Room"), "building_id": ("楼栋", "Building")}

persons = ProtectedLedger(
    name="persons", model=Person, create_schema=PersonCreate, update_schema=PersonUpdate,
    read_schema=PersonRead, label=("实有人口", "Persons"), labels=PERSON_LABELS,
    filterable=("gender", "birth_date", "id_type", "population", "identity", "is_key_person",
                "status", "source", "household_id", "name", "created_at"),
    sortable=("id", "name", "birth_date", "created_at", "updated_at"),
    search=("name",), default_sort=("-id",), household_column="household_id",
    refs={"household_id": "rooms"}, layer="dynamic",
    preparer=service.prepare_person, example=_person_example,
).register()

residencies = ProtectedLedger(
    name="residencies", model=Residency, create_schema=ResidencyCreate,
    update_schema=ResidencyUpdate, read_schema=ResidencyRead,
    label=("居住登记", "Residency"), permission="households",
    labels={**ROOM, "person_id": ("人员", "Person"), "relation": ("与户关系", "Relation"),
            "is_householder": ("户主", "Householder"), "move_in_date": ("入住日期", "Moved in"),
            "move_out_date": ("迁出日期", "Moved out")},
    filterable=("person_id", "room_id", "building_id", "relation", "is_householder",
                "move_in_date", "move_out_date", "created_at"),
    sortable=("id", "move_in_date", "move_out_date", "created_at", "updated_at"),
    default_sort=("-move_in_date",), building_column="building_id", household_column="room_id",
    refs={"person_id": "persons", "room_id": "rooms", "building_id": "buildings"},
    layer="dynamic", preparer=service.prepare_residency,
    on_write=lambda session, row: service.refresh_household(session, row.person_id),
    example=_residency_example,
).register()

vehicles = ProtectedLedger(
    name="vehicles", model=Vehicle, create_schema=VehicleCreate, update_schema=VehicleUpdate,
    read_schema=VehicleRead, label=("车辆", "Vehicles"),
    labels={"plate": ("车牌号", "Plate"), "plate_kind": ("号牌种类", "Plate kind"),
            "vehicle_type": ("车辆类型", "Vehicle type"), "category": ("车辆类别", "Category"),
            "owner_person_id": ("车主", "Owner"), "room_id": ("所属住户", "Household"),
            "brand": ("品牌", "Brand"), "colour": ("颜色", "Colour"),
            "parking_space_id": ("车位", "Parking space")},
    filterable=("plate", "plate_kind", "vehicle_type", "category", "owner_person_id", "room_id",
                "created_at"),
    sortable=("id", "plate", "created_at", "updated_at"), search=("plate", "brand"),
    default_sort=("plate",), household_column="room_id",
    refs={"owner_person_id": "persons", "room_id": "rooms",
          "parking_space_id": "parking_spaces"},
    layer="dynamic", preparer=service.prepare_vehicle, example=_vehicle_example,
).register()

organisation_staff = ProtectedLedger(
    name="organisation_staff", model=OrganisationStaff, create_schema=StaffCreate,
    update_schema=StaffUpdate, read_schema=StaffRead, label=("单位从业人员", "Organisation staff"),
    permission="organisations",
    labels={"organisation_id": ("单位", "Organisation"), "person_id": ("人员", "Person"),
            "position": ("岗位", "Position"), "since_date": ("入职日期", "Since"),
            "until_date": ("离职日期", "Until")},
    filterable=("organisation_id", "person_id", "since_date", "until_date", "created_at"),
    sortable=("id", "since_date", "created_at", "updated_at"), search=("position",),
    refs={"organisation_id": "organisations", "person_id": "persons"}, layer="dynamic",
    preparer=service.prepare_staff, example=_staff_example,
).register()

key_units = ProtectedLedger(
    name="key_units", model=KeyUnit, create_schema=KeyUnitCreate, update_schema=KeyUnitUpdate,
    read_schema=KeyUnitRead, label=("重点单位", "Key units"), permission="organisations",
    labels={"organisation_id": ("单位", "Organisation"), "category": ("类别", "Category"),
            "risk_level": ("风险等级", "Risk level"), "risk_notes": ("风险隐患", "Risks"),
            "safety_person_id": ("安全责任人", "Safety officer"),
            "last_inspected_on": ("最近检查", "Last inspected"),
            "next_inspection_due": ("下次检查", "Next inspection")},
    filterable=("category", "risk_level", "organisation_id", "next_inspection_due",
                "created_at"),
    sortable=("id", "risk_level", "next_inspection_due", "created_at", "updated_at"),
    search=("risk_notes",),
    refs={"organisation_id": "organisations", "safety_person_id": "persons"}, layer="dynamic",
    preparer=service.prepare_key_unit, on_write=service.mark_key_unit,
    example=_key_unit_example,
).register()

rentals = ProtectedLedger(
    name="rentals", model=Rental, create_schema=RentalCreate, update_schema=RentalUpdate,
    read_schema=RentalRead, label=("出租房屋", "Rentals"), permission="households",
    labels={**ROOM, "landlord_person_id": ("房东", "Landlord"),
            "tenant_person_id": ("承租人", "Tenant"), "lease_start": ("起租日期", "Lease start"),
            "lease_end": ("到期日期", "Lease end"), "monthly_rent": ("月租金", "Monthly rent"),
            "purpose": ("用途", "Purpose"), "occupants": ("居住人数", "Occupants"),
            "filed": ("已备案", "Filed"), "status": ("状态", "Status")},
    filterable=("room_id", "building_id", "purpose", "filed", "status", "lease_end",
                "tenant_person_id", "landlord_person_id", "created_at"),
    sortable=("id", "lease_start", "lease_end", "created_at", "updated_at"),
    default_sort=("-lease_start",), building_column="building_id", household_column="room_id",
    refs={"room_id": "rooms", "building_id": "buildings", "landlord_person_id": "persons",
          "tenant_person_id": "persons"},
    layer="dynamic", preparer=service.prepare_rental, example=_rental_example,
).register()
