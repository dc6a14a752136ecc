"""Translations every wire surface shares: detail levels, roles, finish reasons, sampling defaults.

Kept here so chat completions and Responses refuse the same bad values with
the same messages (each surface still has exactly one mapper of its own).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from oculi import logs
from oculi.domain import Completion, Detail, FinishReason, Role, Usage
from oculi.errors import InvalidRequest, OculiError, internal_error_body
from oculi.store.base import StoredResponse

log = logging.getLogger(__name__)

# "original" is a newer OpenAI value ("the image as sent"): the most detail SPEC §3 gives is ``high``.
_DETAILS = {**{d.value: d for d in Detail}, "original": Detail.HIGH}
_ROLES = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}
_FINISH = {
    FinishReason.STOP: "stop",
    FinishReason.LENGTH: "length",
    FinishReason.TOOL_CALLS: "tool_calls",
    FinishReason.CANCELLED: "stop",
    FinishReason.ERROR: "error",
}


def parse_detail(value: str | None, param: str) -> Detail:
    """``auto`` / ``low`` / ``high`` / ``original`` (= ``high``; missing → ``auto``); anything else is a 400."""
    if value is None:
        return Detail.AUTO
    detail = _DETAILS.get(value)
    if detail is None:
        raise InvalidRequest(
            f"Invalid image detail {value!r} at {param}; use one of 'auto', 'low', 'high' "
            "('original' is treated as 'high').",
            param=param,
        )
    return detail


def parse_role(value: str, param: str) -> Role:
    """A message role (``developer`` is a system message); anything else is a 400 naming ``param``."""
    role = _ROLES.get(value)
    if role is None:
        raise InvalidRequest(
            f"Unsupported message role {value!r} at {param}; use 'system', 'developer', 'user' or 'assistant'.",
            param=param,
        )
    return role


def finish_reason(reason: FinishReason) -> str:
    """The wire name of a finish reason (``cancelled`` is never seen by the client that left)."""
    return _FINISH[reason]


def or_default(value: float | None, default: float) -> float:
    """A sampling parameter sent as ``null`` or left out means its default."""
    return default if value is None else value


def stored_completion(record: StoredResponse) -> Completion:
    """The completion a stored record holds (what GET endpoints render again)."""
    return Completion(record.id, record.model, record.created_at, list(record.choices), record.usage or Usage())


def stream_error_body(exc: BaseException) -> dict[str, Any]:
    """The ``{"code", "error"}`` body for a failure after streaming began (bugs stay anonymous)."""
    if isinstance(exc, OculiError):
        return exc.http_body()
    log.error("generation failed mid-stream", exc_info=exc)
    return internal_error_body(logs.request_id.get())


def json_response(model: BaseModel, status: int = 200) -> JSONResponse:
    """Render a wire model. Handlers return this rather than the model so FastAPI does
    not validate it a second time against ``response_model`` (which is for the docs)."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status)
