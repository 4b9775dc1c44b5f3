"""The access ledgers: doors and watch-lists (plain ledgers); credentials, pass records,
watch-list hits, visitors and registrations (read-only: written through the verbs).

Read-only ledgers (`writes=False`) have an `example` that inserts the row through the verbs
and returns `{"id": <new id>}`, as the case engine's do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.models import (
    Credential,
    Direction,
    Door,
    DoorKind,
    PassMethod,
    PassRecord,
    PassResult,
    Registration,
    Visitor,
    Watchlist,
    WatchlistHit,
)
from shequ.access.schemas import (
    CredentialRead,
    DoorCreate,
    DoorRead,
    DoorUpdate,
    NoInput,
    PassRecordRead,
    RegistrationRead,
    VisitorRead,
    WatchlistCreate,
    WatchlistHitRead,
    WatchlistRead,
    WatchlistUpdate,
)
from shequ.cim.models import Building
from shequ.cim.service import parent
from shequ.kit.db import utcnow
from shequ.kit.errors import ValidationFailed
from shequ.people.ledgers import example_person, example_room
from shequ.people.models import Person
from shequ.people.privacy import ProtectedLedger

# -- checks ---------------------------------------------------------------------------------


def prepare_door(session: Session, data: dict[str, Any], current: Door | None,
                 ) -> dict[str, Any]:
    """A door inside a building names a building of its community."""
    community_id = int(data.get("community_id") or (current.community_id if current else 0))
    if data.get("building_id"):
        parent(session, Building, data["building_id"], community_id, "building_id")
    return data


def prepare_watchlist(session: Session, data: dict[str, Any], current: Watchlist | None,
                      ) -> dict[str, Any]:
    """A person entry names a person of the community; a vehicle entry names a plate."""
    if current is None:
        needed = "person_id" if data["kind"] == "person" else "plate"
        if not data.get(needed) or data.get("plate" if needed == "person_id" else "person_id"):
            raise ValidationFailed(code="access.watch_target", errors=[
                {"field": needed, "code": "access.watch_target"}])
        if data.get("person_id"):
            parent(session, Person, data["person_id"], data["community_id"], "person_id")
        data["active_from"] = data.get("active_from") or utcnow()
    return data


# -- examples -------------------------------------------------------------------------------


def example_door(session: Session, community_id: int, n: int = 0, *,
                 perimeter: bool = True) -> Door:
    """A new door with a device id (prerequisite of examples)."""
    door = Door(community_id=community_id, name=f"示例门禁{n}", kind=DoorKind.pedestrian_gate,
                device_id=uuid.uuid4().int % 10**12, perimeter=perimeter)
    session.add(door)
    session.flush()
    return door


def _door_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    building = example_room(session, community_id).building_id
    return {"community_id": community_id, "name": f"{n + 1}号门",
            "kind": list(DoorKind)[n % len(DoorKind)], "device_id": 5000 + n,
            "building_id": building if n % 2 else None, "place": f"东侧入口{n}",
            "direction": ["in", "out", "both"][n % 3], "perimeter": n % 2 == 0}


def _watchlist_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    if n % 2:
        return {"community_id": community_id, "kind": "vehicle", "plate": f"浙B{n:05d}",
                "level": "critical", "reason": f"布控车辆{n}"}
    return {"community_id": community_id, "kind": "person",
            "person_id": example_person(session, community_id).id, "level": "warning",
            "reason": f"布控人员{n}"}


def _credential_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    from shequ.access.schemas import CredentialIssue
    from shequ.access.service import example_service
    from shequ.platform.scoping import SYSTEM

    person = example_person(session, community_id)
    body = CredentialIssue(person_id=person.id, kind=["card", "face", "pin", "qr"][n % 4],
                           identifier=[f"C{community_id:04d}{n:06d}", f"F{n:08d}",
                                       f"{n:04d}{community_id % 10000:04d}", None][n % 4])
    return {"id": example_service().issue(session, SYSTEM, body)[0].id}


def _pass_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    from shequ.access.ingest import PassEvent, record_passes

    door = example_door(session, community_id, 10 + n % 50)
    person = example_person(session, community_id)
    event = PassEvent(community_id=community_id, device_id=door.device_id,
                      occurred_at=dt.datetime(2026, 3, 1 + n % 28, 8 + n % 12, tzinfo=dt.UTC),
                      method=list(PassMethod)[n % 4], person_id=person.id,
                      direction=list(Direction)[n % 2],
                      result=PassResult.granted if n % 3 else PassResult.denied,
                      plate=f"浙C{n:05d}" if n % 2 else None)
    return {"id": record_passes(session, [event])[0]}


def _hit_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    from shequ.access.ingest import PassEvent, record_passes

    person = example_person(session, community_id)
    session.add(Watchlist(community_id=community_id, kind="person", person_id=person.id,
                          reason=f"示例布控{n}", active_from=utcnow() - dt.timedelta(days=1)))
    session.flush()
    record_passes(session, [PassEvent(community_id=community_id, device_id=None,
                                      occurred_at=utcnow(), person_id=person.id)])
    return {"id": session.scalars(select(WatchlistHit.id).where(
        WatchlistHit.person_id == person.id)).one()}


def _visitor_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    from shequ.access.schemas import GateVisit
    from shequ.access.service import example_service
    from shequ.access.visits import VisitService
    from shequ.platform.scoping import SYSTEM

    start = utcnow() + dt.timedelta(hours=1 + n)
    body = GateVisit(room_id=example_room(session, community_id).id, name=f"访客{n:03d}",
                     phone=f"1380000{n:04d}", window_start=start,
                     window_end=start + dt.timedelta(hours=2), approve_now=n % 2 == 0)
    return {"id": VisitService(example_service()).at_gate(session, SYSTEM, body)[0].id}


def _registration_example(session: Session, community_id: int, n: int) -> dict[str, Any]:
    from shequ.access.registrations import RegistrationService, community_link
    from shequ.access.schemas import RegistrationForm
    from shequ.access.service import example_service
    from shequ.people.identity import compose_resident_id
    from shequ.platform.models import Community

    service = example_service()
    community = session.get(Community, community_id)
    assert community is not None
    form = RegistrationForm(
        link=community_link(service.signer, community.code), name=f"登记人{n:03d}",
        id_number=compose_resident_id("330102", dt.date(1980, 1, 1 + n % 28), 200 + n),
        phone=f"1370000{n:04d}", room_id=example_room(session, community_id).id)
    return {"id": RegistrationService(service).submit(session, community, form)[0].id}


# -- declarations -------------------------------------------------------------------------

TIMES = {"created_at": ("创建时间", "Created at"), "updated_at": ("更新时间", "Updated at")}
WHO = {"person_id": ("人员", "Person"), "building_id": ("楼栋", "Building"),
       "room_id": ("房屋", "Room"), "plate": ("车牌号", "Plate")}

doors = ProtectedLedger(
    name="doors", model=Door, create_schema=DoorCreate, update_schema=DoorUpdate,
    read_schema=DoorRead, label=("门禁点", "Doors and gates"), permission="devices",
    labels={**WHO, "kind": ("类型", "Kind"), "device_id": ("设备", "Device"),
            "place": ("位置", "Place"), "direction": ("方向", "Direction"),
            "perimeter": ("小区出入口", "On the perimeter")},
    filterable=("kind", "device_id", "building_id", "direction", "perimeter", "created_at"),
    sortable=("id", "name", "created_at", "updated_at"), search=("name", "place"),
    default_sort=("name",), building_column="building_id",
    refs={"building_id": "buildings"}, layer="dynamic", preparer=prepare_door,
    example=_door_example,
).register()

credentials = ProtectedLedger(
    name="credentials", model=Credential, create_schema=NoInput, update_schema=NoInput,
    read_schema=CredentialRead, label=("通行凭证", "Credentials"),
    labels={**WHO, "serial": ("序列号", "Serial"), "kind": ("类型", "Kind"),
            "visitor_id": ("访客", "Visitor"), "identifier": ("卡号/标识", "Identifier"),
            "valid_from": ("生效时间", "Valid from"), "valid_until": ("失效时间", "Valid until"),
            "state": ("状态", "State"), "revoked_at": ("注销时间", "Revoked at"),
            "revoke_reason": ("注销原因", "Revoke reason"),
            "change_seq": ("名单版本", "Allow-list version")},
    filterable=("kind", "person_id", "visitor_id", "state", "building_id", "valid_until",
                "created_at"),
    sortable=("id", "valid_until", "change_seq", "created_at", "updated_at"),
    search=("serial",), refs={"person_id": "persons", "visitor_id": "visitors",
                              "building_id": "buildings"},
    layer="dynamic", writes=False, example=_credential_example,
).register()

pass_records = ProtectedLedger(
    name="pass_records", model=PassRecord, create_schema=NoInput, update_schema=NoInput,
    read_schema=PassRecordRead, label=("通行记录", "Pass records"),
    labels={**WHO, "occurred_at": ("通行时间", "Time"), "door_id": ("门禁点", "Door"),
            "device_id": ("设备", "Device"), "subject": ("对象", "Subject"),
            "vehicle_id": ("车辆", "Vehicle"), "visitor_id": ("访客", "Visitor"),
            "credential_id": ("凭证", "Credential"), "direction": ("方向", "Direction"),
            "method": ("开门方式", "Method"), "result": ("结果", "Result"),
            "reason": ("原因", "Reason"), "snapshot_key": ("抓拍", "Snapshot"),
            "created_at": ("入库时间", "Stored at")},
    filterable=("occurred_at", "person_id", "plate", "door_id", "device_id", "building_id",
                "vehicle_id", "visitor_id", "subject", "direction", "method", "result",
                "created_at"),
    sortable=("id", "occurred_at", "created_at"), default_sort=("-occurred_at",),
    building_column="building_id",
    refs={"person_id": "persons", "door_id": "doors", "vehicle_id": "vehicles",
          "visitor_id": "visitors", "credential_id": "credentials"},
    layer="dynamic", writes=False, example=_pass_example,
).register()

watchlists = ProtectedLedger(
    name="watchlists", model=Watchlist, create_schema=WatchlistCreate,
    update_schema=WatchlistUpdate, read_schema=WatchlistRead, label=("布控名单", "Watch-lists"),
    labels={**WHO, **TIMES, "kind": ("类型", "Kind"), "level": ("级别", "Level"),
            "reason": ("布控原因", "Reason"), "active_from": ("开始时间", "From"),
            "active_until": ("结束时间", "Until"), "state": ("状态", "State")},
    filterable=("kind", "person_id", "plate", "level", "state", "created_at"),
    sortable=("id", "active_from", "created_at", "updated_at"), search=("plate",),
    refs={"person_id": "persons"}, layer="dynamic", preparer=prepare_watchlist,
    example=_watchlist_example,
).register()

watchlist_hits = ProtectedLedger(
    name="watchlist_hits", model=WatchlistHit, create_schema=NoInput, update_schema=NoInput,
    read_schema=WatchlistHitRead, label=("布控命中", "Watch-list hits"), permission="watchlists",
    labels={**WHO, "watchlist_id": ("布控名单", "Watch-list entry"),
            "pass_record_id": ("通行记录", "Pass"), "kind": ("类型", "Kind"),
            "level": ("级别", "Level"), "door_id": ("门禁点", "Door"),
            "occurred_at": ("通行时间", "Time")},
    filterable=("watchlist_id", "kind", "level", "person_id", "plate", "door_id",
                "occurred_at", "created_at"),
    sortable=("id", "occurred_at", "created_at"), default_sort=("-occurred_at",),
    refs={"watchlist_id": "watchlists", "pass_record_id": "pass_records",
          "person_id": "persons", "door_id": "doors"},
    layer="dynamic", writes=False, example=_hit_example,
).register()

visitors = ProtectedLedger(
    name="visitors", model=Visitor, create_schema=NoInput, update_schema=NoInput,
    read_schema=VisitorRead, label=("访客", "Visitors"),
    labels={**WHO, "host_person_id": ("被访人", "Host"), "name": ("访客姓名", "Visitor"),
            "phone": ("联系电话", "Phone"), "id_type": ("证件类型", "Document type"),
            "id_number": ("证件号码", "Document number"), "purpose": ("事由", "Purpose"),
            "party_size": ("人数", "Party size"), "window_start": ("开始时间", "From"),
            "window_end": ("结束时间", "Until"), "origin": ("来源", "Origin"),
            "status": ("状态", "Status"), "decided_by": ("审批人", "Decided by"),
            "decided_at": ("审批时间", "Decided at"),
            "decision_reason": ("审批意见", "Decision note")},
    filterable=("room_id", "building_id", "host_person_id", "name", "plate", "origin",
                "status", "window_start", "created_at"),
    sortable=("id", "window_start", "created_at", "updated_at"), search=("name", "purpose"),
    default_sort=("-window_start",), building_column="building_id", household_column="room_id",
    refs={"room_id": "rooms", "building_id": "buildings", "host_person_id": "persons"},
    layer="dynamic", writes=False, example=_visitor_example,
).register()

registrations = ProtectedLedger(
    name="registrations", model=Registration, create_schema=NoInput, update_schema=NoInput,
    read_schema=RegistrationRead, label=("自助登记", "Self-registrations"),
    labels={**WHO, "name": ("姓名", "Name"), "id_type": ("证件类型", "Document type"),
            "id_number": ("证件号码", "Document number"), "phone": ("联系电话", "Phone"),
            "relation": ("与户关系", "Relation"), "face_photo_key": ("人脸照片", "Face photo"),
            "status": ("状态", "Status"), "decided_by": ("审核人", "Reviewed by"),
            "decided_at": ("审核时间", "Reviewed at"),
            "decision_reason": ("审核意见", "Review note"),
            "credential_id": ("电子通行证", "Electronic pass")},
    filterable=("status", "room_id", "relation", "person_id", "created_at"),
    sortable=("id", "created_at", "updated_at"), search=("name",),
    refs={"room_id": "rooms", "person_id": "persons", "credential_id": "credentials"},
    layer="dynamic", writes=False, example=_registration_example,
).register()
