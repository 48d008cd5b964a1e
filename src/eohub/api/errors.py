"""Domain errors -> HTTP status and eohub's plain JSON error envelope."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from eohub.errors import (
    CatalogueUnavailable,
    Conflict,
    HubError,
    InvalidQuery,
    NotFound,
)

log = logging.getLogger("eohub.api")

STATUS: dict[type[HubError], int] = {
    InvalidQuery: 400,
    NotFound: 404,
    Conflict: 409,
    CatalogueUnavailable: 503,
}


def status_of(error: HubError) -> int:
    """The HTTP status of a domain error (most specific class wins)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def plain_error(error: HubError) -> JSONResponse:
    """``{"error": {"code", "message", "field"?}}`` with the mapped status."""
    body: dict[str, object] = {"code": error.code, "message": error.user_message}
    field = getattr(error, "field", None)
    if field:
        body["field"] = field
    status = status_of(error)
    if status >= 500:
        log.error("request failed: %s", error.detail)
    return JSONResponse({"error": body}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the default handler for domain errors."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        return plain_error(exc)

    app.add_exception_handler(HubError, handle)
