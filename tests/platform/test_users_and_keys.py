"""Users, roles without privilege escalation, password policy and API keys."""

from __future__ import annotations

from tests.conftest import PASSWORD, World


def test_password_policy_meets_level_three_defaults(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    for weak, code in (("Short1!", "password.too_short"),
                       ("alllowercaseletters", "password.too_simple"),
                       ("Pw-newuser-2026x", "password.contains_username")):
        response = world.client.post("/api/v1/users", headers=world.headers(admin), json={
            "username": "newuser", "password": weak, "role": "resident",
            "scope_kind": "household", "community_id": world.community_id, "scope_id": 3})
        assert response.status_code == 422, weak
        assert response.json()["code"] == "password.weak"
        assert code in {e["code"] for e in response.json()["errors"]}
    assert world.services.settings.password_min_length >= 12


def test_admin_creates_users_with_scoped_roles(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    response = world.client.post("/api/v1/users", headers=world.headers(admin), json={
        "username": f"pm-{world.code}", "password": PASSWORD, "role": "property_manager",
        "community_id": world.community_id, "phone": "13912345678"})
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "13912345678"  # admins may see personal data
    listed = world.client.get(f"/api/v1/users?community_id={world.community_id}",
                              headers=world.headers(admin)).json()
    assert f"pm-{world.code}" in {u["username"] for u in listed}


def test_property_manager_cannot_escalate(world: World) -> None:
    manager = world.user("property_manager")
    headers = world.headers(manager)
    for role, scope in (("platform_admin", "community"), ("street_officer", "community"),
                        ("platform_admin", "platform")):
        response = world.client.post("/api/v1/users", headers=headers, json={
            "username": f"evil-{role}", "password": PASSWORD, "role": role,
            "scope_kind": scope, "community_id": world.community_id})
        assert response.status_code == 403, (role, response.text)
    ok = world.client.post("/api/v1/users", headers=headers, json={
        "username": f"guard-{world.code}", "password": PASSWORD, "role": "maintenance_worker",
        "community_id": world.community_id, "phone": "13912345678"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["phone"] == "139****5678"


def test_manager_cannot_create_users_in_another_community(world_factory: object) -> None:
    a, b = world_factory(), world_factory()  # type: ignore[operator]
    manager = a.user("property_manager")
    response = a.client.post("/api/v1/users", headers=a.headers(manager), json={
        "username": f"x-{b.code}", "password": PASSWORD, "role": "maintenance_worker",
        "community_id": b.community_id})
    assert response.status_code == 403


def test_api_keys_are_scoped_revocable_and_shown_once(world_factory: object) -> None:
    a, b = world_factory(), world_factory()  # type: ignore[operator]
    admin = a.user("platform_admin", scope="platform")
    h = a.headers(admin)
    for world in (a, b):
        created = a.client.post("/api/v1/organisations", headers=h, json={
            "community_id": world.community_id, "name": f"单位{world.code}",
            "kind": "key_unit"})
        assert created.status_code == 201
    response = a.client.post("/api/v1/api-keys", headers=h, json={
        "name": "city platform", "permissions": ["organisations:read"],
        "community_ids": [a.community_id]})
    assert response.status_code == 201
    key = response.json()["key"]
    assert "key" not in a.client.get("/api/v1/api-keys", headers=h).json()[0]
    listed = a.client.get("/api/v1/organisations", headers={"X-API-Key": key})
    assert listed.status_code == 200
    assert {r["community_id"] for r in listed.json()["items"]} == {a.community_id}
    denied = a.client.post("/api/v1/organisations", headers={"X-API-Key": key},
                           json={"name": "x", "kind": "other"})
    assert denied.status_code == 403
    revoke = a.client.delete(f"/api/v1/api-keys/{response.json()['id']}", headers=h)
    assert revoke.status_code == 204
    gone = a.client.get("/api/v1/organisations", headers={"X-API-Key": key})
    assert gone.status_code == 401 and gone.json()["code"] == "auth.api_key_invalid"
    forged = a.client.get("/api/v1/organisations", headers={"X-API-Key": key[:-2] + "zz"})
    assert forged.status_code == 401


def test_only_platform_admins_manage_communities_and_keys(world: World) -> None:
    manager = world.user("property_manager")
    h = world.headers(manager)
    assert world.client.post("/api/v1/communities", headers=h,
                             json={"code": "X1", "name": "x"}).status_code == 403
    assert world.client.get("/api/v1/api-keys", headers=h).status_code == 403
    assert world.client.get("/api/v1/audit/verify", headers=h).status_code == 403


def test_parties_of_a_community(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    h = world.headers(admin)
    kinds = ["residents_committee", "owners_committee", "property_company",
             "commercial_company", "service_company", "street_office"]
    for kind in kinds:
        world.client.post("/api/v1/organisations", headers=h, json={
            "community_id": world.community_id, "name": f"{kind}-{world.code}", "kind": kind})
    parties = world.client.get(f"/api/v1/communities/{world.code}/parties", headers=h)
    assert parties.status_code == 200
    assert sorted(p["kind"] for p in parties.json()) == sorted(kinds)
    other = world.user("property_manager")
    assert world.client.get("/api/v1/communities/NOPE/parties",
                            headers=world.headers(other)).status_code == 404


def test_roles_are_listed_in_the_users_language(world: World) -> None:
    manager = world.user("property_manager")
    roles = world.client.get("/api/v1/roles", headers=world.headers(manager, "en")).json()
    by_code = {r["code"]: r for r in roles}
    assert by_code["resident"]["name"] == "Resident"
    assert by_code["resident"]["scopes"] == ["household"]
    resident = world.user("resident", scope="household", scope_id=9)
    assert world.client.get("/api/v1/roles", headers=world.headers(resident)).status_code == 403


def test_disabling_a_user_ends_their_sessions(world: World) -> None:
    admin = world.headers(world.user("platform_admin", scope="platform"))
    worker = world.user("maintenance_worker")
    worker_headers = world.headers(worker)
    assert world.client.get("/api/v1/me", headers=worker_headers).status_code == 200
    response = world.client.patch(f"/api/v1/users/{world.users[worker]}", headers=admin,
                                  json={"is_active": False, "display_name": "离职员工"})
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert world.client.get("/api/v1/me", headers=worker_headers).status_code == 401
    again = world.client.post("/api/v1/auth/login", json={"username": worker,
                                                           "password": PASSWORD})
    assert again.status_code == 401 and again.json()["code"] == "auth.inactive"


def test_changing_my_password(world: World) -> None:
    name = world.user("property_manager")
    headers = world.headers(name)
    wrong = world.client.post("/api/v1/me/password", headers=headers, json={
        "current_password": "nope", "new_password": "Another-Passw0rd!"})
    assert wrong.status_code == 401
    weak = world.client.post("/api/v1/me/password", headers=headers, json={
        "current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["code"] == "password.weak"
    done = world.client.post("/api/v1/me/password", headers=headers, json={
        "current_password": PASSWORD, "new_password": "Another-Passw0rd!"})
    assert done.status_code == 204
    old = world.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert old.status_code == 401
    new = world.client.post("/api/v1/auth/login", json={"username": name,
                                                         "password": "Another-Passw0rd!"})
    assert new.status_code == 200


def test_metadata_says_what_the_caller_may_do(world: World) -> None:
    manager = world.headers(world.user("property_manager"))
    meta = world.client.get("/api/v1/rooms/meta", headers=manager).json()
    assert meta["actions"] == {"read": True, "create": True, "update": True, "delete": True,
                               "import": True, "export": True, "stats": True}
    refs = {f["name"]: f.get("ref") for f in meta["fields"]}
    assert refs["building_id"] == "buildings" and refs["floor_id"] == "floors"
    resident = world.headers(world.user("resident", scope="household", scope_id=5))
    mine = world.client.get("/api/v1/rooms/meta", headers=resident).json()["actions"]
    assert mine["read"] is True and mine["create"] is False and mine["export"] is False
