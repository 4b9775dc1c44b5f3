"""Bad input gets a 4xx problem+json with a stable code and a translated message, never a 500,
and nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World

ORGS = "/api/v1/organisations"


@pytest.fixture
def admin(world: World) -> dict[str, str]:
    return world.headers(world.user("platform_admin", scope="platform"))


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status and body["title"] and body["request_id"]
    return body


def _count(world: World, h: dict[str, str]) -> int:
    return int(world.client.get(f"{ORGS}?community_id={world.community_id}",
                                headers=h).json()["total"])


def test_malformed_json(world: World, admin: dict[str, str]) -> None:
    response = world.client.post(ORGS, headers={**admin, "Content-Type": "application/json"},
                                 content=b'{"name": "x", "kind": ')
    _problem(response, 400, "request.invalid_json")


def test_wrong_types_and_unknown_fields_name_the_field(world: World,
                                                       admin: dict[str, str]) -> None:
    body = _problem(world.client.post(ORGS, headers={**admin, "Accept-Language": "en"}, json={
        "community_id": "abc", "name": 5, "kind": "key_unit", "colour": "red"}),
        422, "request.invalid")
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"community_id", "name", "colour"}
    assert fields["colour"]["message"] == "Unknown field"
    zh = world.client.post(ORGS, headers=admin, json={"name": "x", "kind": "nope"}).json()
    assert zh["errors"][0]["message"].startswith("取值必须是以下之一")


def test_invalid_credit_code_is_explained(world: World, admin: dict[str, str]) -> None:
    body = _problem(world.client.post(ORGS, headers=admin, json={
        "community_id": world.community_id, "name": "坏代码", "kind": "key_unit",
        "credit_code": "91330100MA2GL1234A"}), 422, "request.invalid")
    assert body["errors"][0]["field"] == "credit_code"
    assert "check character" in body["errors"][0]["message"]


@pytest.mark.parametrize(("query", "code"), [
    ("sort=password", "request.unknown_sort"),
    ("nosuchfield=1", "request.unknown_parameter"),
    ("name__regex=x", "request.unknown_parameter"),
    ("is_key_unit=perhaps", "request.bad_filter"),
    ("kind=alien", "request.bad_filter"),
    ("created_at__gte=yesterday", "request.bad_filter"),
    ("page=0", "request.bad_filter"),
    ("page_size=100000", "request.bad_filter"),
    ("id=99999999999999999999999", "request.bad_filter"),
])
def test_unknown_or_bad_query_parameters(world: World, admin: dict[str, str], query: str,
                                         code: str) -> None:
    _problem(world.client.get(f"{ORGS}?{query}", headers=admin), 400, code)


def test_oversized_bodies_are_refused_without_reading_them(world: World,
                                                           admin: dict[str, str]) -> None:
    limit = world.services.settings.max_body_bytes
    payload = b'{"name": "' + b"x" * (limit + 10) + b'"}'
    _problem(world.client.post(ORGS, headers={**admin, "Content-Type": "application/json"},
                               content=payload), 413, "request.too_large")

    def chunks() -> Any:
        yield payload[: limit // 2]
        yield payload[limit // 2:]

    response = world.client.post(ORGS, headers={**admin, "Content-Type": "application/json"},
                                 content=chunks())
    _problem(response, 413, "request.too_large")


@pytest.mark.parametrize("value", [
    "' OR 1=1 --", "x'); DROP TABLE organisations; --", "%", "_", "\\",
    "名称' UNION SELECT password_hash FROM users --",
])
def test_injection_shaped_values_are_just_data(world: World, admin: dict[str, str],
                                               value: str) -> None:
    before = _count(world, admin)
    for query in ({"q": value}, {"name": value}, {"name__contains": value}):
        response = world.client.get(ORGS, headers=admin, params={
            "community_id": world.community_id, **query})
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 0
    assert _count(world, admin) == before


def test_nul_characters_in_filters_are_refused(world: World, admin: dict[str, str]) -> None:
    for query in ({"q": "a\x00b"}, {"name": "\x00"}, {"name__contains": "x\x00"}):
        _problem(world.client.get(ORGS, headers=admin, params=query), 400,
                 "request.bad_filter")


def test_another_communitys_ids_look_absent(world_factory: Any) -> None:
    a, b = world_factory(), world_factory()
    admin = a.headers(a.user("platform_admin", scope="platform"))
    theirs = a.client.post(ORGS, headers=admin, json={
        "community_id": b.community_id, "name": "别人的单位", "kind": "other"}).json()
    manager = a.headers(a.user("property_manager"))
    _problem(a.client.get(f"{ORGS}/{theirs['id']}", headers=manager), 404,
             "resource.not_found")
    _problem(a.client.patch(f"{ORGS}/{theirs['id']}", headers=manager, json={"name": "mine"}),
             404, "resource.not_found")
    moved = a.client.post(ORGS, headers=manager, json={
        "community_id": b.community_id, "name": "偷放的单位", "kind": "other"})
    _problem(moved, 403, "resource.out_of_scope")
    check = a.client.get(f"{ORGS}/{theirs['id']}", headers=admin).json()
    assert check["name"] == "别人的单位"


def test_duplicates_conflict_and_nothing_half_written(world: World,
                                                     admin: dict[str, str]) -> None:
    row = {"community_id": world.community_id, "name": "唯一单位", "kind": "other"}
    assert world.client.post(ORGS, headers=admin, json=row).status_code == 201
    before = _count(world, admin)
    _problem(world.client.post(ORGS, headers=admin, json=row), 409, "resource.duplicate")
    assert _count(world, admin) == before


def test_wrong_methods_and_paths(world: World, admin: dict[str, str]) -> None:
    _problem(world.client.put(ORGS, headers=admin, json={}), 405,
             "request.method_not_allowed")
    _problem(world.client.get("/api/v1/no-such-thing", headers=admin), 404,
             "request.not_found")
    _problem(world.client.get(f"{ORGS}/0", headers=admin), 422, "request.invalid")


def test_import_rejects_wrong_files_and_headers(world: World, admin: dict[str, str]) -> None:
    url = f"{ORGS}/import?community_id={world.community_id}"
    body = _problem(world.client.post(url, headers=admin, files={
        "file": ("rows.xlsx", b"not a spreadsheet", "application/octet-stream")}),
        422, "import.bad_file")
    assert body["detail"].startswith("无法读取导入文件")
    csv_bad_header = "名称,颜色\n甲,红\n".encode()
    body = _problem(world.client.post(url, headers=admin, files={
        "file": ("rows.csv", csv_bad_header, "text/csv")}), 422, "import.bad_header")
    assert "颜色" in body["detail"]
    _problem(world.client.post(url, headers=admin, files={
        "file": ("rows.csv", "名称,类型\n".encode(), "text/csv")}), 422, "import.empty")


def test_nul_characters_in_bodies_are_refused_cleanly(world: World,
                                                      admin: dict[str, str]) -> None:
    before = _count(world, admin)
    response = world.client.post(ORGS, headers=admin, json={
        "community_id": world.community_id, "name": "坏\x00名字", "kind": "other"})
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:  # PostgreSQL refuses NUL in text; SQLite stores it
        assert response.json()["code"] == "request.invalid_value"
        assert _count(world, admin) == before


def test_unexpected_errors_keep_the_request_id(app: Any, world: World) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/v1/__boom")
    def boom() -> None:
        raise RuntimeError("boom")

    app.router.routes.insert(0, router.routes[0])
    try:
        response = world.client.get("/api/v1/__boom", headers={"X-Request-ID": "req-42"})
    finally:
        app.router.routes.pop(0)
    body = _problem(response, 500, "internal.error")
    assert body["request_id"] == "req-42"
    assert "req-42" in body["title"] and "boom" not in response.text


def test_null_for_a_required_field_is_refused_by_name(world: World,
                                                      admin: dict[str, str]) -> None:
    row = world.client.post(ORGS, headers=admin, json={
        "community_id": world.community_id, "name": "不能为空", "kind": "other"}).json()
    body = _problem(world.client.patch(f"{ORGS}/{row['id']}", headers=admin,
                                       json={"name": None, "notes": None}),
                    422, "request.invalid")
    assert [e["field"] for e in body["errors"]] == ["name"]
    cleared = world.client.patch(f"{ORGS}/{row['id']}", headers=admin, json={"notes": None})
    assert cleared.status_code == 200
    user = world.user("maintenance_worker")
    kept = world.client.patch(f"/api/v1/users/{world.users[user]}", headers=admin,
                              json={"is_active": None, "display_name": "王师傅"})
    assert kept.status_code == 200 and kept.json()["is_active"] is True
