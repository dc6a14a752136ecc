"""THE mapping of errors to HTTP responses (SPEC §6): ``{"code", "error"}`` + status + headers.

- ``OculiError`` → its own status, ``http_body()`` and ``http_headers()``.
- FastAPI's ``RequestValidationError`` → 422 ``invalid_schema`` naming the
  field (wrong type, missing field), or 400 ``invalid_json`` when the body is
  not JSON at all.
- Starlette's ``HTTPException`` (unknown path, wrong method) → its status with
  the same body shape.
- ``ClientGone`` (the client left before a whole answer was ready) → an
  empty 499 for the access log; nobody receives it.
- Anything else is a bug: ``internal_error_response`` — 500 with only the
  request id (the middleware logs the traceback under that id, never sends it).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from oculi import logs
from oculi.api.disconnect import ClientGone
from oculi.errors import OculiError, internal_error_body

log = logging.getLogger(__name__)

_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request", 413: "payload_too_large"}


def error_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response carrying the current request id."""
    all_headers = {"x-request-id": logs.request_id.get(), **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


def oculi_error_response(exc: OculiError) -> JSONResponse:
    """The response for an ``OculiError`` (also used for errors raised before routing)."""
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return error_response(exc.status, exc.http_body(), exc.http_headers())


def _field_path(loc: tuple[Any, ...]) -> str:
    """``("body", "messages", 0, "content")`` → ``messages[0].content``."""
    path = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming the first offending field, or 400 when the body is not JSON."""
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": ("body",), "msg": "invalid body", "type": ""}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return error_response(
            400,
            {
                "code": "invalid_json",
                "error": f"The request body is not valid JSON ({detail or first.get('msg')}). Send a JSON object.",
            },
        )
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") in _NOT_AN_OBJECT:
        # Also what a body sent without ``Content-Type: application/json`` looks like.
        return error_response(
            400,
            {
                "code": "invalid_json",
                "error": "The request body must be a JSON object, sent with 'Content-Type: application/json'.",
            },
        )
    field = _field_path(tuple(first.get("loc", ())))
    if first.get("type") == "missing":
        message = f"Missing required field '{field}'."
    else:
        message = f"Invalid value for '{field}': {first.get('msg', 'invalid')}."
    if len(errors) > 1:
        others = ", ".join(sorted({_field_path(tuple(e.get("loc", ()))) for e in errors[1:]} - {field}))
        if others:
            message += f" Also invalid: {others}."
    return error_response(422, {"code": "invalid_schema", "error": message, "param": field})


def internal_error_response() -> JSONResponse:
    """The 500 for a bug: only the request id (the middleware logs the traceback under it)."""
    return error_response(500, internal_error_body(logs.request_id.get()))


def install_error_handlers(app: FastAPI) -> None:
    """Register the one error mapping on ``app``."""

    async def on_oculi_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OculiError)
        return oculi_error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc)

    async def on_client_gone(request: Request, exc: Exception) -> Response:
        # Nobody is listening; 499 (nginx's "client closed request") is for the access log.
        return Response(status_code=499)

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"No such endpoint: {request.method} {request.url.path}. See /docs for the API."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
        return error_response(exc.status_code, {"code": code, "error": message}, dict(exc.headers or {}))

    app.add_exception_handler(OculiError, on_oculi_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(ClientGone, on_client_gone)
