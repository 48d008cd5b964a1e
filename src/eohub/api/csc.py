"""The CDSE-style OData API under ``/catalogue/odata/v1`` (see docs/cdse-odata.md).

Requests are resolved by :class:`eohub.protocols.csc.service.CscService`; bytes are streamed
by :mod:`eohub.api.download` with ranges, ETags and the download quotas. Errors carry CDSE's
bodies: 422 pydantic lists for invalid options and filters, ``{"detail": {"message",
"request_id"}}`` for everything else. Metadata and quicklooks need the SEARCH role, product
and file bytes the DOWNLOAD role.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from eohub.api import download
from eohub.api.auth import authorize, challenge_headers, is_access_error
from eohub.api.errors import status_of
from eohub.api.odata import admission, media_of
from eohub.api.retrieval import queue_retrieval
from eohub.api.upstream import upstream_value
from eohub.errors import HubError, InvalidQuery, NotFound, QuotaExceeded, TooManyRequests
from eohub.model.user import Role, User
from eohub.protocols.csc import entities
from eohub.protocols.csc.errors import OptionError, message_detail, validation_detail
from eohub.protocols.csc.options import DELETED_ORDERABLE, Options, parse_options
from eohub.protocols.csc.service import CscService
from eohub.protocols.dhus.odata_v1.errors import ODataError
from eohub.protocols.dhus.odata_v1.service import MediaResult
from eohub.storage.errors import StorageError
from eohub.wiring import Hub, s3_paths

log = logging.getLogger("eohub.api.csc")

SERVICE = "/catalogue/odata/v1"
CHUNK_SIZE = 1 << 19
MAX_SEGMENTS = 64
router = APIRouter()
T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    """One path segment, ``Name`` or ``Name(key)``."""

    name: str
    key: str | None = None


class _NoRoute(NotFound):
    """A path that names no resource of the service."""


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def service_root(request: Request) -> str:
    """The absolute URL of the service (the public URL when configured)."""
    public = _hub(request).settings.server.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}{SERVICE}"


def parse_path(request: Request) -> list[Segment]:
    """The segments below the service root, split on ``/`` outside parentheses."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    raw = raw.split("?", 1)[0]
    at = raw.find(SERVICE)
    rest = raw[at + len(SERVICE) :].strip("/") if at >= 0 else ""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in rest:
        depth += (ch == "(") - (ch == ")")
        if ch == "/" and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if rest:
        parts.append("".join(current))
    if len(parts) > MAX_SEGMENTS:
        raise _NoRoute("Not Found")
    segments: list[Segment] = []
    for part in parts:
        try:
            text = urllib.parse.unquote(part, errors="strict")
        except UnicodeDecodeError:
            raise _NoRoute("Not Found") from None
        name, paren, key = text.partition("(")
        if not name or (paren and not key.endswith(")")):
            raise _NoRoute("Not Found")
        if paren:
            key = key[:-1]
            if len(key) >= 2 and key[0] == key[-1] == "'":
                key = key[1:-1]
        segments.append(Segment(name, key if paren else None))
    return segments


def error_response(request: Request, error: HubError) -> Response:
    """A domain error in CDSE's shape; never a 500 for a request the client got wrong."""
    headers = challenge_headers(request, error) if is_access_error(error) else {}
    headers.pop("cause-message", None)
    if isinstance(error, InvalidQuery):
        values = dict(request.query_params)
        return JSONResponse({"detail": validation_detail(error, values)}, status_code=422)
    if isinstance(error, ODataError):
        status = error.status if error.status < 500 else 503
    elif isinstance(error, StorageError):
        status = 503
    elif isinstance(error, QuotaExceeded | TooManyRequests):
        status = 429  # CDSE answers 429 when a user's download sessions are used up
    else:
        status = status_of(error)
    if status >= 500:
        log.error("CDSE OData request %s failed: %s", request.url.path, error.detail)
        status = 503
    return JSONResponse(message_detail(error.user_message), status_code=status, headers=headers)


def _options(request: Request, deleted: bool = False) -> Options:
    params = list(request.query_params.multi_items())
    if deleted:
        return parse_options(
            params,
            expandable=entities.DELETED_EXPANSIONS,
            selectable=entities.DELETED_PROPERTIES,
            orderable=DELETED_ORDERABLE,
        )
    return parse_options(params, expandable=entities.EXPANSIONS, selectable=entities.PROPERTIES)


def _service(request: Request) -> CscService:
    hub = _hub(request)
    dates = hub.evictor.calendar if hub.evictor is not None else None
    return CscService(
        hub.catalogue,
        hub.store,
        service_root(request),
        eviction_dates=dates,
        s3=s3_paths(hub.settings),
    )


def _json(body: object) -> Response:
    # orjson: ten times faster than the standard encoder on 1,000-entity pages, and it places
    # the catalogue's stored entity documents (orjson.Fragment) without re-encoding them.
    return Response(orjson.dumps(body), media_type="application/json")


async def _stream(request: Request, result: MediaResult, user: User) -> Response:
    admit = admission(request, result, user)
    if result.offline and (served := await upstream_value(request, result.product_id, admit)):
        return served  # a metadata-only mirror: redirected to, or proxied from, upstream
    if result.offline and await queue_retrieval(_hub(request), user, result.product_id):
        message = "The product is offline: its retrieval is queued; download it again later."
        return JSONResponse(message_detail(message), status_code=202)
    if result.offline or result.key is None:
        raise NotFound("The product is not online on this hub: its bytes cannot be downloaded.")

    def failed(status: int, message: str, headers: dict[str, str]) -> Response:
        return JSONResponse(message_detail(message), status_code=status, headers=headers)

    return await download.media_response(request, media_of(request, result, user), failed)


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


async def _get(request: Request) -> Response:
    try:
        segments = parse_path(request)
        user = await authorize(request, Role.SEARCH)
        service = _service(request)
        return await _dispatch(request, service, segments, user)
    except HubError as exc:
        return error_response(request, exc)


async def _dispatch(
    request: Request, service: CscService, segments: list[Segment], user: User
) -> Response:
    names = [s.name for s in segments]
    head = segments[0] if segments else None
    if head is None:
        sets = ["Products", "DeletedProducts", "Attributes", "Assets"]
        return _json(
            {"@odata.context": "$metadata", "value": [{"name": n, "url": n} for n in sets]}
        )
    if head.name == "Products" and head.key is None and len(segments) == 1:
        return _json(await _run(service.products, _options(request)))
    if head.name == "Products" and head.key is not None:
        tail = segments[1:]
        if not tail:
            return _json(await _run(service.product, head.key, _options(request)))
        if len(tail) == 1 and tail[0].name in ("$value", "$zip") and tail[0].key is None:
            result = await _run(service.media, head.key)
            return await _stream(request, result, await authorize(request, Role.DOWNLOAD))
        nodes, last = tail[:-1], tail[-1]
        if all(s.name == "Nodes" and s.key is not None for s in nodes):
            keys = [s.key for s in tail if s.key is not None]
            if last.name == "$value" and last.key is None and nodes:
                result = await _run(service.media, head.key, keys)
                return await _stream(request, result, await authorize(request, Role.DOWNLOAD))
            if last.name == "Nodes":
                return _json(await _run(service.nodes, head.key, keys, last.key is None))
    if head.name == "DeletedProducts" and len(segments) == 1:
        if head.key is None:
            return _json(await _run(service.deleted, _options(request, deleted=True)))
        return _json(await _run(service.deleted_one, head.key, _options(request, deleted=True)))
    if head.name == "Attributes" and len(segments) == 1:
        return _json(await _run(service.attributes, head.key))
    if names[0] == "Assets" and head.key is not None and names[1:] == ["$value"]:
        result = await _run(service.asset, head.key)
        return await _stream(request, result, user)
    raise _NoRoute("Not Found")


async def _filter_list(request: Request) -> Response:
    """``POST Products/OData.CSC.FilterList``."""
    try:
        await authorize(request, Role.SEARCH)
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise OptionError(
                "body", "json_invalid", "JSON decode error", None, where="body"
            ) from None
        service = _service(request)
        options = _options(request)
        return _json(await anyio.to_thread.run_sync(service.filter_list, body, options))
    except HubError as exc:
        return error_response(request, exc)


router.add_api_route(
    f"{SERVICE}/Products/OData.CSC.FilterList",
    _filter_list,
    methods=["POST"],
    include_in_schema=False,
)
router.add_api_route(SERVICE, _get, methods=["GET", "HEAD"], include_in_schema=False)
router.add_api_route(
    f"{SERVICE}/{{path:path}}", _get, methods=["GET", "HEAD"], include_in_schema=False
)
