"""What every endpoint gets from the request: the runtime and the authenticated caller.

Used as FastAPI dependencies, so routers stay thin and the auth rule lives
in one place (``Runtime.auth``). ``/health``, ``/metrics`` and the OpenAPI
pages take no ``Caller`` and are therefore open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from oculi.runtime import Runtime


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: the store owner id, and the key as sent (None without auth)."""

    owner: str
    key: str | None


def get_runtime(request: Request) -> Runtime:
    """The runtime ``create_app`` attached to the app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_caller(request: Request) -> Caller:
    """Authenticate ``Authorization: Bearer <key>`` (401 ``Unauthenticated`` when missing or wrong)."""
    auth = get_runtime(request).auth
    header = request.headers.get("authorization")
    owner = auth.owner(header)
    return Caller(owner=owner, key=auth.key_from_header(header))


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CallerDep = Annotated[Caller, Depends(get_caller)]
