"""The done-when flow: a resident reports a leaking pipe, a property manager dispatches it, a
worker accepts and handles it with a photo and materials, the resident confirms and rates
it, and the timeline shows every step."""

from __future__ import annotations

from tests.cases.conftest import PNG, Estate, leak


def test_leaking_pipe_from_report_to_rating(estate: Estate) -> None:
    e = estate
    reported = e.post("/cases", "resident", leak(e), 201)
    case_id = reported["id"]
    assert reported["state"] == "submitted" and reported["source"] == "resident_app"
    assert reported["reporter_id"] == e.uid("resident")
    assert reported["household_id"] == e.room_id == reported["room_id"]
    assert reported["building_id"] == e.building_id
    assert reported["accept_due"] and reported["close_due"] and reported["version"] == 1
    assert reported["data"]["contact_phone"] == "13800001234"  # the reporter sees it whole
    assert any(f"#{case_id}" in text and "New" in text for text in e.inbox("manager"))

    listed = e.get("/cases", "manager", params={"state": "submitted", "case_type":
                                               "repair_request"})
    assert [c["id"] for c in listed["items"]] == [case_id]
    assert listed["items"][0]["data"]["contact_phone"] == "13800001234"  # cases:personal
    seen_by_worker = e.get(f"/cases/{case_id}", "worker")
    assert seen_by_worker["data"]["contact_phone"] == "138****1234"

    dispatched = e.post(f"/cases/{case_id}/transitions", "manager", {
        "transition": "dispatch", "version": 1, "data": {"assignee": e.uid("worker"),
                                                         "note": "请尽快上门"}})
    assert dispatched["state"] == "dispatched" and dispatched["assignee_id"] == e.uid("worker")
    assert dispatched["team_role"] == "maintenance_worker" and dispatched["version"] == 2
    assert any("assigned to you" in text for text in e.inbox("worker"))
    assert e.get(f"/cases/{case_id}", "worker")["data"]["contact_phone"] == "13800001234"

    e.step(case_id, "worker", "accept")
    e.step(case_id, "worker", "start", note="已到达现场")
    photo = e.world.client.post(f"/api/v1/cases/{case_id}/attachments", headers=e.h("worker"),
                                files={"file": ("现场.png", PNG, "image/png")})
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["id"]
    materials = [{"name": "PPR 水管", "quantity": 2, "unit": "米", "unit_price": "12.50"}]
    resolved = e.step(case_id, "worker", "resolve", feedback="更换了破裂的水管",
                      photos=[str(photo_id)], materials=materials, time_spent=45)
    assert resolved["state"] == "resolved" and resolved["data"]["feedback"] == "更换了破裂的水管"
    assert any("Resolve" in text for text in e.inbox("resident"))

    closed = e.step(case_id, "resident", "confirm")
    assert closed["state"] == "closed" and closed["closed_at"] and closed["ended_at"]
    rated = e.post(f"/cases/{case_id}/rating", "resident", {"stars": 5, "comment": "很及时"})
    assert rated["rating_stars"] == 5 and rated["rating_comment"] == "很及时"
    assert any("5 stars" in text for text in e.inbox("worker"))

    detail = e.get(f"/cases/{case_id}/detail", "resident")
    timeline = detail["timeline"]
    assert [s["action"] for s in timeline] == ["report", "dispatch", "accept", "start",
                                                "resolve", "confirm", "rate"]
    assert [s["to_state"] for s in timeline] == ["submitted", "dispatched", "accepted",
                                                  "in_progress", "resolved", "closed",
                                                  "closed"]
    assert [s["from_state"] for s in timeline][:3] == [None, "submitted", "dispatched"]
    assert timeline[1]["note"] == "请尽快上门" and timeline[1]["assignee_id"] == e.uid("worker")
    assert timeline[1]["action_label"] == "派单" and timeline[1]["to_label"] == "已派单"
    resolve = timeline[4]
    assert resolve["actor_id"] == e.uid("worker") and resolve["time_spent"] == 45
    assert resolve["data"]["materials"][0]["name"] == "PPR 水管"
    assert [p["id"] for p in resolve["photos"]] == [photo_id]
    assert resolve["photos"][0]["content_type"] == "image/png"
    assert timeline[6]["data"]["stars"] == 5
    assert detail["state_label"] == "已完成" and detail["transitions"] == []
    assert detail["attachments"][0]["url"].endswith(f"/cases/{case_id}/attachments/{photo_id}")
    download = e.world.client.get(detail["attachments"][0]["url"], headers=e.h("resident"))
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"


def test_residents_see_their_household_only(estate: Estate) -> None:
    e = estate
    mine = e.post("/cases", "resident", leak(e), 201)["id"]
    theirs = e.post("/cases", "neighbour", {**leak(e), "data": {
        **leak(e)["data"], "place": {"kind": "room", "id": e.other_room_id}}}, 201)["id"]
    assert [c["id"] for c in e.get("/cases", "resident")["items"]] == [mine]
    assert [c["id"] for c in e.get("/cases", "neighbour")["items"]] == [theirs]
    e.get(f"/cases/{theirs}", "resident", 404)
    e.get(f"/cases/{theirs}/detail", "resident", 404)
    e.step(theirs, "resident", "cancel", 404)
    assert {c["id"] for c in e.get("/cases", "manager")["items"]} == {mine, theirs}


def test_staff_report_on_behalf_of_a_resident(estate: Estate) -> None:
    e = estate
    body = {**leak(e), "on_behalf_of": e.uid("resident"), "source": "phone"}
    case = e.post("/cases", "manager", body, 201)
    assert case["reporter_id"] == e.uid("resident") and case["created_by_id"] == e.uid("manager")
    assert case["household_id"] == e.room_id and case["source"] == "phone"
    assert [c["id"] for c in e.get("/cases", "resident")["items"]] == [case["id"]]
    e.step(case["id"], "resident", "cancel")
