"""The demo community's people (layer 3): about 8,000 residents in realistic households,
tenants in rented flats, organisation staff and key units, vehicles with valid plates,
doors and cards, a month of passes, visits, watch-list entries and pending registrations.

Everything comes from a fixed seed, so every demo is the same. Names are drawn from common
Chinese surnames and given names; identity numbers carry valid GB 11643 check characters and
birth dates that match the ages; phones, care tags and population classes follow the
household's kind. Passes are bulk-inserted, except those of watched subjects, which go
through the ingest hook so that their watch-list hits are real.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from shequ.access.ingest import PassEvent, credential_index, record_passes
from shequ.access.models import (
    AccessSequence,
    Credential,
    CredentialKind,
    Door,
    DoorKind,
    PassRecord,
    WatchKind,
    WatchLevel,
    Watchlist,
)
from shequ.access.registrations import RegistrationService, community_link
from shequ.access.schemas import GateVisit, RegistrationForm, VisitInvite
from shequ.access.service import AccessService, signer_for
from shequ.access.visits import VisitService
from shequ.cim.models import Building, BuildingUse, Room, RoomState, RoomUse
from shequ.kit.db import utcnow
from shequ.people.identity import Gender, PlateKind, compose_resident_id, parse_plate
from shequ.people.models import (
    CareTag,
    KeyUnit,
    KeyUnitCategory,
    OrganisationStaff,
    Person,
    PersonIdentity,
    PersonSource,
    Population,
    Relation,
    Rental,
    RentalStatus,
    Residency,
    RiskLevel,
    Vehicle,
    VehicleCategory,
    VehicleType,
)
from shequ.platform.models import Community, Organisation, OrganisationKind
from shequ.platform.scoping import SYSTEM
from shequ.platform.service import PlatformService

SEED = 2026
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田"
            "董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方"
            "白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN = {Gender.male: "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林欢阳建国"
                      "峰亮成志文东海",
         Gender.female: "芳娜敏静丽艳娟霞秀玲桂英萍红玉兰燕琳梅莉丹雪婷慧颖倩琪欣怡佳悦晨"
                        "璐蕾洁薇月"}
COLOURS = ("白色", "黑色", "银色", "灰色", "蓝色", "红色")
BRANDS = ("大众", "丰田", "比亚迪", "吉利", "本田", "特斯拉")
PURPOSES = ("探亲", "访友", "送货", "维修")
LOCAL = {"330102": "浙江省杭州市上城区", "330105": "浙江省杭州市拱墅区",
         "330106": "浙江省杭州市西湖区", "330108": "浙江省杭州市滨江区",
         "330110": "浙江省杭州市余杭区"}
ELSEWHERE = {"340102": "安徽省合肥市瑶海区", "410102": "河南省郑州市中原区",
             "360102": "江西省南昌市东湖区", "420102": "湖北省武汉市江岸区",
             "510104": "四川省成都市锦江区", "320102": "江苏省南京市玄武区",
             "430102": "湖南省长沙市芙蓉区", "500101": "重庆市万州区"}
PHONE_PREFIXES = ("130", "131", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                  "157", "158", "159", "177", "180", "182", "186", "187", "188", "189", "199")
ETHNIC = ("汉族",) * 60 + ("回族", "满族", "壮族", "土家族", "苗族")
# (kind, weight, members as (age low, age high, role)); role: head, spouse, child, elder
HOUSEHOLDS = (
    ("elder_alone", 6, ((66, 93, "head"),)),
    ("elder_couple", 10, ((63, 88, "head"), (60, 86, "spouse"))),
    ("couple", 10, ((25, 40, "head"), (24, 39, "spouse"))),
    ("family_one_child", 28, ((30, 50, "head"), (29, 48, "spouse"), (0, 19, "child"))),
    ("family_two_children", 15, ((32, 52, "head"), (31, 50, "spouse"), (0, 21, "child"),
                                 (0, 16, "child"))),
    ("three_generations", 25, ((30, 48, "head"), (29, 46, "spouse"), (0, 17, "child"),
                               (58, 86, "elder"), (58, 84, "elder"))),
    ("single", 6, ((22, 40, "head"),)),
)
PARTY_STAFF = {OrganisationKind.property_company: 25, OrganisationKind.residents_committee: 8,
               OrganisationKind.street_office: 5, OrganisationKind.service_company: 10,
               OrganisationKind.commercial_company: 6}
KEY_UNITS = (("翠苑加油站", KeyUnitCategory.fuel_station, RiskLevel.high,
              "油罐区动火作业需审批；消防沙池与灭火器每月检查"),
             ("翠苑一区幼儿园", KeyUnitCategory.childcare, RiskLevel.medium,
              "接送时段门口人员密集；厨房燃气需每日巡查"),
             ("文二西路农贸市场", KeyUnitCategory.crowded_place, RiskLevel.medium,
              "早市人流量大；电动自行车违规充电隐患"))
HISTORY_DAYS = 30
ANALYSED = ("persons", "residencies", "vehicles", "credentials", "pass_records")
TRIPS = [0] * 45 + [1] * 42 + [2] * 11 + [3] * 2


@dataclass
class Resident:
    """A generated person before insertion, with what the later steps need."""

    person: Person
    room: Room | None
    age: int
    card: str | None = None
    credential_id: int | None = None
    car: tuple[int, str] | None = None


@dataclass
class Demo:
    """The generator's state: the random source, used numbers and what was made."""

    session: Session
    community: Community
    rng: random.Random
    today: dt.date
    numbers: set[str] = field(default_factory=set)
    plates: set[str] = field(default_factory=set)
    residents: list[Resident] = field(default_factory=list)
    owners: list[Person] = field(default_factory=list)

    # -- people ---------------------------------------------------------------------------

    def name(self, gender: Gender, surname: str | None = None) -> str:
        """A plausible Chinese name (a given name of one or two characters)."""
        given = GIVEN[gender]
        size = 2 if self.rng.random() < 0.6 else 1
        return (surname or self.rng.choice(SURNAMES)) + "".join(
            self.rng.choice(given) for _ in range(size))

    def id_number(self, region: str, born: dt.date, gender: Gender) -> str:
        """A unique valid resident ID whose sequence digit matches the gender."""
        while True:
            sequence = self.rng.randrange(0, 1000)
            if (sequence % 2 == 1) != (gender == Gender.male):
                sequence = (sequence + 1) % 1000
            number = compose_resident_id(region, born, sequence)
            if number not in self.numbers:
                self.numbers.add(number)
                return number

    def phone(self) -> str:
        """A mobile number."""
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def person(self, age: int, *, local: bool, gender: Gender | None = None,
               surname: str | None = None, **fields: Any) -> Person:
        """A person of an age, registered here or from elsewhere."""
        gender = gender or self.rng.choice((Gender.male, Gender.female))
        born = self.today - dt.timedelta(days=age * 365 + self.rng.randrange(365))
        region = self.rng.choice(list(LOCAL if local else ELSEWHERE))
        population = (Population.registered if local else
                      self.rng.choice((Population.resident, Population.floating)))
        return Person(
            community_id=self.community.id, name=self.name(gender, surname), gender=gender,
            birth_date=born, ethnicity=self.rng.choice(ETHNIC),
            id_number=self.id_number(region, born, gender),
            phone=self.phone() if age >= 14 else None, population=population,
            domicile={**LOCAL, **ELSEWHERE}[region], source=PersonSource.staff, **fields)


def _care(demo: Demo, age: int, kind: str) -> list[str]:
    tags = []
    if kind == "elder_alone":
        tags.append(CareTag.living_alone)
    if kind == "elder_couple":
        tags.append(CareTag.empty_nest)
    if age >= 80:
        tags.append(CareTag.elderly)
    if age >= 60 and demo.rng.random() < 0.3:
        tags.append(CareTag.chronic_illness)
    if demo.rng.random() < 0.02:
        tags.append(CareTag.disabled)
    if demo.rng.random() < 0.015:
        tags.append(CareTag.low_income)
    return [str(t) for t in tags]


def _household(demo: Demo, room: Room) -> list[Resident]:
    kinds = [k for k, _, _ in HOUSEHOLDS]
    kind = demo.rng.choices(kinds, [w for _, w, _ in HOUSEHOLDS])[0]
    members = next(m for k, _, m in HOUSEHOLDS if k == kind)
    local = demo.rng.random() < 0.85
    head_gender = demo.rng.choice((Gender.male, Gender.female))
    family = demo.name(Gender.male)[0]
    out = []
    for low, high, role in members:
        age = demo.rng.randint(low, high)
        gender = {"head": head_gender, "spouse": Gender.female if head_gender == Gender.male
                  else Gender.male}.get(role)
        person = demo.person(age, local=local, gender=gender,
                             surname=family if role in ("head", "child") else None,
                             identity=PersonIdentity.owner if role == "head"
                             else PersonIdentity.family_member,
                             care_tags=_care(demo, age, kind), household_id=room.id)
        out.append(Resident(person, room, age))
    return out


def _tenants(demo: Demo, room: Room) -> list[Resident]:
    count = demo.rng.choices((1, 2, 3, 4), (35, 40, 15, 10))[0]
    return [Resident(demo.person(age := demo.rng.randint(20, 45), local=False,
                                 identity=PersonIdentity.tenant, household_id=room.id),
                     room, age) for _ in range(count)]


def _key_people(demo: Demo) -> None:
    adults = [r for r in demo.residents if 25 <= r.age <= 60]
    for resident in demo.rng.sample(adults, 12):
        resident.person.is_key_person = True
        resident.person.key_category = demo.rng.choice(("社区矫正", "重点关注", "刑满释放"))


def _residencies(demo: Demo) -> None:
    session = demo.session
    rows = []
    for index, resident in enumerate(demo.residents):
        room, person = resident.room, resident.person
        if room is None:
            continue
        tenant = person.identity == PersonIdentity.tenant
        head = index == 0 or demo.residents[index - 1].room is not room
        moved = demo.today - dt.timedelta(days=demo.rng.randrange(60, 700) if tenant
                                          else demo.rng.randrange(365, 9000))
        rows.append({"community_id": demo.community.id, "person_id": person.id,
                     "room_id": room.id, "building_id": room.building_id,
                     "relation": Relation.tenant if tenant else (
                         Relation.owner if head else Relation.family_member),
                     "is_householder": head, "move_in_date": moved})
        if head and not tenant:
            demo.owners.append(person)
    session.execute(insert(Residency), rows)


def _rentals(demo: Demo, rooms: list[Room]) -> None:
    first: dict[int, Resident] = {}
    for resident in demo.residents:
        if resident.room is not None and resident.person.identity == PersonIdentity.tenant:
            first.setdefault(resident.room.id, resident)
    rows = []
    for room in rooms:
        tenant = first.get(room.id)
        start = demo.today - dt.timedelta(days=demo.rng.randrange(30, 700))
        end = start + dt.timedelta(days=365 * demo.rng.choice((1, 2)))
        rows.append({
            "community_id": demo.community.id, "room_id": room.id,
            "building_id": room.building_id,
            "landlord_person_id": demo.rng.choice(demo.owners).id
            if demo.owners and demo.rng.random() < 0.4 else None,
            "tenant_person_id": tenant.person.id if tenant else None, "lease_start": start,
            "lease_end": end, "monthly_rent": float(demo.rng.randrange(2500, 6500, 100)),
            "occupants": sum(1 for r in demo.residents if r.room is room) or 1,
            "filed": demo.rng.random() < 0.8,
            "status": RentalStatus.active if end > demo.today else RentalStatus.ended})
    if rows:
        demo.session.execute(insert(Rental), rows)


def _plate(demo: Demo) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    while True:
        if demo.rng.random() < 0.25:
            text = (f"浙A{demo.rng.choice('DF')}{demo.rng.choice(letters + '0123456789')}"
                    f"{demo.rng.randrange(10_000):04d}")
        else:
            text = f"浙A{demo.rng.choice(letters)}{demo.rng.randrange(10_000):04d}"
        if text not in demo.plates:
            demo.plates.add(text)
            return text


def _vehicles(demo: Demo) -> None:
    heads = [r for r in demo.residents if r.room is not None and r.age >= 22
             and r.person.identity in (PersonIdentity.owner, PersonIdentity.tenant)]
    for resident in heads:
        chance = 0.4 if resident.person.identity == PersonIdentity.owner else 0.15
        if demo.rng.random() >= chance:
            continue
        plate = parse_plate(_plate(demo))
        vehicle = Vehicle(community_id=demo.community.id, plate=plate.text,
                          plate_kind=plate.kind, owner_person_id=resident.person.id,
                          room_id=resident.room.id if resident.room else None,
                          vehicle_type=demo.rng.choices(
                              (VehicleType.car, VehicleType.suv, VehicleType.van),
                              (70, 25, 5))[0], category=VehicleCategory.resident,
                          colour=demo.rng.choice(COLOURS), brand=demo.rng.choice(BRANDS))
        demo.session.add(vehicle)
        demo.session.flush()
        resident.car = (vehicle.id, vehicle.plate)
    for _ in range(20):
        plate = parse_plate(_plate(demo))
        demo.session.add(Vehicle(community_id=demo.community.id, plate=plate.text,
                                 plate_kind=plate.kind, category=VehicleCategory.visitor))
    assert all(parse_plate(p).kind in PlateKind for p in demo.plates)


def _staff(demo: Demo) -> None:
    session, cid = demo.session, demo.community.id
    parties = session.scalars(select(Organisation).where(Organisation.community_id == cid))
    for org in parties:
        count = PARTY_STAFF.get(org.kind, 0)
        members = [demo.person(demo.rng.randint(24, 58), local=demo.rng.random() < 0.5,
                               identity=PersonIdentity.staff) for _ in range(count)]
        if org.kind == OrganisationKind.owners_committee:
            members = demo.rng.sample(demo.owners, min(7, len(demo.owners)))
        _employ(demo, org, members)
    for name, category, risk, notes in KEY_UNITS:
        org = Organisation(community_id=cid, name=name, kind=OrganisationKind.key_unit,
                           contact_person=demo.name(Gender.male), contact_phone=demo.phone(),
                           is_key_unit=True)
        session.add(org)
        session.flush()
        members = [demo.person(demo.rng.randint(22, 55), local=False,
                               identity=PersonIdentity.staff)
                   for _ in range(demo.rng.randint(4, 8))]
        _employ(demo, org, members)
        session.add(KeyUnit(community_id=cid, organisation_id=org.id, category=category,
                            risk_level=risk, risk_notes=notes, safety_person_id=members[0].id,
                            last_inspected_on=demo.today - dt.timedelta(days=20),
                            next_inspection_due=demo.today + dt.timedelta(days=10)))


def _employ(demo: Demo, org: Organisation, members: list[Person]) -> None:
    demo.session.add_all([m for m in members if m.id is None])
    demo.session.flush()
    positions = ("经理", "主管", "专员", "保安", "保洁", "维修工", "客服", "网格员")
    demo.session.execute(insert(OrganisationStaff), [
        {"community_id": demo.community.id, "organisation_id": org.id, "person_id": m.id,
         "position": demo.rng.choice(positions),
         "since_date": demo.today - dt.timedelta(days=demo.rng.randrange(100, 3000))}
        for m in members])


# -- access ------------------------------------------------------------------------------


def _doors(demo: Demo) -> dict[str, list[Door]]:
    cid = demo.community.id
    doors = {"gates": [Door(community_id=cid, name=n, kind=DoorKind.pedestrian_gate,
                            place=n, perimeter=True) for n in ("东门", "南门", "北门")],
             "vehicle": [Door(community_id=cid, name=n, kind=DoorKind.vehicle_gate, place=n,
                              perimeter=True) for n in ("东门车行道闸", "地下车库出入口")]}
    buildings = demo.session.scalars(select(Building).where(
        Building.community_id == cid, Building.use == BuildingUse.residential)
        .order_by(Building.code)).all()
    doors["lobbies"] = [Door(community_id=cid, name=f"{b.name}大堂门禁", building_id=b.id,
                             kind=DoorKind.building_door, place=b.name, perimeter=False)
                        for b in buildings]
    demo.session.add_all([d for group in doors.values() for d in group])
    demo.session.flush()
    return doors


def _cards(demo: Demo) -> None:
    cid = demo.community.id
    holders = [r for r in demo.residents if r.age >= 12]
    for n, resident in enumerate(holders, start=1):
        resident.card = f"{0x3A000000 + n:010d}"
    demo.session.execute(insert(Credential), [
        {"community_id": cid, "serial": f"D{cid:04d}{n:011d}", "kind": CredentialKind.card,
         "person_id": r.person.id, "identifier": r.card,
         "identifier_index": credential_index("card", r.card or ""), "change_seq": n}
        for n, r in enumerate(holders, start=1)])
    demo.session.add(AccessSequence(community_id=cid, value=len(holders)))
    by_card = dict(demo.session.execute(select(Credential.identifier_index, Credential.id)
                                        .where(Credential.community_id == cid)).all())
    for resident in holders:
        resident.credential_id = by_card[credential_index("card", resident.card or "")]


def _trip_rows(demo: Demo, resident: Resident, day: dt.datetime,
               doors: dict[str, list[Door]]) -> list[dict[str, Any]]:
    leave = day + dt.timedelta(seconds=demo.rng.randrange(6 * 3600, 20 * 3600))
    back = leave + dt.timedelta(seconds=demo.rng.randrange(1200, 5 * 3600))
    base = {"community_id": demo.community.id, "result": "granted", "created_at": back}
    if resident.car and demo.rng.random() < 0.5:
        gate = demo.rng.choice(doors["vehicle"])
        return [{**base, "occurred_at": at, "direction": way, "door_id": gate.id,
                 "subject": "vehicle", "vehicle_id": resident.car[0], "plate": resident.car[1],
                 "method": "plate"} for at, way in ((leave, "out"), (back, "in"))]
    gate = demo.rng.choice(doors["gates"])
    method = "card" if resident.card and demo.rng.random() < 0.6 else "face"
    rows = [{**base, "occurred_at": at, "direction": way, "door_id": gate.id,
             "subject": "person", "person_id": resident.person.id, "method": method,
             "credential_id": resident.credential_id if method == "card" else None}
            for at, way in ((leave, "out"), (back, "in"))]
    lobby = _lobby(doors, resident)
    if lobby is not None and demo.rng.random() < 0.3:
        rows.append({**rows[1], "occurred_at": back + dt.timedelta(minutes=2),
                     "door_id": lobby.id, "building_id": lobby.building_id})
    return rows


def _lobby(doors: dict[str, list[Door]], resident: Resident) -> Door | None:
    if resident.room is None:
        return None
    return next((d for d in doors["lobbies"] if d.building_id == resident.room.building_id),
                None)


PASSES = cast(Table, PassRecord.__table__)
COLUMNS = ("community_id", "occurred_at", "created_at", "door_id", "device_id", "building_id",
           "subject", "person_id", "vehicle_id", "visitor_id", "credential_id", "plate",
           "direction", "method", "result", "reason", "snapshot_key", "source_key",
           "deleted_at")


def _history(demo: Demo, doors: dict[str, list[Door]], watched: set[int]) -> int:
    """A month of round trips; the stay-at-home elders stop going out five days ago."""
    start = dt.datetime.combine(demo.today, dt.time(), dt.UTC) - dt.timedelta(
        days=HISTORY_DAYS)
    alone = [r for r in demo.residents if CareTag.living_alone in (r.person.care_tags or [])]
    stay = {r.person.id for r in demo.rng.sample(alone, min(8, len(alone)))}
    movers = [r for r in demo.residents if 6 <= r.age <= 85 and r.room is not None]
    total = 0
    for day in range(HISTORY_DAYS):
        at = start + dt.timedelta(days=day)
        rows: list[dict[str, Any]] = []
        events: list[PassEvent] = []
        for resident in movers:
            if resident.person.id in stay and day >= HISTORY_DAYS - 5:
                continue
            for _ in range(TRIPS[demo.rng.randrange(100)] if resident.age < 80 else 0):
                trip = _trip_rows(demo, resident, at, doors)
                if resident.person.id in watched:
                    events += [_event(r) for r in trip]
                else:
                    rows += [{c: r.get(c) for c in COLUMNS} for r in trip]
        if rows:  # a Core insert: no ORM bookkeeping, one statement shape for every row
            demo.session.execute(insert(PASSES), rows)
        if events:
            record_passes(demo.session, events)
        total += len(rows) + len(events)
    return total


def _event(row: dict[str, Any]) -> PassEvent:
    return PassEvent(community_id=row["community_id"], device_id=None, door_id=row["door_id"],
                     occurred_at=row["occurred_at"], method=row["method"],
                     direction=row["direction"], person_id=row.get("person_id"),
                     credential_id=row.get("credential_id"), plate=row.get("plate"))


def _watch(demo: Demo) -> set[int]:
    keys = [r for r in demo.residents if r.person.is_key_person][:2]
    for resident in keys:
        demo.session.add(Watchlist(community_id=demo.community.id, kind=WatchKind.person,
                                   person_id=resident.person.id, level=WatchLevel.warning,
                                   reason="重点人员动态管控",
                                   active_from=utcnow() - dt.timedelta(days=HISTORY_DAYS)))
    demo.session.add(Watchlist(community_id=demo.community.id, kind=WatchKind.vehicle,
                               plate="皖A9X527", level=WatchLevel.critical,
                               reason="公安协查车辆", active_from=utcnow()))
    demo.session.flush()
    return {r.person.id for r in keys}


def _visits_and_registrations(demo: Demo, platform: PlatformService) -> None:
    access = AccessService(platform.record,
                           signer_for(platform.settings.secret_key.get_secret_value()))
    visits = VisitService(access)
    homes = [r for r in demo.residents if r.room is not None
             and r.person.identity == PersonIdentity.owner]
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    for n in range(40):
        host = demo.rng.choice(homes)
        assert host.room is not None
        start = now - dt.timedelta(days=demo.rng.randrange(-3, HISTORY_DAYS),
                                   hours=demo.rng.randrange(0, 10))
        fields = {"room_id": host.room.id, "host_person_id": host.person.id,
                  "name": demo.name(demo.rng.choice((Gender.male, Gender.female))),
                  "phone": demo.phone(), "purpose": demo.rng.choice(PURPOSES),
                  "window_start": start, "window_end": start + dt.timedelta(hours=4)}
        if n % 2:
            visits.invite(demo.session, SYSTEM, VisitInvite(**fields))
        else:
            visits.at_gate(demo.session, SYSTEM, GateVisit(**fields, approve_now=n % 4 == 0))
    link = community_link(access.signer, demo.community.code)
    rented = [r for r in demo.residents if r.person.identity == PersonIdentity.tenant]
    for resident in demo.rng.sample(rented, min(6, len(rented))):
        assert resident.room is not None
        born = demo.today - dt.timedelta(days=demo.rng.randrange(20, 40) * 365)
        gender = demo.rng.choice((Gender.male, Gender.female))
        RegistrationService(access).submit(demo.session, demo.community, RegistrationForm(
            link=link, name=demo.name(gender),
            id_number=demo.id_number(demo.rng.choice(list(ELSEWHERE)), born, gender),
            phone=demo.phone(), room_id=resident.room.id, relation=Relation.co_resident))


def load_people(session: Session, platform: PlatformService, community: Community) -> None:
    """Fill the demo community's dynamic layer (deterministic for a given day)."""
    demo = Demo(session, community, random.Random(SEED), utcnow().date())
    rooms = session.scalars(select(Room).where(
        Room.community_id == community.id, Room.use == RoomUse.residential)
        .order_by(Room.id)).all()
    rented = []
    for room in rooms:
        if room.state == RoomState.occupied:
            demo.residents += _household(demo, room)
        elif room.state == RoomState.rented:
            demo.residents += _tenants(demo, room)
            rented.append(room)
    _key_people(demo)
    session.add_all([r.person for r in demo.residents])
    session.flush()
    _residencies(demo)
    _rentals(demo, rented)
    _vehicles(demo)
    _staff(demo)
    doors = _doors(demo)
    _cards(demo)
    watched = _watch(demo)
    _history(demo, doors, watched)
    _visits_and_registrations(demo, platform)
    session.flush()
    for table in ANALYSED:  # a bulk load leaves the planner without statistics otherwise
        session.execute(text(f"ANALYZE {table}"))
