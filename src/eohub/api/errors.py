"""Domain errors -> HTTP status and eohub's plain JSON error envelope."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from eohub.api import auth
from eohub.errors import (
    CatalogueUnavailable,
    Conflict,
    Forbidden,
    HubError,
    InvalidQuery,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("eohub.api")

STATUS: dict[type[HubError], int] = {
    InvalidQuery: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    TooManyRequests: 429,
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


_OPENSEARCH = ("/search", "/dhus/search", "/apihub/search")


def install(app: FastAPI) -> None:
    """Register the default handler for domain errors.

    Access errors carry the Basic challenge, ``Retry-After`` and DHuS's ``cause-message``;
    on the OpenSearch routes they are the servlet container's HTML page, as on DHuS.
    """

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        if not auth.is_access_error(exc):
            return plain_error(exc)
        headers = auth.challenge_headers(request, exc)
        if request.url.path.startswith(_OPENSEARCH):
            return auth.html_error(status_of(exc), exc, headers)
        response = plain_error(exc)
        response.headers.update(headers)
        return response

    app.add_exception_handler(HubError, handle)
