"""Routes of the playground: ``GET /`` → ``/playground``, the page, its assets, its config.

The page and its assets are open (with API keys configured, the page loads
but every API call it makes needs the key the user types in). Each answer
carries a strict Content-Security-Policy: scripts, styles and connections
only from this origin, images also from ``blob:`` / ``data:`` (the user's own
files), no frames, forms or plugins — so the page can make no external
request even if a bug let foreign markup in.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from oculi.api.context import RuntimeDep

#: The one path prefix of the page and everything it loads from oculi (an auth allow-list admits this).
PREFIX = "/playground"

STATIC_DIR = Path(__file__).parent / "static"

_MEDIA_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

#: Assets by file name, fixed at import: a request can only ever name one of these files.
ASSETS = {p.name: _MEDIA_TYPES[p.suffix] for p in STATIC_DIR.iterdir() if p.suffix in _MEDIA_TYPES}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # Revalidate every time (ETag), so a new oculi version's page is never mixed with an old script.
    "cache-control": "no-cache",
}

router = APIRouter(tags=["playground"], include_in_schema=False)


@router.get("/")
async def root() -> Response:
    """The root URL a person opens: the playground."""
    return RedirectResponse(PREFIX, status_code=307)


@router.get(PREFIX)
async def page() -> Response:
    """The playground page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get(PREFIX + "/config.json")
async def config(runtime: RuntimeDep) -> Response:
    """What the page cannot learn from the public API before it has a key: whether it needs one, the gRPC port.

    Both are visible to anyone who can reach the ports anyway; models and
    everything else come from the API, with the key.
    """
    settings = runtime.settings
    return JSONResponse(
        {"auth": runtime.auth.enabled, "grpc_port": settings.grpc_port or None},
        headers=SECURITY_HEADERS,
    )


@router.get(PREFIX + "/{name}")
async def asset(name: str) -> Response:
    """A file of ``static/`` (scripts, styles)."""
    media_type = ASSETS.get(name)
    if media_type is None or name == "index.html":
        raise HTTPException(status_code=404, detail=f"No playground asset named '{name}'.")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)
