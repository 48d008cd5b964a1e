"""The OData v1 ``Ingests`` entity set: uploads ingested in two steps (DHuS §2.9).

``POST Ingests`` with the raw product as body creates a PENDING ingest carrying the ``MD5``
of the body; ``PUT Ingests(<id>)`` with ``Filename`` and ``TargetCollections`` starts the
ingestion. This module is the framework-free part: the entity type, the rendering of one
ingest as an :class:`~eohub.protocols.dhus.odata_v1.edm.Entity`, and the parsing of keys and
of the PUT body (verbose JSON, plain JSON or an Atom entry).

As in DHuS, ``TargetCollections`` is a navigation to Collections (rendered inline); unlike
DHuS, ``Uploader`` is the uploader's user name as a string property (eohub has no Users set).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import orjson
from lxml import etree

from eohub.protocols.dhus.odata_v1.edm import (
    COLLECTION,
    Edm,
    Entity,
    EntityTypeDef,
    Feed,
    NavigationDef,
    Prop,
    PropertyDef,
    quote_key,
)
from eohub.protocols.dhus.odata_v1.errors import bad_request, invalid_key

INGEST = EntityTypeDef(
    "Ingest",
    "Ingests",
    "Id",
    (
        PropertyDef("Id", Edm.INT64, nullable=False),
        PropertyDef("Status", Edm.STRING),
        PropertyDef("StatusDate", Edm.DATETIME),
        PropertyDef("StatusMessage", Edm.STRING),
        PropertyDef("Filename", Edm.STRING),
        PropertyDef("MD5", Edm.STRING),
        PropertyDef("Uploader", Edm.STRING),
    ),
    (NavigationDef("TargetCollections", "Collection", many=True),),
)

MAX_BODY = 1 << 20
"""Largest PUT body read (a file name and a few collection names)."""

_KEY = re.compile(r"^\(\s*(?:Id\s*=\s*)?(\d{1,18})L?\s*\)$")
_COLLECTION_HREF = re.compile(r"Collections\('((?:[^']|'')*)'\)")
_D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
_ATOM = "http://www.w3.org/2005/Atom"


class IngestView(Protocol):
    """What is rendered of one ingest (``eohub.ingest.upload_registry.IngestRecord``)."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def status_date(self) -> datetime: ...
    @property
    def status_message(self) -> str | None: ...
    @property
    def filename(self) -> str | None: ...
    @property
    def md5(self) -> str: ...
    @property
    def uploader(self) -> str: ...
    @property
    def target_collections(self) -> tuple[str, ...]: ...


def ingest_path(ingest_id: int) -> str:
    """``Ingests(<id>L)``, the Int64 key literal Olingo writes."""
    return f"Ingests({ingest_id}L)"


def ingest_entity(ingest: IngestView) -> Entity:
    """One ingest as an entity, its target collections inline."""
    path = ingest_path(ingest.id)
    collections = [_collection(name) for name in ingest.target_collections]
    props = [
        Prop("Id", Edm.INT64, ingest.id),
        Prop("Status", Edm.STRING, str(ingest.status)),
        Prop("StatusDate", Edm.DATETIME, ingest.status_date),
        Prop("StatusMessage", Edm.STRING, ingest.status_message),
        Prop("Filename", Edm.STRING, ingest.filename),
        Prop("MD5", Edm.STRING, ingest.md5),
        Prop("Uploader", Edm.STRING, ingest.uploader),
    ]
    feed = Feed(f"{path}/TargetCollections", "Collections", collections, type=COLLECTION)
    return Entity(INGEST, path, props, title=str(ingest.id), expanded={"TargetCollections": feed})


def _collection(name: str) -> Entity:
    props = [
        Prop("Name", Edm.STRING, name),
        Prop("Description", Edm.STRING, None),
        Prop("UUID", Edm.STRING, None),
    ]
    return Entity(COLLECTION, f"Collections({quote_key(name)})", props, title=name)


def ingest_feed(ingests: Sequence[IngestView], count: int | None = None) -> Feed:
    """A feed of ingests."""
    return Feed("Ingests", "Ingests", [ingest_entity(i) for i in ingests], count, type=INGEST)


def parse_ingest_key(text: str) -> int:
    """The id of a key predicate: ``(5)``, ``(5L)`` or ``(Id=5L)``; 404 otherwise."""
    match = _KEY.match(urllib.parse.unquote(text))
    if match is None:
        raise invalid_key(text[:80], "Ingests")
    return int(match.group(1))


def parse_ingest_update(body: bytes, content_type: str) -> tuple[str, tuple[str, ...]]:
    """(Filename, TargetCollections) of a PUT body: JSON (``{"d": {...}}`` or plain) or Atom."""
    if not body.strip():
        raise bad_request("The request body is empty: send Filename and TargetCollections")
    if "xml" in content_type.lower() or body.lstrip().startswith(b"<"):
        filename, collections = _from_atom(body)
    else:
        filename, collections = _from_json(body)
    if not filename:
        raise bad_request("Filename is missing from the request body")
    return filename, collections


def _from_json(body: bytes) -> tuple[str | None, tuple[str, ...]]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON") from None
    if isinstance(document, dict) and isinstance(document.get("d"), dict):
        document = document["d"]
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object")
    filename = document.get("Filename")
    if filename is not None and not isinstance(filename, str):
        raise bad_request("Filename must be a string")
    return filename, _collection_names(document.get("TargetCollections"))


def _collection_names(value: object) -> tuple[str, ...]:
    """Names from ``["a"]``, ``[{"Name": "a"}]``, ``{"results": [...]}`` or ``"a,b"``."""
    if value is None:
        return ()
    if isinstance(value, dict) and "results" in value:
        value = value["results"]
    if isinstance(value, str):
        return tuple(n.strip() for n in value.split(",") if n.strip())
    if not isinstance(value, list):
        raise bad_request("TargetCollections must be a list of collection names")
    names: list[str] = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("Name") or _href_name(item.get("uri") or item.get("__metadata"))
        if not isinstance(item, str) or not item:
            raise bad_request("TargetCollections must be a list of collection names")
        names.append(item)
    return tuple(names)


def _href_name(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("uri")
    if not isinstance(value, str):
        return None
    match = _COLLECTION_HREF.search(urllib.parse.unquote(value))
    return match.group(1).replace("''", "'") if match else None


def _from_atom(body: bytes) -> tuple[str | None, tuple[str, ...]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        raise bad_request("The request body is not well-formed XML") from None
    filename = root.findtext(f".//{{{_D}}}Filename")
    names: list[str] = []
    for link in root.iter(f"{{{_ATOM}}}link"):
        if link.get("title") == "TargetCollections" or (link.get("rel") or "").endswith(
            "/TargetCollections"
        ):
            name = _href_name(link.get("href"))
            if name:
                names.append(name)
    return filename, tuple(names)
