"""Shared fixtures: paths, service requirements, the database under test, the app, users."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def require_service(name: str, reason: str) -> None:
    """Skip when a service is absent; fail instead when SHEQU_REQUIRE_SERVICES=1 (CI)."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("SHEQU_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (SHEQU_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The third-party sample data beside the repository (../shared/data)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared sample data not found at {path}")
    return path


# -- the database under test -----------------------------------------------------------------

PG_ADMIN_URL = os.environ.get(
    "SHEQU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--db sqlite|postgresql` (default from SHEQU_TEST_DB, else sqlite)."""
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("SHEQU_TEST_DB", "sqlite"),
        help="database backend the suite runs against",
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the run uses."""
    return f"shequ database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return str(request.config.getoption("--db"))


def _postgres_admin() -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        require_service("PostgreSQL", f"{PG_ADMIN_URL}: {exc.orig}")
    return engine


def fresh_database_url(backend: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database on the backend, and a function that drops it."""
    if backend == "sqlite":
        path = tmp_dir / f"shequ-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import text

    admin = _postgres_admin()
    name = f"shequ_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", drop


def make_settings(database_url: str, **overrides: Any) -> Any:
    """Settings for tests: fast password hashing, quiet logs, generous rate limits."""
    from shequ.config import Settings

    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "log_json": False,
        "log_level": "WARNING",
        "login_rate_per_minute": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


def migrated_services(settings: Any) -> Any:
    """Services over a freshly migrated database with the built-in roles."""
    from shequ.api.app import build_services
    from shequ.migrations import upgrade

    services = build_services(settings)
    upgrade(services.db.engine)
    with services.db.write() as session:
        services.platform.sync_roles(session)
    return services


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the session, migrated by the `services` fixture."""
    url, drop = fresh_database_url(backend, tmp_path_factory.mktemp("db"))
    yield url
    drop()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Any:
    """Settings bound to the session database."""
    return make_settings(database_url)


@pytest.fixture(scope="session")
def services(settings: Any) -> Iterator[Any]:
    """Migrated services for the session."""
    services = migrated_services(settings)
    yield services
    services.db.dispose()


@pytest.fixture(scope="session")
def app(settings: Any, services: Any) -> Any:
    """The FastAPI application over the session database."""
    from shequ.api.app import create_app

    return create_app(settings, services)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """An HTTP client for the application."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


PASSWORD = "Test-Passw0rd!x"


@dataclass
class World:
    """A fresh community with one user per role, isolated from other tests by unique codes."""

    client: Any
    services: Any
    community_id: int
    code: str
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str, lang: str = "zh-CN") -> dict[str, str]:
        """Authorization headers for one of this world's users (logged in once)."""
        if username not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}", "Accept-Language": lang}

    def user(self, role: str, *, scope: str = "community", scope_id: int | None = None,
             name: str | None = None) -> str:
        """Create a user with one role in this community; returns the user name."""
        from shequ.platform.models import Community, ScopeKind
        from shequ.platform.scoping import SYSTEM

        username = name or f"{role}-{uuid.uuid4().hex[:6]}"
        with self.services.db.write() as session:
            platform = self.services.platform
            user = platform.create_user(session, SYSTEM, username, PASSWORD)
            community = session.get(Community, self.community_id)
            kind = ScopeKind(scope)
            platform.assign_role(
                session, SYSTEM, user, role, kind,
                community=None if kind in (ScopeKind.platform, ScopeKind.region) else community,
                scope_id=scope_id,
            )
            self.users[username] = user.id
        return username


@pytest.fixture
def world_factory(client: Any, services: Any) -> Callable[[], World]:
    """Make isolated communities on demand."""
    from shequ.platform.scoping import SYSTEM

    def make() -> World:
        code = f"T{uuid.uuid4().hex[:8].upper()}"
        with services.db.write() as session:
            community = services.platform.create_community(session, SYSTEM, code, f"测试社区{code}")
            community_id = community.id
        return World(client, services, community_id, code)

    return make


@pytest.fixture
def world(world_factory: Callable[[], World]) -> World:
    """A fresh community for one test."""
    return world_factory()
