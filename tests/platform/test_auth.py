"""Log-in, tokens, sessions, lockout, rate limits and API keys (6.2.6, 6.8.2, 6.9.3)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from shequ.platform.models import AuditEntry, LoginSession, User
from shequ.platform.security.tokens import issue_access_token
from tests.conftest import PASSWORD, World, make_settings

LOGIN = "/api/v1/auth/login"


def login(world: World, username: str, password: str = PASSWORD) -> object:
    return world.client.post(LOGIN, json={"username": username, "password": password})


def test_login_returns_the_promised_token_fields(world: World) -> None:
    name = world.user("property_manager")
    response = login(world, name)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == name


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    name = world.user("resident", scope="household", scope_id=1)
    wrong = login(world, name, "Wrong-Passw0rd!")
    unknown = login(world, "nobody-here", "Wrong-Passw0rd!")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "auth.invalid_credentials"
    assert wrong.json()["title"] == unknown.json()["title"] == "用户名或密码错误"


def test_lockout_after_repeated_failures_even_with_the_right_password(world: World) -> None:
    name = world.user("property_manager")
    threshold = world.services.settings.lockout_threshold
    for _ in range(threshold):
        assert login(world, name, "Wrong-Passw0rd!").status_code == 401
    locked = login(world, name)
    assert locked.status_code == 423
    assert locked.json()["code"] == "auth.locked"
    with world.services.db.read() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == name)
        ).all()
    assert actions.count("auth.login_failed") == threshold
    assert "auth.locked" in actions and "auth.login_locked" in actions


def test_lock_expires(world: World) -> None:
    name = world.user("property_manager")
    for _ in range(world.services.settings.lockout_threshold):
        login(world, name, "Wrong-Passw0rd!")
    with world.services.db.write() as session:
        session.execute(update(User).where(User.username == name).values(
            locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert login(world, name).status_code == 200


def test_refresh_rotates_and_the_old_refresh_token_stops_working(world: World) -> None:
    name = world.user("property_manager")
    first = login(world, name).json()
    second = world.client.post("/api/v1/auth/refresh",
                               json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = world.client.post("/api/v1/auth/refresh",
                              json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401
    assert again.json()["code"] == "auth.refresh_invalid"
    for forged in ("rt_0123456789ab.forged", "garbage", "sk_0123456789ab.x"):
        bad = world.client.post("/api/v1/auth/refresh", json={"refresh_token": forged})
        assert bad.status_code == 401


def test_logout_revokes_the_session(world: World) -> None:
    name = world.user("property_manager")
    headers = world.headers(name)
    assert world.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = world.client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["code"] == "auth.session_revoked"


def test_expired_garbage_and_foreign_tokens_are_refused(world: World) -> None:
    name = world.user("property_manager")
    world.headers(name)
    secret = world.services.settings.secret_key.get_secret_value()
    with world.services.db.read() as session:
        sid = session.scalar(select(LoginSession.id).where(
            LoginSession.user_id == world.users[name]))
    assert sid is not None
    expired = issue_access_token(secret, world.users[name], sid, dt.timedelta(seconds=-5))
    foreign = issue_access_token("another-secret-of-sufficient-length!!", world.users[name],
                                 sid, dt.timedelta(minutes=5))
    cases = {
        expired: "auth.token_expired",
        foreign: "auth.token_invalid",
        "not-a-jwt": "auth.token_invalid",
    }
    for token, code in cases.items():
        response = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json()["code"] == code
        assert response.headers["www-authenticate"] == "Bearer"
    missing = world.client.get("/api/v1/me")
    assert missing.status_code == 401 and missing.json()["code"] == "auth.required"


def test_idle_sessions_time_out(world: World) -> None:
    name = world.user("property_manager")
    headers = world.headers(name)
    idle = dt.timedelta(minutes=world.services.settings.idle_timeout_minutes + 1)
    with world.services.db.write() as session:
        session.execute(update(LoginSession).where(
            LoginSession.user_id == world.users[name]).values(
            last_seen_at=dt.datetime.now(dt.UTC) - idle))
    response = world.client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.session_idle"


def test_login_is_rate_limited_per_client(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from shequ.api.app import create_app
    from tests.conftest import migrated_services

    settings = make_settings(database_url, login_rate_per_minute=3)
    services = migrated_services(settings)
    client = TestClient(create_app(settings, services))
    codes = [client.post(LOGIN, json={"username": f"u{i}", "password": "x"}).status_code
             for i in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429
    last = client.post(LOGIN, json={"username": "u9", "password": "x"})
    assert last.json()["code"] == "request.rate_limited"
    assert int(last.headers["retry-after"]) >= 1


def test_messages_follow_accept_language(world: World) -> None:
    response = world.client.post(LOGIN, json={"username": "nobody", "password": "x"},
                                 headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.json()["title"] == "Invalid username or password"
    assert response.json()["language"] == "en"


def test_me_lists_roles_scopes_and_communities(world: World) -> None:
    name = world.user("property_manager")
    body = world.client.get("/api/v1/me", headers=world.headers(name)).json()
    assert body["roles"][0]["role"] == "property_manager"
    assert body["roles"][0]["scope_kind"] == "community"
    assert [c["code"] for c in body["communities"]] == [world.code]
    assert body["all_communities"] is False


def test_menus_follow_roles(world: World) -> None:
    admin = world.user("platform_admin", scope="platform")
    property_manager = world.user("property_manager")
    resident = world.user("resident", scope="household", scope_id=7)

    def groups(name: str) -> dict[str, list[str]]:
        body = world.client.get("/api/v1/me/menus", headers=world.headers(name)).json()
        return {g["key"]: [i["key"] for i in g["items"]] for g in body}

    assert "audit" in groups(admin)["administration"]
    assert "administration" in groups(property_manager)  # users:read
    assert "audit" not in groups(property_manager)["administration"]
    assert "administration" not in groups(resident)
    english = world.client.get("/api/v1/me/menus", headers=world.headers(admin, "en")).json()
    assert {g["label"] for g in english} >= {"Platform administration"}
