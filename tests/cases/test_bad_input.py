"""Bad input gets a clear problem in zh-CN and English: illegal steps list the allowed ones,
missing step fields are named, wrong roles say who may, closed cases refuse changes,
attachments of the wrong type or size are refused, and so are stale versions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.conftest import FILE_LIMIT, PDF, PNG, Estate, leak


def _problem(e: Estate, method: str, path: str, who: str, status: int, code: str,
             lang: str = "zh-CN", **kwargs: Any) -> dict[str, Any]:
    response = e.world.client.request(method, f"/api/v1{path}", headers=e.h(who, lang),
                                      **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert body["title"] and "{" not in body["title"], body
    return dict(body)


def _dispatched(e: Estate) -> int:
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    e.step(case_id, "manager", "dispatch", assignee=e.uid("worker"))
    return int(case_id)


def test_an_illegal_step_lists_the_allowed_ones(estate: Estate) -> None:
    e = estate
    case_id = _dispatched(e)
    body = {"transition": "confirm", "data": {}}
    zh = _problem(e, "POST", f"/cases/{case_id}/transitions", "worker", 409,
                  "cases.illegal_transition", json=body)
    assert zh["allowed"] == ["accept", "decline"] and zh["state"] == "dispatched"
    assert "已派单" in zh["title"] and "确认接单" in zh["title"]
    en = _problem(e, "POST", f"/cases/{case_id}/transitions", "worker", 409,
                  "cases.illegal_transition", "en", json=body)
    assert "Dispatched" in en["title"] and "Accept, Decline" in en["title"]
    unknown = _problem(e, "POST", f"/cases/{case_id}/transitions", "worker", 409,
                       "cases.illegal_transition", json={"transition": "teleport"})
    assert unknown["allowed"] == ["accept", "decline"]


def test_missing_step_fields_are_named(estate: Estate) -> None:
    e = estate
    case_id = _dispatched(e)
    e.step(case_id, "worker", "accept")
    e.step(case_id, "worker", "start")
    body = _problem(e, "POST", f"/cases/{case_id}/transitions", "worker", 422,
                    "cases.step_invalid", "en", json={
                        "transition": "resolve", "data": {"time_spent": -5, "colour": "red"}})
    fields = {err["field"] for err in body["errors"]}
    assert fields == {"feedback", "time_spent", "colour"}
    assert all(err["message"] for err in body["errors"])
    assert "Resolve" in body["title"]


def test_the_wrong_role_is_told_who_may(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    body = _problem(e, "POST", f"/cases/{case_id}/transitions", "resident", 403,
                    "cases.transition_forbidden", json={
                        "transition": "dispatch", "data": {"assignee": e.uid("worker")}})
    assert body["required_roles"] == ["property_manager", "community_committee",
                                      "platform_admin"]
    assert "物业管理员" in body["title"]
    en = _problem(e, "POST", f"/cases/{case_id}/transitions", "guard", 403,
                  "cases.transition_forbidden", "en", json={"transition": "take"})
    assert "Maintenance worker" in en["title"]
    refused = _problem(e, "POST", "/cases", "guard", 403, "cases.report_forbidden", "en",
                       json=leak(e))
    assert refused["allowed_roles"][0] == "resident"


def test_a_closed_case_cannot_change(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    e.step(case_id, "resident", "cancel")
    for method, path, kwargs in (
        ("POST", f"/cases/{case_id}/transitions", {"json": {"transition": "dispatch"}}),
        ("PATCH", f"/cases/{case_id}", {"json": {"data": {"description": "改一下"}}}),
        ("POST", f"/cases/{case_id}/comments", {"json": {"body": "还在吗"}}),
        ("POST", f"/cases/{case_id}/attachments", {"files": {"file": ("a.png", PNG)}}),
    ):
        body = _problem(e, method, path, "resident", 409, "cases.closed", "en", **kwargs)
        assert "Cancelled" in body["title"]
    rating = _problem(e, "POST", f"/cases/{case_id}/rating", "resident", 409,
                      "cases.rating_not_open", json={"stars": 5})
    assert rating["state"] == "cancelled"


@pytest.mark.parametrize(("name", "content", "declared", "status", "code"), [
    ("note.txt", b"just some text", "text/plain", 415, "files.type_not_allowed"),
    ("fake.png", b"MZ\x90\x00 an executable", "image/png", 415, "files.type_not_allowed"),
    ("photo.png", PDF, "image/png", 415, "files.type_mismatch"),
    ("huge.png", PNG + bytes(FILE_LIMIT), "image/png", 413, "files.too_large"),
    ("empty.png", b"", "image/png", 422, "files.empty"),
])
def test_attachments_of_the_wrong_type_or_size(estate: Estate, name: str, content: bytes,
                                               declared: str, status: int, code: str) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    _problem(e, "POST", f"/cases/{case_id}/attachments", "resident", status, code, "en",
             files={"file": (name, content, declared)})
    assert e.get(f"/cases/{case_id}/detail", "resident")["attachments"] == []


def test_documents_are_kept_and_named_safely(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    kept = e.world.client.post(f"/api/v1/cases/{case_id}/attachments", headers=e.h("resident"),
                               files={"file": ("../../etc/报告.pdf", PDF, "application/pdf")})
    assert kept.status_code == 201, kept.text
    assert kept.json()["name"] == "报告.pdf" and kept.json()["content_type"] == "application/pdf"
    foreign = e.get(f"/cases/{case_id}/attachments/{kept.json()['id']}", "neighbour", 404)
    assert foreign["code"] == "resource.not_found"


def test_photos_must_be_this_cases_images(estate: Estate) -> None:
    e = estate
    case_id = _dispatched(e)
    other = e.post("/cases", "resident", leak(e), 201)["id"]
    pdf = e.world.client.post(f"/api/v1/cases/{case_id}/attachments", headers=e.h("worker"),
                              files={"file": ("a.pdf", PDF, "application/pdf")}).json()["id"]
    elsewhere = e.world.client.post(f"/api/v1/cases/{other}/attachments",
                                    headers=e.h("resident"),
                                    files={"file": ("a.png", PNG, "image/png")}).json()["id"]
    e.step(case_id, "worker", "accept")
    e.step(case_id, "worker", "start")
    body = _problem(e, "POST", f"/cases/{case_id}/transitions", "worker", 422,
                    "cases.fields_invalid", "en", json={"transition": "resolve", "data": {
                        "feedback": "done", "photos": [str(pdf), str(elsewhere)]}})
    assert [err["field"] for err in body["errors"]] == ["photos[0]", "photos[1]"]


def test_stale_versions_and_malformed_ones(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    e.step(case_id, "manager", "dispatch", assignee=e.uid("worker"))
    response = e.world.client.post(f"/api/v1/cases/{case_id}/transitions",
                                   headers={**e.h("worker", "en"), "If-Match": 'W/"1"'},
                                   json={"transition": "accept"})
    assert response.status_code == 409 and response.json()["code"] == "cases.stale"
    assert response.json()["version"] == 2 and "reload" in response.json()["title"]
    bad = e.world.client.post(f"/api/v1/cases/{case_id}/transitions",
                              headers={**e.h("worker"), "If-Match": "yesterday"},
                              json={"transition": "accept"})
    assert bad.status_code == 400 and bad.json()["code"] == "cases.bad_version"
    fresh = e.world.client.post(f"/api/v1/cases/{case_id}/transitions",
                                headers={**e.h("worker"), "If-Match": '"2"'},
                                json={"transition": "accept"})
    assert fresh.status_code == 200 and fresh.headers["etag"] == 'W/"3"'


def test_reports_are_checked(estate: Estate) -> None:
    e = estate
    unknown = _problem(e, "POST", "/cases", "resident", 422, "cases.unknown_type", "en",
                       json={**leak(e), "case_type": "alien_visit"})
    assert unknown["errors"][0]["field"] == "case_type"
    missing = _problem(e, "POST", "/cases", "resident", 422, "cases.fields_invalid", json={
        "case_type": "repair_request", "category": "nonsense", "data": {"place": {
            "kind": "room", "id": e.room_id}}})
    assert {err["field"] for err in missing["errors"]} == {"category", "description",
                                                           "contact_phone"}
    nowhere = _problem(e, "POST", "/cases", "manager", 422, "cim.parent_missing", json={
        **leak(e), "data": {**leak(e)["data"], "place": {"kind": "room", "id": 999_999}}})
    assert nowhere["errors"][0]["field"] == "place.id"
    source = _problem(e, "POST", "/cases", "resident", 422, "cases.source_not_allowed",
                      json={**leak(e), "source": "device_alarm"})
    assert "resident_app" in source["allowed"]
    _problem(e, "POST", "/cases", "resident", 403, "resource.out_of_scope",
             json={**leak(e), "household_id": e.other_room_id})
    _problem(e, "POST", "/cases", "manager", 422, "cases.on_behalf_invalid",
             json={**leak(e), "on_behalf_of": e.uid("worker")})


def test_assignees_come_from_the_team(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    body = _problem(e, "POST", f"/cases/{case_id}/transitions", "manager", 422,
                    "cases.assignee_invalid", "en", json={
                        "transition": "dispatch", "data": {"assignee": e.uid("resident")}})
    assert body["errors"][0]["field"] == "assignee"
    e.step(case_id, "manager", "dispatch", assignee=e.uid("worker2"))
    assert e.get(f"/cases/{case_id}", "manager")["assignee_id"] == e.uid("worker2")


def test_ratings_once_by_the_reporter(estate: Estate) -> None:
    e = estate
    case_id = e.post("/cases", "resident", leak(e), 201)["id"]
    e.step(case_id, "worker", "take")
    e.step(case_id, "worker", "start")
    e.step(case_id, "worker", "resolve", feedback="修好了")
    e.step(case_id, "manager", "confirm")
    assert any("please rate" in text for text in e.inbox("resident"))
    _problem(e, "POST", f"/cases/{case_id}/rating", "worker", 403, "cases.rating_forbidden",
             json={"stars": 5})
    stars = _problem(e, "POST", f"/cases/{case_id}/rating", "resident", 422,
                     "cases.fields_invalid", json={"stars": 9})
    assert stars["errors"][0]["field"] == "stars"
    e.post(f"/cases/{case_id}/rating", "resident", {"stars": 4})
    again = _problem(e, "POST", f"/cases/{case_id}/rating", "resident", 409,
                     "cases.rating_not_open", json={"stars": 5})
    assert again["already_rated"] is True
