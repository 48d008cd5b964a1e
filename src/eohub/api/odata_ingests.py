"""OData v1 ``Ingests`` (also under ``/dhus/`` and ``/apihub/``): upload, then ingest. UPLOAD role.

- ``POST Ingests`` with the product as raw body (any content type) streams it to
  ``<data_dir>/uploads/ingests/<id>.bin`` and answers 201 with the PENDING ingest and the
  ``MD5`` of the body;
- ``PUT Ingests(<id>)`` with ``{"Filename": ..., "TargetCollections": [...]}`` (plain or
  verbose ``{"d": ...}`` JSON, or an Atom entry) ingests it and answers 204; the ingest is
  then INGESTED, or ERROR with the reason in ``StatusMessage`` (a refused file name is a 400
  and leaves it PENDING);
- ``GET Ingests`` (``$top``, ``$skip``) and ``GET Ingests(<id>)`` show the caller's own
  ingests, everyone's to a DATA_MANAGER;
- ``DELETE Ingests(<id>)`` forgets an ingest that is not being ingested, with its data.

Errors are OData error documents, as on the rest of the service. These routes must be
registered before the catch-all OData routes of :mod:`eohub.api.odata`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from eohub.api.auth import authorize, challenge_headers, is_access_error
from eohub.api.odata import as_odata, error_response, resource_path, service_root, wants_json
from eohub.api.upload import PREFIXES, Spool, uploads_of
from eohub.errors import HubError
from eohub.model.user import Role, User
from eohub.protocols.dhus.odata_v1 import atom, json_format
from eohub.protocols.dhus.odata_v1.edm import Entity, Feed
from eohub.protocols.dhus.odata_v1.errors import bad_request
from eohub.protocols.dhus.odata_v1.ingests import (
    MAX_BODY,
    ingest_entity,
    ingest_feed,
    parse_ingest_key,
    parse_ingest_update,
)
from eohub.protocols.dhus.odata_v1.options import Format, parse_format

_SERVICE = "/odata/v1"
_JSON = "application/json"
_ATOM_ENTRY = "application/atom+xml;type=entry;charset=utf-8"
_ATOM_FEED = "application/atom+xml;type=feed;charset=utf-8"
_XML = "application/xml;charset=utf-8"
_HEADERS = {"DataServiceVersion": "1.0"}

router = APIRouter()


def _owner(user: User) -> str | None:
    """Whose ingests the caller sees: their own, or everyone's for a data manager."""
    return None if user.has(Role.DATA_MANAGER) else user.username


def _format(request: Request) -> Format:
    raw = request.query_params.get("$format")
    if raw is not None:
        fmt = parse_format(raw)
        if fmt in (Format.CSV, Format.METALINK):
            raise bad_request(f"$format={fmt.value} is not available for Ingests")
        return fmt
    return Format.JSON if wants_json(request) else Format.ATOM


def _render(request: Request, content: Entity | Feed, status: int = 200) -> Response:
    prefix, _ = resource_path(request)
    root = service_root(request, prefix)
    fmt = _format(request)
    headers = dict(_HEADERS)
    if isinstance(content, Entity):
        if status == 201:
            headers["Location"] = f"{root}/{content.path}"
        if fmt is Format.JSON:
            body, kind = json_format.entry_document(content, root), _JSON
        else:
            body = atom.entry_document(content, root)
            kind = _XML if fmt is Format.XML else _ATOM_ENTRY
    elif fmt is Format.JSON:
        body, kind = json_format.feed_document(content, root), _JSON
    else:
        body, kind = atom.feed_document(content, root), _XML if fmt is Format.XML else _ATOM_FEED
    return Response(body, status_code=status, media_type=kind, headers=headers)


async def _answer(request: Request, work: Callable[[User], Awaitable[Response]]) -> Response:
    """Authorize (UPLOAD), do the work, and turn errors into OData error documents."""
    try:
        user = await authorize(request, Role.UPLOAD)
        return await work(user)
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)


def _count(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise bad_request(f"Invalid {name} '{raw[:40]}': a non-negative integer is expected")
    return int(raw)


async def list_ingests(request: Request) -> Response:
    """``GET Ingests``: the caller's ingests by id (all of them for a data manager)."""

    async def work(user: User) -> Response:
        limit = _count(request.query_params.get("$top"), "$top")
        offset = _count(request.query_params.get("$skip"), "$skip") or 0
        uploads = uploads_of(request)
        records = await anyio.to_thread.run_sync(
            lambda: uploads.records(_owner(user), limit=limit, offset=offset)
        )
        return _render(request, ingest_feed(records))

    return await _answer(request, work)


async def create_ingest(request: Request) -> Response:
    """``POST Ingests``: receive the body as a PENDING ingest; 201 with the entity."""

    async def work(user: User) -> Response:
        _format(request)  # an unusable $format is refused before the body is read
        uploads = uploads_of(request)
        spool = Spool()
        spool.target = target = await anyio.to_thread.run_sync(uploads.new_body)
        try:
            async for chunk in request.stream():
                spool.buffer.extend(chunk)
                await spool.flush()
            await spool.flush(force=True)
            if target.size == 0:
                raise bad_request("The request body is empty: send the product as the body")
            md5 = await anyio.to_thread.run_sync(target.finish)
        except BaseException as exc:  # also a disconnect or a cancellation: leave nothing
            target.discard()
            if isinstance(exc, ClientDisconnect):
                return Response(status_code=400)  # nobody is listening any more
            raise
        record = await anyio.to_thread.run_sync(uploads.register, target, md5, user.username)
        return _render(request, ingest_entity(record), status=201)

    return await _answer(request, work)


async def show_ingest(request: Request, key: str) -> Response:
    """``GET Ingests(<id>)``."""

    async def work(user: User) -> Response:
        ingest_id = parse_ingest_key(key)
        uploads = uploads_of(request)
        record = await anyio.to_thread.run_sync(uploads.get, ingest_id, _owner(user))
        return _render(request, ingest_entity(record))

    return await _answer(request, work)


async def start_ingest(request: Request, key: str) -> Response:
    """``PUT Ingests(<id>)`` with the file name: ingest it now; 204."""

    async def work(user: User) -> Response:
        ingest_id = parse_ingest_key(key)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY:
                raise bad_request(f"The request body is larger than {MAX_BODY} bytes")
        content_type = request.headers.get("content-type", "")
        filename, collections = parse_ingest_update(bytes(body), content_type)
        uploads = uploads_of(request)
        await anyio.to_thread.run_sync(
            uploads.start, ingest_id, _owner(user), filename, collections
        )
        return Response(status_code=204, headers=_HEADERS)

    return await _answer(request, work)


async def delete_ingest(request: Request, key: str) -> Response:
    """``DELETE Ingests(<id>)``: forget it and its data; 204."""

    async def work(user: User) -> Response:
        ingest_id = parse_ingest_key(key)
        uploads = uploads_of(request)
        await anyio.to_thread.run_sync(uploads.delete, ingest_id, _owner(user))
        return Response(status_code=204, headers=_HEADERS)

    return await _answer(request, work)


for _prefix in PREFIXES:
    _set = f"{_prefix}{_SERVICE}/Ingests"
    router.add_api_route(_set, list_ingests, methods=["GET"], include_in_schema=False)
    router.add_api_route(_set, create_ingest, methods=["POST"], include_in_schema=False)
    for _method, _endpoint in (("GET", show_ingest), ("PUT", start_ingest),
                               ("DELETE", delete_ingest)):  # fmt: skip
        router.add_api_route(f"{_set}{{key}}", _endpoint, methods=[_method],
                             include_in_schema=False)  # fmt: skip
