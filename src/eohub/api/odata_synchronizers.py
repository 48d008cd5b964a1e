"""Synchronisers over HTTP: DHuS OData v1 ``Synchronizers`` (also under ``/dhus/`` and
``/apihub/``), Prometheus ``GET /metrics``, the hub registry ``GET /api/hubs``, and the
scheduler a serving hub runs them with.

- ``GET Synchronizers``, ``GET Synchronizers(<id>)``: JSON entities (``{"d": ...}``), or
  Atom when asked (``$format=atom|xml``, or an ``Accept`` naming Atom or XML before JSON),
  the password shown as ``***``;
- ``POST Synchronizers`` (201 with the entity), ``PATCH``/``PUT``/``MERGE
  Synchronizers(<id>)`` (204; only the properties given change; ``Request``
  ``start``/``stop`` resumes or pauses), ``DELETE Synchronizers(<id>)`` (204): JSON bodies,
  plain or ``{"d": {...}}``, or Atom entries as DHuS's scripts send them (a POST with an
  Atom body is answered in Atom unless JSON is asked for).

Every request needs the SYSTEM_MANAGER or the DATA_MANAGER role; errors are OData error
documents. The routes must be registered before the catch-all OData routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from eohub.api.auth import authorize, challenge_headers, is_access_error, requires
from eohub.api.odata import as_odata, error_response, resource_path, service_root
from eohub.api.sync_state import sync_service
from eohub.api.upload import PREFIXES
from eohub.errors import Forbidden, HubError, InvalidQuery
from eohub.model.user import Role, User
from eohub.protocols.dhus.odata_v1 import atom
from eohub.protocols.dhus.odata_v1.errors import bad_request
from eohub.protocols.dhus.odata_v1.options import Format, parse_format
from eohub.protocols.dhus.odata_v1.synchronizers import (
    parse_synchronizer_atom,
    synchronizer_atom_entity,
    synchronizer_feed,
    synchronizer_path,
)
from eohub.query.query import Query
from eohub.query.tree import Compare, CompareOp
from eohub.sync import Synchroniser, SyncService
from eohub.sync.scheduler import SyncScheduler
from eohub.sync.views import (
    apply_entity,
    hub_registry,
    prometheus_text,
    rolling_window,
    synchronizer_entity,
    synchronizer_values,
)
from eohub.wiring import Hub

log = logging.getLogger("eohub.api.sync")
_HEADERS = {"DataServiceVersion": "1.0"}
_ATOM_ENTRY = "application/atom+xml;type=entry;charset=utf-8"
_ATOM_FEED = "application/atom+xml;type=feed;charset=utf-8"
_XML = "application/xml;charset=utf-8"
_MAX_BODY = 64 * 1024
_MISSIONS = ("SENTINEL-1", "SENTINEL-2", "SENTINEL-3", "SENTINEL-5P")
router = APIRouter()


def start_scheduler(app: FastAPI) -> None:
    """Run scheduled synchronisers in the background of a serving hub (lifespan start)."""
    try:
        service = sync_service(app)
    except TypeError as exc:  # an account store without SQL keeps no synchronisers
        log.warning("synchronisers are not scheduled: %s", exc)
        return
    scheduler = SyncScheduler(service)
    app.state.sync_scheduler = scheduler
    scheduler.start()


def stop_scheduler(app: FastAPI) -> None:
    """Stop them (lifespan end): runs stop before their next page."""
    scheduler: SyncScheduler | None = getattr(app.state, "sync_scheduler", None)
    if scheduler is not None:
        scheduler.stop()


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={**_HEADERS, **(headers or {})})  # fmt: skip


async def _manager(request: Request) -> User:
    try:
        return await authorize(request, Role.SYSTEM_MANAGER)
    except Forbidden:
        return await authorize(request, Role.DATA_MANAGER)


async def _answer(request: Request, work: Callable[[SyncService], Any]) -> Response:
    """Authorize, run ``work`` in a thread, and turn errors into OData error documents."""
    try:
        await _manager(request)
        service = sync_service(request.app)
        result: Response = await anyio.to_thread.run_sync(work, service)
        return result
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)


def _key(raw: str) -> int:
    text = raw.strip("()").removesuffix("L")
    if not text.isdigit() or len(text) > 18:
        raise InvalidQuery(f"Invalid synchronizer key '{raw[:40]}': an Id is expected")
    return int(text)


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """The entity a request body gives, and whether it came as Atom (XML)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > _MAX_BODY:
            raise InvalidQuery(f"The request body is larger than {_MAX_BODY} bytes")
    content_type = request.headers.get("content-type", "").lower()
    if "xml" in content_type or bytes(raw).lstrip().startswith(b"<"):
        return parse_synchronizer_atom(bytes(raw)), True
    try:
        body = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError:
        raise InvalidQuery("The request body is not JSON (a Synchronizer entity)") from None
    if isinstance(body, dict) and isinstance(body.get("d"), dict):
        body = body["d"]
    if not isinstance(body, dict):
        raise InvalidQuery("The request body is not a JSON object (a Synchronizer entity)")
    return body, False


def _atom_format(request: Request, *, atom_body: bool = False) -> Format | None:
    """Atom or XML when the client asks for it (``$format``, else the first of JSON and XML
    its ``Accept`` names), or sent an Atom body and asks for neither; None for JSON."""
    raw = request.query_params.get("$format")
    if raw is not None:
        fmt = parse_format(raw)
        if fmt not in (Format.ATOM, Format.XML, Format.JSON):
            raise bad_request(f"$format={fmt.value} is not available for Synchronizers")
        return None if fmt is Format.JSON else fmt
    accept = request.headers.get("accept", "").lower()
    json_at, xml_at = accept.find("json"), accept.find("xml")
    if xml_at >= 0 and (json_at < 0 or xml_at < json_at):
        return Format.XML if "atom" not in accept and "application/xml" in accept else Format.ATOM
    return Format.ATOM if atom_body and json_at < 0 else None


def _entity(
    request: Request, sync: Synchroniser, fmt: Format | None, status: int = 200
) -> Response:
    """One synchroniser as JSON (``fmt`` None) or as an Atom entry."""
    headers: dict[str, str] = {}
    prefix, _ = resource_path(request)
    root = service_root(request, prefix)
    if status == 201:
        headers["Location"] = f"{root}/{synchronizer_path(sync.id)}"
    if fmt is None:
        return _json({"d": synchronizer_entity(sync)}, status, headers)
    body = atom.entry_document(synchronizer_atom_entity(synchronizer_values(sync)), root)
    kind = _XML if fmt is Format.XML else _ATOM_ENTRY
    return Response(body, status_code=status, media_type=kind, headers={**_HEADERS, **headers})


def _feed(request: Request, syncs: list[Synchroniser], fmt: Format | None) -> Response:
    """The synchronisers as JSON (``fmt`` None) or as an Atom feed."""
    if fmt is None:
        return _json({"d": {"results": [synchronizer_entity(s) for s in syncs]}})
    prefix, _ = resource_path(request)
    entries = [synchronizer_atom_entity(synchronizer_values(s)) for s in syncs]
    body = atom.feed_document(synchronizer_feed(entries), service_root(request, prefix))
    kind = _XML if fmt is Format.XML else _ATOM_FEED
    return Response(body, media_type=kind, headers=_HEADERS)


async def list_synchronizers(request: Request) -> Response:
    """``GET Synchronizers``."""
    return await _answer(
        request, lambda service: _feed(request, service.list_all(), _atom_format(request))
    )


async def show_synchronizer(request: Request, key: str) -> Response:
    """``GET Synchronizers(<id>)``."""
    return await _answer(
        request,
        lambda service: _entity(request, service.get(_key(key)), _atom_format(request)),
    )


async def create_synchronizer(request: Request) -> Response:
    """``POST Synchronizers``: 201 with the entity."""
    try:
        await _manager(request)
        body, atom_body = await _body(request)
        fmt = _atom_format(request, atom_body=atom_body)
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)

    def work(service: SyncService) -> Response:
        definition, status = apply_entity(None, body)
        added = service.add(definition)
        if status is not None and status is not added.status:
            service.pause(added.id)
        return _entity(request, service.get(added.id), fmt, 201)

    return await _answer(request, work)


async def update_synchronizer(request: Request, key: str) -> Response:
    """``PATCH``/``PUT``/``MERGE Synchronizers(<id>)``: the properties given; 204."""
    try:
        await _manager(request)
        body, _ = await _body(request)
    except HubError as exc:
        extra = challenge_headers(request, exc) if is_access_error(exc) else None
        return error_response(request, as_odata(exc), extra)

    def work(service: SyncService) -> Response:
        sync = service.get(_key(key))
        definition, status = apply_entity(sync.definition, body)
        service.update(sync.id, definition)
        if status is not None:
            (service.resume if status.value == "running" else service.pause)(sync.id)
        return Response(status_code=204, headers=_HEADERS)

    return await _answer(request, work)


async def delete_synchronizer(request: Request, key: str) -> Response:
    """``DELETE Synchronizers(<id>)``: 204 (the products it catalogued stay)."""

    def work(service: SyncService) -> Response:
        service.remove(_key(key))
        return Response(status_code=204, headers=_HEADERS)

    return await _answer(request, work)


for _prefix in PREFIXES:
    _set = f"{_prefix}/odata/v1/Synchronizers"
    router.add_api_route(_set, list_synchronizers, methods=["GET"], include_in_schema=False)
    router.add_api_route(_set, create_synchronizer, methods=["POST"], include_in_schema=False)
    router.add_api_route(f"{_set}{{key}}", show_synchronizer, methods=["GET"],
                         include_in_schema=False)  # fmt: skip
    router.add_api_route(f"{_set}{{key}}", update_synchronizer,
                         methods=["PATCH", "PUT", "MERGE"], include_in_schema=False)  # fmt: skip
    router.add_api_route(f"{_set}{{key}}", delete_synchronizer, methods=["DELETE"],
                         include_in_schema=False)  # fmt: skip


def _missions(hub: Hub) -> list[str]:
    counts = {m: hub.catalogue.count(Query(filter=Compare("collection", CompareOp.EQ, m)))
              for m in _MISSIONS}  # fmt: skip
    return [m for m, count in counts.items() if count]


def _products(hub: Hub) -> int:
    return hub.catalogue.count(Query())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of the catalogue and the synchronisers (no credentials: counts
    and labels only, no URLs; restrict the path at the proxy if even those are private)."""
    hub: Hub = request.app.state.hub
    service = sync_service(request.app)

    def text() -> str:
        return prometheus_text(service.list_all(), _products(hub))

    body = await anyio.to_thread.run_sync(text)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/api/hubs", dependencies=[Depends(requires(Role.SEARCH))])
async def hubs(request: Request) -> Response:
    """This hub and the hubs it mirrors: URL, tier, coverage, status (JSON)."""
    found = await anyio.to_thread.run_sync(registry, request)
    return Response(orjson.dumps(found), media_type="application/json")


def registry(request: Request) -> dict[str, Any]:
    """The hub registry ``/api/hubs`` answers (and the portal's hubs page shows); blocking."""
    hub: Hub = request.app.state.hub
    service = sync_service(request.app)
    public = hub.settings.server.public_url
    url = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    window = rolling_window(hub.evictor.policies()) if hub.evictor is not None else None
    return hub_registry(url, service.list_all(), _missions(hub), _products(hub), window=window)
