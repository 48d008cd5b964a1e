"""CDSE catalogue subscriptions under ``/catalogue/odata/v1/Subscriptions`` (docs/subscriptions.md).

``POST Subscriptions`` (201), ``GET Subscriptions/Info``, ``GET|PATCH|DELETE
Subscriptions(<id>)``, ``GET Subscriptions(<id>)/Read?$top=N`` and ``POST
Subscriptions(<id>)/Ack?$ackid=N``, served by :class:`eohub.subscriptions.Subscriptions`.
Errors carry CDSE's bodies: 422 pydantic lists for invalid bodies, filters and options;
``{"detail": {"message", "request_id"}}`` otherwise (404 for an unknown or cancelled Id). Every
call needs an authenticated user with the SEARCH role: a subscription belongs to its owner.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eohub.api.auth import authorize, challenge_headers, is_access_error
from eohub.api.errors import status_of
from eohub.errors import HubError, InvalidQuery, NotFound, Unauthenticated
from eohub.model.change import ChangeEvent
from eohub.model.user import ANONYMOUS, Role
from eohub.protocols.csc.errors import OptionError, message_detail, validation_detail
from eohub.subscriptions import (
    NewSubscription,
    SubscriptionChanges,
    Subscriptions,
    SubscriptionStatus,
    render,
)
from eohub.wiring import Hub, s3_paths

log = logging.getLogger("eohub.api.subscriptions")

SERVICE = "/catalogue/odata/v1"
BASE = f"{SERVICE}/Subscriptions"
router = APIRouter()
T = TypeVar("T")


class _Invalid(Exception):
    """A request that fails validation, with pydantic's ``detail`` list."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__("invalid request")
        self.detail = detail


class _Create(BaseModel):
    """The body of ``POST Subscriptions`` (``StageOrder`` and ``Priority`` are accepted and
    ignored, as their values are fixed)."""

    model_config = ConfigDict(extra="ignore")

    FilterParam: str = Field(min_length=1)
    SubscriptionEvent: list[ChangeEvent] | ChangeEvent = [ChangeEvent.CREATED]
    Status: SubscriptionStatus = SubscriptionStatus.RUNNING
    StageOrder: bool | None = None
    Priority: int | None = None
    NotificationEndpoint: str | None = Field(default=None, max_length=2000)
    NotificationEpUsername: str | None = Field(default=None, max_length=500)
    NotificationEpPassword: str | None = Field(default=None, max_length=500)


class _Patch(BaseModel):
    """The body of ``PATCH Subscriptions(<id>)``: the status and the push endpoint."""

    model_config = ConfigDict(extra="ignore")

    Status: SubscriptionStatus | None = None
    NotificationEndpoint: str | None = Field(default=None, max_length=2000)
    NotificationEpUsername: str | None = Field(default=None, max_length=500)
    NotificationEpPassword: str | None = Field(default=None, max_length=500)


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _service(request: Request) -> Subscriptions:
    return _hub(request).subscriptions


def service_root(request: Request) -> str:
    """The absolute URL of the OData service (the public URL when configured)."""
    public = _hub(request).settings.server.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}{SERVICE}"


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


async def _owner(request: Request) -> str:
    user = await authorize(request, Role.SEARCH)
    if user is ANONYMOUS:  # anonymous search may be allowed; a subscription needs an owner
        raise Unauthenticated("Full authentication is required to access this resource")
    return user.username


def _plain(value: Any) -> Any:
    """A JSON-safe copy of pydantic's ``ctx`` values (some are exceptions)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _pydantic(exc: ValidationError) -> list[dict[str, Any]]:
    detail = []
    for error in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": ["body", *error["loc"]],
            "msg": error["msg"],
            "input": _plain(error.get("input")),
        }
        if "ctx" in error:
            item["ctx"] = _plain(error["ctx"])
        detail.append(item)
    return detail


def _value_error(where: str, name: str, message: str, value: object) -> _Invalid:
    return _Invalid(
        [
            {
                "type": "value_error",
                "loc": [where, name],
                "msg": f"Value error, {message}",
                "input": _plain(value),
                "ctx": {"error": message},
            }
        ]
    )


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise _Invalid(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", 0],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": "the body is not valid JSON"},
                }
            ]  # fmt: skip
        ) from None
    if not isinstance(data, dict):
        raise _Invalid(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": _plain(data),
                }
            ]  # fmt: skip
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _Invalid(_pydantic(exc)) from None


def _sub_id(text: str) -> uuid.UUID:
    key = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    try:
        return uuid.UUID(key)
    except ValueError:
        raise NotFound(f"Subscription with id {key} not found.") from None


def _int_param(request: Request, name: str, default: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise OptionError(name, "missing", "Field required", None)
        return default
    try:
        return int(raw.strip())
    except ValueError:
        message = "Input should be a valid integer, unable to parse string as an integer"
        raise OptionError(name, "int_parsing", message, raw) from None


def _error(request: Request, error: Exception) -> Response:
    """CDSE's error bodies; never a 500 for a request the client got wrong."""
    if isinstance(error, _Invalid):
        return JSONResponse({"detail": error.detail}, status_code=422)
    if isinstance(error, OptionError):  # pydantic's shape, built where the CDSE API builds it
        detail = validation_detail(error, dict(request.query_params))
        return JSONResponse({"detail": detail}, status_code=422)
    assert isinstance(error, HubError)
    if isinstance(error, InvalidQuery):
        field = error.field or "FilterParam"
        where = "query" if field.startswith("$") and request.method == "GET" else "body"
        if field in ("$top", "$ackid"):
            where = "query"
        elif field == "$filter":
            field = "FilterParam"
        value = request.query_params.get(field) if where == "query" else None
        return JSONResponse(
            {"detail": _value_error(where, field, error.user_message, value).detail},
            status_code=422,
        )
    headers = challenge_headers(request, error) if is_access_error(error) else {}
    headers.pop("cause-message", None)
    status = status_of(error)
    if status >= 500:
        log.error("subscription request %s failed: %s", request.url.path, error.detail)
        status = 503
    return JSONResponse(message_detail(error.user_message), status_code=status, headers=headers)


def _entity(sub: Any) -> dict[str, Any]:
    return {"@odata.context": render.SUBSCRIPTION_CONTEXT, **render.subscription_entity(sub)}


# -- handlers ------------------------------------------------------------------------------------
async def _create(request: Request) -> Response:
    try:
        owner = await _owner(request)
        body: _Create = await _body(request, _Create)
        events = body.SubscriptionEvent
        new = NewSubscription(
            filter_param=body.FilterParam,
            events=tuple(events) if isinstance(events, list) else (events,),
            status=body.Status,
            endpoint=body.NotificationEndpoint or None,
            endpoint_username=body.NotificationEpUsername or None,
            endpoint_password=body.NotificationEpPassword or None,
        )
        sub = await _run(_service(request).create, owner, new)
        return JSONResponse(_entity(sub), status_code=201)
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _info(request: Request) -> Response:
    try:
        owner = await _owner(request)
        subs = await _run(_service(request).owned, owner)
        return JSONResponse([render.subscription_entity(s) for s in subs])
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _one(request: Request) -> Response:
    try:
        owner = await _owner(request)
        sub_id = _sub_id(request.path_params["key"])
        return JSONResponse(_entity(await _run(_service(request).get, owner, sub_id)))
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _patch(request: Request) -> Response:
    try:
        owner = await _owner(request)
        sub_id = _sub_id(request.path_params["key"])
        body: _Patch = await _body(request, _Patch)
        given = body.model_fields_set
        changes = SubscriptionChanges(
            status=body.Status,
            endpoint=body.NotificationEndpoint or None,
            endpoint_username=body.NotificationEpUsername or None,
            endpoint_password=body.NotificationEpPassword or None,
            clear_endpoint="NotificationEndpoint" in given and not body.NotificationEndpoint,
        )
        sub = await _run(_service(request).update, owner, sub_id, changes)
        return JSONResponse(_entity(sub))
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _delete(request: Request) -> Response:
    try:
        owner = await _owner(request)
        await _run(_service(request).delete, owner, _sub_id(request.path_params["key"]))
        return Response(status_code=204)
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _read(request: Request) -> Response:
    try:
        owner = await _owner(request)
        sub_id = _sub_id(request.path_params["key"])
        service = _service(request)
        top = _int_param(request, "$top", 1)
        if not 1 <= top <= service.limits.max_top:
            raise _value_error(
                "query", "$top", f"$top must be between 1 and {service.limits.max_top}", top
            )
        notes = await _run(service.read, owner, sub_id, top)
        root = service_root(request)
        s3 = s3_paths(_hub(request).settings)
        return JSONResponse([render.notification(n, sub_id, root, s3) for n in notes])
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


async def _ack(request: Request) -> Response:
    try:
        owner = await _owner(request)
        sub_id = _sub_id(request.path_params["key"])
        ack_id = _int_param(request, "$ackid", None)
        result = await _run(_service(request).ack, owner, sub_id, ack_id)
        return JSONResponse(
            {
                "AckMessagesNum": result.acknowledged,
                "CurrentQueueLength": result.queue_length,
                "MaxQueueLength": None,  # no cap: the queue is the change feed itself
            }
        )
    except (HubError, _Invalid) as exc:
        return _error(request, exc)


router.add_api_route(BASE, _create, methods=["POST"], include_in_schema=False)
router.add_api_route(f"{BASE}/Info", _info, methods=["GET"], include_in_schema=False)
router.add_api_route(f"{BASE}({{key}})", _one, methods=["GET"], include_in_schema=False)
router.add_api_route(f"{BASE}({{key}})", _patch, methods=["PATCH"], include_in_schema=False)
router.add_api_route(f"{BASE}({{key}})", _delete, methods=["DELETE"], include_in_schema=False)
router.add_api_route(f"{BASE}({{key}})/Read", _read, methods=["GET"], include_in_schema=False)
router.add_api_route(f"{BASE}({{key}})/Ack", _ack, methods=["POST"], include_in_schema=False)
