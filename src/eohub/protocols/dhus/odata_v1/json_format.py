"""OData 2 "verbose" JSON, as DHuS writes it: ``{"d": ...}``, ``/Date(ms)/``, Int64 as strings.

Dates are written ``"\\/Date(1538374607668)\\/"`` exactly as Olingo escapes them (the same
string once parsed). Every entity carries ``__metadata`` (id, uri, type and, for media
entities, content_type, media_src and edit_media); navigations not expanded are deferred links.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from eohub.protocols.dhus.odata_v1.edm import (
    NAMESPACE,
    Edm,
    Entity,
    Feed,
    Prop,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(rb'"/Date\((-?\d+)\)/"')


def date_ms(value: datetime) -> int:
    """Milliseconds since the epoch (UTC)."""
    return (value.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def json_value(prop: Prop) -> Any:
    """A property value in verbose JSON."""
    value = prop.value
    if value is None:
        return None
    if prop.type in (Edm.TIME_RANGE, Edm.CHECKSUM):
        members: dict[str, Any] = {"__metadata": {"type": str(prop.type)}}
        for member in value:  # type: ignore[attr-defined]
            members[member.name] = json_value(member)
        return members
    if prop.type is Edm.DATETIME:
        assert isinstance(value, datetime)
        return f"/Date({date_ms(value)})/"
    if prop.type is Edm.INT64:
        return str(value)
    return value


def entity_json(entity: Entity, root: str, select: tuple[str, ...] = ()) -> dict[str, Any]:
    """One entity as a JSON object (without the ``d`` wrapper)."""
    uri = f"{root}/{entity.path}"
    meta: dict[str, Any] = {"id": uri, "uri": uri, "type": f"{NAMESPACE}.{entity.type.name}"}
    if entity.type.has_stream:
        meta["content_type"] = entity.media_type or "application/octet-stream"
        meta["media_src"] = f"{uri}/$value"
        meta["edit_media"] = f"{uri}/$value"
    out: dict[str, Any] = {"__metadata": meta}
    wanted = set(select) if select and "*" not in select else None
    for prop in entity.props:
        if wanted is None or prop.name in wanted:
            out[prop.name] = json_value(prop)
    for nav in entity.type.navigations:
        if wanted is not None and nav.name not in wanted and nav.name not in entity.expanded:
            continue
        if nav.name in entity.expanded:
            content = entity.expanded[nav.name]
            if isinstance(content, Feed):
                out[nav.name] = {"results": [entity_json(e, root) for e in content.entries]}
            elif isinstance(content, Entity):
                out[nav.name] = entity_json(content, root)
            else:
                out[nav.name] = None
        else:
            out[nav.name] = {"__deferred": {"uri": f"{uri}/{nav.name}"}}
    return out


def dumps(document: Any) -> bytes:
    """Serialise with Olingo's ``\\/Date(...)\\/`` escaping."""
    return _DATE.sub(rb'"\\/Date(\1)\\/"', orjson.dumps(document))


def entry_document(entity: Entity, root: str, select: tuple[str, ...] = ()) -> bytes:
    """``{"d": {...entity...}}``."""
    return dumps({"d": entity_json(entity, root, select)})


def feed_document(feed: Feed, root: str, select: tuple[str, ...] = ()) -> bytes:
    """``{"d": {"__count": "N"?, "results": [...]}}``."""
    body: dict[str, Any] = {}
    if feed.count is not None:
        body["__count"] = str(feed.count)
    body["results"] = [entity_json(e, root, select) for e in feed.entries]
    return dumps({"d": body})


def property_document(prop: Prop) -> bytes:
    """``{"d": {"Name": value}}`` for a single property."""
    return dumps({"d": {prop.name: json_value(prop)}})


def service_document(entity_sets: list[str]) -> bytes:
    """``{"d": {"EntitySets": [...]}}``."""
    return dumps({"d": {"EntitySets": entity_sets}})


def error_document(message: str) -> bytes:
    """``{"error": {"code": null, "message": {"lang": "en", "value": ...}}}``."""
    return orjson.dumps({"error": {"code": None, "message": {"lang": "en", "value": message}}})
