"""The DHuS-compatible OData v1 API: ``/odata/v1``, also under ``/dhus/`` and ``/apihub/``.

Requests are resolved by :class:`eohub.protocols.dhus.odata_v1.service.ODataService` and
rendered here in the asked format; media (``$value``) are streamed by :mod:`eohub.api.download`.
Errors are OData error documents (JSON when JSON was asked for, else XML) with DHuS's
``cause-message`` header, never the plain JSON envelope. Metadata needs the SEARCH role,
product and file values the DOWNLOAD role and a place in the user's download quota
(quicklooks and thumbnails need SEARCH only).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterator

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from eohub.api import download
from eohub.api.auth import authorize, challenge_headers, is_access_error
from eohub.api.errors import status_of
from eohub.api.retrieval import queue_retrieval
from eohub.api.upstream import upstream_value
from eohub.auth.quotas import Ticket
from eohub.errors import HubError
from eohub.model.user import Role, User
from eohub.protocols.dhus.odata_v1 import atom, formats, json_format
from eohub.protocols.dhus.odata_v1.deletion import delete_product, parse_delete
from eohub.protocols.dhus.odata_v1.entities import media_name, product_path
from eohub.protocols.dhus.odata_v1.errors import ODataError, bad_request
from eohub.protocols.dhus.odata_v1.ingests import INGEST
from eohub.protocols.dhus.odata_v1.options import Format, parse_format, parse_options, parse_path
from eohub.protocols.dhus.odata_v1.service import (
    CountResult,
    EntityResult,
    FeedResult,
    MediaResult,
    MetadataResult,
    ODataService,
    PropertyResult,
    Result,
    ServiceResult,
)
from eohub.protocols.dhus.odata_v1.synchronizers import SYNCHRONIZER
from eohub.storage.errors import StorageError
from eohub.storage.ports import ByteRange
from eohub.sync.retrieve import RetrievalQuotaExceeded
from eohub.wiring import Hub

log = logging.getLogger("eohub.api.odata")

PREFIXES = ("", "/dhus", "/apihub")
CHUNK_SIZE = 1 << 19  # 512 KiB: throughput near 1 MiB chunks, half the memory per download
_SERVICE = "/odata/v1"
_JSON = "application/json"
_ATOM = "application/atom+xml;charset=utf-8"
_XML = "application/xml;charset=utf-8"
_TEXT = "text/plain;charset=utf-8"

router = APIRouter()


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def wants_json(request: Request) -> bool:
    """Whether the client asked for JSON (``$format`` or ``Accept``)."""
    raw = request.query_params.get("$format")
    if raw is not None:
        try:
            return parse_format(raw) is Format.JSON
        except ODataError:
            return False
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "xml" not in accept


def error_response(
    request: Request, error: ODataError, extra: dict[str, str] | None = None
) -> Response:
    """An OData error document (JSON or XML as asked) with DHuS's ``cause-message``."""
    headers = {"cause-message": error.cause_message.encode("latin-1", "replace").decode("latin-1"),
               "DataServiceVersion": "1.0", **(extra or {})}  # fmt: skip
    if error.status >= 500:
        log.error("OData request %s failed: %s", request.url.path, error.detail)
    if wants_json(request):
        body, kind = json_format.error_document(error.user_message), _JSON
    else:
        body, kind = atom.error_document(error.user_message), "application/xml"
    return Response(body, status_code=error.status, media_type=kind, headers=headers)


def as_odata(error: HubError) -> ODataError:
    """A domain error as an OData error with its status and DHuS-style cause."""
    if isinstance(error, ODataError):
        return error
    if isinstance(error, StorageError):
        return ODataError(503, f"The product data is temporarily unavailable: "
                          f"{error.user_message}", cause="DataStoreException")  # fmt: skip
    status = status_of(error)
    cause = "ExpressionParserException" if status == 400 else type(error).__name__
    return ODataError(status, error.user_message, cause=cause)


def service_root(request: Request, prefix: str) -> str:
    """The absolute URL of the OData service under ``prefix`` (public URL when set)."""
    public = _hub(request).settings.server.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}{prefix}{_SERVICE}"


def resource_path(request: Request) -> tuple[str, str]:
    """(mount prefix, raw resource path below /odata/v1) from the undecoded request path."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    root_path = request.scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    at = path.find(_SERVICE)
    return path[:at], path[at + len(_SERVICE) :]


def _ok(body: bytes, kind: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=kind, headers={"DataServiceVersion": "2.0", **(headers or {})})


def _render(request: Request, result: Result, root: str, fmt: Format | None) -> Response:
    if isinstance(result, ServiceResult):
        if fmt is Format.JSON:
            return _ok(json_format.service_document(result.entity_sets), _JSON)
        return _ok(atom.service_document(root, result.entity_sets), _XML)
    if isinstance(result, MetadataResult):
        return _ok(formats.metadata_document((INGEST, SYNCHRONIZER)), _XML)
    if isinstance(result, CountResult):
        return _ok(str(result.count).encode(), _TEXT)
    if isinstance(result, PropertyResult):
        if result.raw:
            text = atom.text_value(result.prop)
            return _ok((text or "").encode(), _TEXT)
        if fmt is Format.JSON:
            return _ok(json_format.property_document(result.prop), _JSON)
        return _ok(atom.property_document(result.prop), _XML)
    if isinstance(result, EntityResult):
        if fmt is Format.JSON:
            return _ok(json_format.entry_document(result.entity, root, result.select), _JSON)
        if fmt in (Format.CSV, Format.METALINK):
            raise bad_request(f"$format={fmt.value} applies to feeds only")
        kind = _XML if fmt is Format.XML else _ATOM
        return _ok(atom.entry_document(result.entity, root, result.select), kind)
    assert isinstance(result, FeedResult)
    return _render_feed(result, root, fmt)


def _render_feed(result: FeedResult, root: str, fmt: Format | None) -> Response:
    feed = result.feed
    if fmt is Format.JSON:
        return _ok(json_format.feed_document(feed, root, result.select), _JSON)
    if fmt in (Format.CSV, Format.METALINK) and not feed.entries:
        return Response(status_code=204, headers={"DataServiceVersion": "2.0"})
    if fmt is Format.CSV:
        return _ok(formats.csv_document(feed, result.select), "text/csv")
    if fmt is Format.METALINK:
        if result.products is None:
            raise bad_request(f"Entity type {feed.title} does not support Metalink formatting")
        files = [
            (media_name(p), p.size, p.checksum("MD5"), f"{root}/{product_path(p.id)}/$value")
            for p in result.products
        ]
        disposition = {"Content-Disposition": "inline; filename=products.meta4"}
        return _ok(formats.metalink_document(files), "application/metalink4+xml", disposition)
    kind = _XML if fmt is Format.XML else _ATOM
    return _ok(atom.feed_document(feed, root, result.select), kind)


def media_of(request: Request, result: MediaResult, user: User) -> download.Media:
    """The bytes a media result names (archive object or file inside a product) with their
    nginx redirect and the user's download-quota admission; shared with the CDSE API."""
    hub = _hub(request)
    store, key, member, tree = hub.store, result.key, result.member, result.tree
    assert key is not None

    def reader(byte_range: ByteRange | None) -> Iterator[bytes]:
        if member is None:
            return store.open(key, byte_range, chunk_size=CHUNK_SIZE)
        assert tree is not None
        start = byte_range.start if byte_range else 0
        length = byte_range.length if byte_range else member.size
        return tree.iter_member(member, start, length)

    accel = None
    prefix = hub.settings.server.accel_redirect_prefix
    if prefix and member is None and hub.settings.storage.backend == "filesystem":
        accel = prefix.rstrip("/") + "/" + urllib.parse.quote(key)
    return download.Media(result.size, result.content_type, result.filename, result.etag,
                          result.last_modified, reader, accel,
                          admission(request, result, user))  # fmt: skip


def admission(
    request: Request, result: MediaResult, user: User
) -> Callable[[int, int], Ticket] | None:
    """The user's download-quota admission of a product's bytes (None for previews)."""
    if result.preview or result.product_id is None:
        return None
    hub, product_id, size = _hub(request), result.product_id, result.size

    def admit(offset: int, length: int) -> Ticket:
        return hub.downloads.admit(user, product_id, size, offset, length)

    return admit


async def _handle(request: Request) -> Response:
    prefix, raw_path = resource_path(request)
    root = service_root(request, prefix)
    try:
        user = await authorize(request, Role.SEARCH)
        segments = parse_path(raw_path)
        options = parse_options(dict(request.query_params), segments)
        fmt = options.format
        if fmt is None and wants_json(request):
            fmt = Format.JSON
        service = ODataService(_hub(request).catalogue, _hub(request).store)
        result = await anyio.to_thread.run_sync(service.handle, segments, options)
        if isinstance(result, MediaResult):
            if not result.preview:
                user = await authorize(request, Role.DOWNLOAD)
            admit = admission(request, result, user)
            if result.offline and (
                served := await upstream_value(request, result.product_id, admit)
            ):
                return served  # a metadata-only mirror: redirected to or proxied from upstream
            if result.offline:
                # The DHuS answer for an offline product: 202 Accepted, retrieval queued
                # (from an upstream hub when this hub has a source; else nothing comes).
                try:
                    await queue_retrieval(_hub(request), user, result.product_id)
                except RetrievalQuotaExceeded as exc:
                    raise ODataError(403, exc.user_message, cause="QuotaException") from None
                return Response(status_code=202, media_type="text/plain",
                                headers={"DataServiceVersion": "2.0"})  # fmt: skip
            media = media_of(request, result, user)
            return await download.media_response(
                request, media, lambda s, m, h: error_response(request, ODataError(s, m), h)
            )
        return _render(request, result, root, fmt)
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)


async def _delete(request: Request) -> Response:
    """``DELETE Products('<uuid>')[?cause=...][&purge=true]``: 204, or an OData error."""
    _, raw_path = resource_path(request)
    try:
        await authorize(request, Role.DATA_MANAGER)  # as DHuS: only data managers delete
        deletion = parse_delete(parse_path(raw_path), dict(request.query_params))
        hub = _hub(request)
        await anyio.to_thread.run_sync(delete_product, hub.catalogue, hub.store, deletion)
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)
    return Response(status_code=204, headers={"DataServiceVersion": "1.0"})


for _prefix in PREFIXES:
    router.add_api_route(f"{_prefix}{_SERVICE}", _handle, methods=["GET", "HEAD"],
                         include_in_schema=False)  # fmt: skip
    router.add_api_route(f"{_prefix}{_SERVICE}/{{path:path}}", _handle, methods=["GET", "HEAD"],
                         include_in_schema=False)  # fmt: skip
    router.add_api_route(f"{_prefix}{_SERVICE}/{{path:path}}", _delete, methods=["DELETE"],
                         include_in_schema=False)  # fmt: skip
