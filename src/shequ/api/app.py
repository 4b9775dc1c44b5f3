"""The FastAPI application: `/api/v1` with platform routes and every registered ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import text

from shequ import __version__, installed
from shequ.api.deps import (
    CurrentSubject,
    Services,
    ServicesDep,
    current_subject,
    read_session,
    write_session,
)
from shequ.api.errors import install_error_handlers, problem
from shequ.api.middleware import RequestMiddleware
from shequ.config import Settings, get_settings
from shequ.kit.db import Database
from shequ.kit.errors import NotFound
from shequ.kit.i18n import current_language, t
from shequ.kit.ledger import Ledger
from shequ.kit.ledger_api import LedgerEnv, ledger_router
from shequ.kit.logging import configure_logging
from shequ.kit.ratelimit import RateLimiter
from shequ.platform.schemas import Problem
from shequ.platform.security.sm import keyring
from shequ.platform.service import PlatformService

API_PREFIX = "/api/v1"
PROBLEMS: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "Invalid input, with one entry per field or row"},
    "4XX": {"model": Problem, "description": "RFC 9457 problem (application/problem+json)",
            "content": {"application/problem+json": {}}},
    "5XX": {"model": Problem, "description": "Unexpected error, with the request id"},
}



def build_services(settings: Settings, db: Database | None = None) -> Services:
    """Database, keys and platform services for a process (API server or command)."""
    keyring.configure(settings.data_key.get_secret_value())
    return Services(
        settings=settings,
        db=db or Database(settings.database_url, pool_size=settings.database_pool_size),
        platform=PlatformService(settings),
        login_limiter=RateLimiter(settings.login_rate_per_minute, 60.0),
    )


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Assemble the application."""
    settings = settings or get_settings()
    services = services or build_services(settings)
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.db.dispose()

    app = FastAPI(
        title="Shequ 社区 API",
        version=__version__,
        description="CIM-based smart community platform "
        "(《基于城市信息模型(CIM)的智慧社区建设指南》).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(RequestMiddleware, max_body=settings.max_body_bytes,
                       max_upload=settings.max_upload_bytes)
    app.include_router(_health_router(), prefix=API_PREFIX)
    installed.import_models()
    installed.ledger_modules()
    for module in installed.api_modules():
        app.include_router(module.router, prefix=API_PREFIX, responses=PROBLEMS)
    env = LedgerEnv(
        principal=current_subject,
        read_session=read_session,
        write_session=write_session,
        audit=services.platform.record,
        export_max_rows=settings.export_max_rows,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.include_router(_ledger_index(), prefix=API_PREFIX)
    for ledger in Ledger.registry.values():
        app.include_router(ledger_router(ledger, env), prefix=API_PREFIX, responses=PROBLEMS)
    mount_web(app, settings.web_dir)
    return app


def mount_web(app: FastAPI, web_dir: Path) -> None:
    """Serve the built portal at `/`, with index.html for client-side routes."""
    index = web_dir / "index.html"
    root = web_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    def portal(path: str) -> Response:
        if path.startswith("api/"):
            raise NotFound(code="request.not_found")
        if not index.is_file():
            return HTMLResponse(t("web.not_built"), status_code=503)
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            cache = "public, max-age=31536000, immutable" if "/assets/" in f"/{path}" else (
                "no-cache")
            return FileResponse(candidate, headers={"Cache-Control": cache})
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness (no authentication)")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @router.get("/health/ready", summary="Readiness: the database answers",
                responses={503: {"description": "database unavailable"}})
    def ready(services: ServicesDep) -> Any:
        try:
            with services.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 (any failure means not ready)
            return problem(None, 503, "service.unavailable", t("service.unavailable"))
        return {"status": "ready", "database": services.db.engine.dialect.name}

    return router


def _ledger_index() -> APIRouter:
    router = APIRouter(tags=["ledgers"])

    @router.get("/ledgers", summary="The ledgers this user may read, with their metadata URLs")
    def ledgers(subject: CurrentSubject) -> list[dict[str, Any]]:
        lang = current_language()
        return [
            {"name": name, "label": t(f"ledger.{name}", lang), "layer": ledger.layer,
             "url": f"{API_PREFIX}/{name}", "meta": f"{API_PREFIX}/{name}/meta"}
            for name, ledger in Ledger.registry.items()
            if not subject.scope_for(f"{ledger.permission}:read").empty
        ]

    return router
