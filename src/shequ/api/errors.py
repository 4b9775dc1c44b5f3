"""RFC 9457 problem+json for every error, with a stable `code` and a translated message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = current_context().request_id
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(request, 500, "internal.error", t("internal.error", request_id=request_id))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through problem+json."""
    app.add_exception_handler(ShequError, _shequ_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
