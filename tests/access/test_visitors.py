"""Visitors (6.6.7): invitation by a resident, registration at the gate, booking from the
community QR code; approval by the host household or a guard; a pass valid for the window
only; records per household."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import World
from tests.people.helpers import headers, room

NOW = dt.datetime.now(dt.UTC)


def _window(start_h: float, hours: float = 2) -> dict[str, str]:
    start = NOW + dt.timedelta(hours=start_h)
    return {"window_start": start.isoformat(),
            "window_end": (start + dt.timedelta(hours=hours)).isoformat()}


def _gate(world: World) -> int:
    h = headers(world, "property_manager")
    return int(world.client.post("/api/v1/doors", headers=h, json={
        "community_id": world.community_id, "name": "访客通道",
        "kind": "pedestrian_gate"}).json()["id"])


def _scan(world: World, door: int, token: str) -> dict[str, Any]:
    guard = headers(world, "security_operator")
    response = world.client.post(f"/api/v1/doors/{door}/scan", headers=guard,
                                 json={"token": token})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_an_invited_visitor_passes_within_the_window_only(world: World) -> None:
    home, gate = room(world), _gate(world)
    resident = headers(world, "resident", scope="household", scope_id=home)
    now = world.client.post("/api/v1/visitors/invitations", headers=resident, json={
        "room_id": home, "name": "陈静", "phone": "13600001111", "plate": "浙A1234学",
        **_window(-0.1)})
    assert now.status_code == 201, now.text
    body = now.json()
    assert body["visit"]["status"] == "approved" and body["token"].startswith("SQP1.")
    granted = _scan(world, gate, body["token"])
    assert granted["result"] == "granted" and granted["visitor_id"] == body["visit"]["id"]
    record = world.client.get(f"/api/v1/pass_records/{granted['pass_record_id']}",
                              headers=headers(world, "property_manager")).json()
    assert (record["subject"], record["visitor_id"]) == ("visitor", body["visit"]["id"])
    for window in (_window(20), _window(-30, 2)):
        later = world.client.post("/api/v1/visitors/invitations", headers=resident, json={
            "room_id": home, "name": "周杰", **window}).json()
        refused = _scan(world, gate, later["token"])
        assert (refused["result"], refused["reason"]) == ("denied", "access.pass.outside_window")
    status = world.client.get(f"/api/v1/public/visits/{body['ticket']}").json()
    assert status["status"] == "approved" and status["token"] == body["token"]
    qr = world.client.get(f"/api/v1/public/visits/{body['ticket']}/qr")
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")


def test_residents_invite_only_to_their_own_household(world: World) -> None:
    home, other = room(world), room(world)
    resident = headers(world, "resident", scope="household", scope_id=home)
    response = world.client.post("/api/v1/visitors/invitations", headers=resident, json={
        "room_id": other, "name": "吴磊", **_window(1)})
    assert response.status_code == 403
    assert response.json()["code"] == "resource.out_of_scope"
    bad = world.client.post("/api/v1/visitors/invitations", headers=resident, json={
        "room_id": home, "name": "吴磊", "id_type": "resident_id", "id_number": "123",
        **_window(1)})
    assert bad.status_code == 422 and bad.json()["code"] == "people.id.format"
    long = world.client.post("/api/v1/visitors/invitations", headers=resident, json={
        "room_id": home, "name": "吴磊", **_window(1, 24 * 8)})
    assert long.status_code == 422


def test_gate_registration_waits_for_the_host_household(world: World) -> None:
    home, other = room(world), room(world)
    guard = headers(world, "security_operator")
    pending = world.client.post("/api/v1/visitors/gate", headers=guard, json={
        "room_id": home, "name": "快递员", "purpose": "送货", **_window(0)})
    assert pending.status_code == 201, pending.text
    visit = pending.json()["visit"]
    assert visit["status"] == "pending" and pending.json()["token"] is None
    neighbour = headers(world, "resident", scope="household", scope_id=other)
    assert world.client.post(f"/api/v1/visitors/{visit['id']}/decision", headers=neighbour,
                             json={"approve": True}).status_code == 404
    host = headers(world, "resident", scope="household", scope_id=home)
    listed = world.client.get("/api/v1/visitors", headers=host).json()
    assert [v["id"] for v in listed["items"]] == [visit["id"]]
    assert world.client.get("/api/v1/visitors", headers=neighbour).json()["total"] == 0
    approved = world.client.post(f"/api/v1/visitors/{visit['id']}/decision", headers=host,
                                 json={"approve": True})
    assert approved.status_code == 200, approved.text
    assert approved.json()["visit"]["status"] == "approved" and approved.json()["token"]
    again = world.client.post(f"/api/v1/visitors/{visit['id']}/decision", headers=guard,
                              json={"approve": False})
    assert again.status_code == 409
    rejected = world.client.post("/api/v1/visitors/gate", headers=guard, json={
        "room_id": home, "name": "推销员", **_window(0)}).json()["visit"]
    no = world.client.post(f"/api/v1/visitors/{rejected['id']}/decision", headers=guard,
                           json={"approve": False, "reason": "住户不认识"}).json()
    assert no["visit"]["status"] == "rejected" and no["token"] is None
    now = world.client.post("/api/v1/visitors/gate", headers=guard, json={
        "room_id": home, "name": "维修工", "approve_now": True, **_window(0)}).json()
    assert now["visit"]["status"] == "approved" and now["token"]


def test_booking_from_the_community_code(world: World) -> None:
    home = room(world)
    committee = headers(world, "community_committee")
    link = world.client.get(f"/api/v1/communities/{world.code}/link", headers=committee).json()
    booking = {"room_id": home, "name": "林芳", **_window(2)}
    forged = world.client.post(f"/api/v1/public/communities/{world.code}/visits",
                               json={**booking, "link": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status_code == 403 and forged.json()["code"] == "access.link_invalid"
    booked = world.client.post(f"/api/v1/public/communities/{world.code}/visits",
                               json={**booking, "link": link["link"]})
    assert booked.status_code == 201, booked.text
    ticket = booked.json()["ticket"]
    waiting = world.client.get(f"/api/v1/public/visits/{ticket}").json()
    assert waiting == {**waiting, "status": "pending", "token": None}
    assert world.client.get(f"/api/v1/public/visits/{ticket}/qr").status_code == 404
    guard = headers(world, "security_operator")
    world.client.post(f"/api/v1/visitors/{booked.json()['id']}/decision", headers=guard,
                      json={"approve": True})
    assert world.client.get(f"/api/v1/public/visits/{ticket}").json()["token"]
    assert world.client.get("/api/v1/public/visits/" + "x" * 32).status_code == 404
