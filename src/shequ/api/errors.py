"""RFC 9457 problem+json for every error, with a stable `code` and a translated message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shequ.kit.context import current_context
from shequ.kit.errors import ShequError
from shequ.kit.i18n import current_language, t
from shequ.kit.ledger import translate_pydantic

log = logging.getLogger("shequ.api")
PROBLEM = "application/problem+json"


def problem(request: Request | None, status: int, code: str, message: str,
            errors: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": message,
        "status": status,
        "code": code,
        "detail": message,
        "instance": request.url.path if request is not None else None,
        "request_id": current_context().request_id,
        "language": current_language(),
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _shequ_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShequError)
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status == 429 and "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    errors = [{**e, "message": e.get("message") or t(e.get("code", ""))} for e in exc.errors]
    return problem(request, exc.status, exc.code, exc.user_message(), errors, exc.extra,
                   headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem(request, 400, "request.invalid_json", t("request.invalid_json"))
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or None,
         "location": str(e.get("loc", ("",))[0]),
         "code": e.get("type"), "message": translate_pydantic(e)}
        for e in raw
    ]
    return problem(request, 422, "request.invalid", t("request.invalid"), errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "request.not_found", 405: "request.method_not_allowed",
             401: "auth.required", 403: "auth.forbidden", 413: "request.too_large"}
    code = codes.get(exc.status_code, "request.bad")
    return problem(request, exc.status_code, code, t(code, limit="?"),
                   headers=getattr(exc, "headers", None))


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    log.info("database refused a value", extra={"error": str(exc)[:300]})
    return problem(request, 422, "request.invalid_value", t("request.invalid_value"))


def unexpected_body(request_id: str | None) -> dict[str, Any]:
    """The problem+json body of an unexpected error (details stay in the log)."""
    message = t("internal.error", request_id=request_id)
    return {"type": "/problems/internal.error", "title": message, "status": 500,
            "code": "internal.error", "detail": message, "request_id": request_id,
            "language": current_language()}


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected exception through problem+json (unexpected ones: middleware)."""
    app.add_exception_handler(ShequError, _shequ_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
