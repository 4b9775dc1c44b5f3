"""ASGI middleware: request id, language, client address, body size limit, access log."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shequ.api.errors import unexpected_body
from shequ.kit.context import RequestContext, reset_context, set_context
from shequ.kit.i18n import negotiate, reset_language, set_language, t

log = logging.getLogger("shequ.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestMiddleware:
    """Sets the request context and language, caps body size, logs each request."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP or WebSocket connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        client = scope.get("client")
        ctx = RequestContext(request_id, client[0] if client else None,
                             headers.get("user-agent"))
        token = set_context(ctx)
        lang_token = set_language(negotiate(headers.get("accept-language")))
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send, headers, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            reset_context(token)
            reset_language(lang_token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str],
                    request_id: str) -> None:
        upload = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.max_upload if upload else self.max_body
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _reject_too_large(send, limit, request_id)
            self._log(scope, 413, started)
            return
        if not length.isdigit() and scope.get("method") in ("POST", "PUT", "PATCH"):
            body = await _buffer(receive, limit)
            if body is None:
                await _reject_too_large(send, limit, request_id)
                self._log(scope, 413, started)
                return
            receive = _replay(body)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged_send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if status.get("started"):
                raise
            status["code"] = 500
            await _send_problem(send, 500, unexpected_body(request_id), request_id)
        self._log(scope, status["code"], started)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        log.info("request", extra={
            "method": scope.get("method"), "path": scope.get("path"), "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        })


async def _buffer(receive: Receive, limit: int) -> bytes | None:
    """Read a body of unknown length, or None as soon as it passes the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _reject_too_large(send: Send, limit: int, request_id: str) -> None:
    message = t("request.too_large", limit=limit)
    body: dict[str, Any] = {"type": "/problems/request.too_large", "title": message,
                            "status": 413, "code": "request.too_large", "detail": message,
                            "request_id": request_id}
    await _send_problem(send, 413, body, request_id)


async def _send_problem(send: Send, status: int, body: dict[str, Any], request_id: str) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(data)).encode()),
        (b"x-request-id", request_id.encode())]})
    await send({"type": "http.response.body", "body": data})
