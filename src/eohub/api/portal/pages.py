"""Rendering portal pages from Jinja2 templates (autoescaped: metadata is never trusted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from eohub.api.portal.session import finish, template_globals

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def vendor_ready() -> bool:
    """Whether the map libraries were installed (``make portal-assets``)."""
    return (STATIC / "vendor" / "leaflet" / "leaflet.js").is_file()


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the portal's globals and ``context``."""
    values = {**template_globals(request), "vendor_ready": vendor_ready(), **context}
    body = _env.get_template(template).render(values)
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = _csp(request)
    finish(request, response)
    return response


def _csp(request: Request) -> str:
    """Scripts and styles from the hub only; map tiles from the configured tile server."""
    tiles = request.app.state.hub.settings.portal.tile_url
    tile_origin = "/".join(tiles.split("/")[:3]) if tiles.startswith("http") else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob: {tile_origin}".rstrip()
        + "; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    )
