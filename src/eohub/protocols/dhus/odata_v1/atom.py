"""Atom and plain XML renderings (OData 2 / Olingo 2 layout), error documents and properties.

Every document is written on one line after its XML declaration: dhusget cuts the checksum
out of ``Checksum/Value`` with ``awk`` on a single line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from eohub.protocols.dhus.odata_v1.edm import (
    NAMESPACE,
    Edm,
    Entity,
    Feed,
    Prop,
)

ATOM = "http://www.w3.org/2005/Atom"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
APP = "http://www.w3.org/2007/app"
SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"
_NSMAP: dict[Any, str] = {None: ATOM, "m": M, "d": D}
_APP_NSMAP: dict[Any, str] = {None: APP, "atom": ATOM}
_ERROR_NSMAP: dict[Any, str] = {None: M}
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _INVALID_XML.sub("\ufffd", text)


def edm_datetime(value: datetime) -> str:
    """``2023-03-09T20:45:58.338`` (UTC, milliseconds), Olingo's Edm.DateTime text."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def text_value(prop: Prop) -> str | None:
    """A primitive property value as XML text (None for null)."""
    value = prop.value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return edm_datetime(value)
    return clean(str(value))


def _property(parent: etree._Element, prop: Prop) -> None:
    element = etree.SubElement(parent, f"{{{D}}}{prop.name}")
    if prop.type not in (Edm.STRING,):
        element.set(f"{{{M}}}type", str(prop.type))
    if prop.value is None:
        element.set(f"{{{M}}}null", "true")
    elif prop.type in (Edm.TIME_RANGE, Edm.CHECKSUM):
        for member in prop.value:  # type: ignore[attr-defined]
            _property(element, member)
    else:
        element.text = text_value(prop)


def _properties(parent: etree._Element, entity: Entity, select: tuple[str, ...]) -> None:
    props = etree.SubElement(parent, f"{{{M}}}properties")
    wanted = set(select) if select and "*" not in select else None
    for prop in entity.props:
        if wanted is None or prop.name in wanted:
            _property(props, prop)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def _updated(entity: Entity) -> str:
    for name in ("ModificationDate", "CreationDate"):
        prop = entity.get(name)
        if prop is not None and isinstance(prop.value, datetime):
            return edm_datetime(prop.value) + "Z"
    return _now()


def _head(
    parent: etree._Element | None, tag: str, root: str, path: str, title: str, updated: str
) -> etree._Element:
    """An Atom entry or feed with its id, title, updated and author: a document root (with
    xml:base) when ``parent`` is None, else a child of ``parent``."""
    if parent is None:
        element = etree.Element(f"{{{ATOM}}}{tag}", nsmap=_NSMAP)
        element.set(f"{{{XML_NS}}}base", f"{root}/")
    else:
        element = etree.SubElement(parent, f"{{{ATOM}}}{tag}")
    etree.SubElement(element, f"{{{ATOM}}}id").text = f"{root}/{path}"
    etree.SubElement(element, f"{{{ATOM}}}title", type="text").text = clean(title)
    etree.SubElement(element, f"{{{ATOM}}}updated").text = updated
    author = etree.SubElement(element, f"{{{ATOM}}}author")
    etree.SubElement(author, f"{{{ATOM}}}name")
    return element


def _entry(
    parent: etree._Element | None, entity: Entity, root: str, select: tuple[str, ...] = ()
) -> etree._Element:
    entry = _head(parent, "entry", root, entity.path, entity.title, _updated(entity))
    etree.SubElement(
        entry, f"{{{ATOM}}}category", term=f"{NAMESPACE}.{entity.type.name}", scheme=SCHEME
    )
    etree.SubElement(entry, f"{{{ATOM}}}link", href=entity.path, rel="edit",
                     title=entity.type.name)  # fmt: skip
    media = entity.media_type or "application/octet-stream"
    if entity.type.has_stream:
        etree.SubElement(entry, f"{{{ATOM}}}link", href=f"{entity.path}/$value",
                         rel="edit-media", type=media)  # fmt: skip
    wanted = set(select) if select and "*" not in select else None
    for nav in entity.type.navigations:
        if wanted is not None and nav.name not in wanted and nav.name not in entity.expanded:
            continue
        kind = "feed" if nav.many else "entry"
        link = etree.SubElement(
            entry,
            f"{{{ATOM}}}link",
            href=f"{entity.path}/{nav.name}",
            rel=RELATED + nav.name,
            title=nav.name,
            type=f"application/atom+xml;type={kind}",
        )
        if nav.name in entity.expanded:
            inline = etree.SubElement(link, f"{{{M}}}inline")
            content = entity.expanded[nav.name]
            if isinstance(content, Feed):
                _feed(inline, content, root)
            elif isinstance(content, Entity):
                _entry(inline, content, root)
    if entity.type.has_stream:
        etree.SubElement(entry, f"{{{ATOM}}}content", type=media, src=f"{entity.path}/$value")
        _properties(entry, entity, select)
    else:
        content_el = etree.SubElement(entry, f"{{{ATOM}}}content", type="application/xml")
        _properties(content_el, entity, select)
    return entry


def _feed(
    parent: etree._Element | None, feed: Feed, root: str, select: tuple[str, ...] = ()
) -> etree._Element:
    element = _head(parent, "feed", root, feed.path, feed.title, _now())
    etree.SubElement(element, f"{{{ATOM}}}link", href=feed.path, rel="self", title=feed.title)
    if feed.count is not None:
        etree.SubElement(element, f"{{{M}}}count").text = str(feed.count)
    for entity in feed.entries:
        _entry(element, entity, root, select)
    return element


def _serialise(element: etree._Element) -> bytes:
    return DECLARATION + etree.tostring(element, encoding="utf-8")


def entry_document(entity: Entity, root: str, select: tuple[str, ...] = ()) -> bytes:
    """A single ``<entry>`` document."""
    return _serialise(_entry(None, entity, root, select))


def feed_document(feed: Feed, root: str, select: tuple[str, ...] = ()) -> bytes:
    """A ``<feed>`` document."""
    return _serialise(_feed(None, feed, root, select))


def property_document(prop: Prop) -> bytes:
    """``<d:Name xmlns:d=... xmlns:m=...>value</d:Name>`` for one property."""
    element = etree.Element(f"{{{D}}}{prop.name}", nsmap={"d": D, "m": M})
    if prop.type is not Edm.STRING:
        element.set(f"{{{M}}}type", str(prop.type))
    if prop.value is None:
        element.set(f"{{{M}}}null", "true")
    elif prop.type in (Edm.TIME_RANGE, Edm.CHECKSUM):
        for member in prop.value:  # type: ignore[attr-defined]
            _property(element, member)
    else:
        element.text = text_value(prop)
    return _serialise(element)


def service_document(root: str, entity_sets: list[str]) -> bytes:
    """The Atom service document listing the entity sets."""
    service = etree.Element(f"{{{APP}}}service", nsmap=_APP_NSMAP)
    service.set(f"{{{XML_NS}}}base", f"{root}/")
    workspace = etree.SubElement(service, f"{{{APP}}}workspace")
    etree.SubElement(workspace, f"{{{ATOM}}}title").text = "Default"
    for name in entity_sets:
        collection = etree.SubElement(workspace, f"{{{APP}}}collection", href=name)
        etree.SubElement(collection, f"{{{ATOM}}}title").text = name
    return _serialise(service)


def error_document(message: str) -> bytes:
    """``<error xmlns="...metadata"><code/><message xml:lang="en">...</message></error>``."""
    error = etree.Element(f"{{{M}}}error", nsmap=_ERROR_NSMAP)
    etree.SubElement(error, f"{{{M}}}code")
    text = etree.SubElement(error, f"{{{M}}}message")
    text.set(f"{{{XML_NS}}}lang", "en")
    text.text = clean(message)
    return b"<?xml version='1.0' encoding='UTF-8'?>" + etree.tostring(error, encoding="utf-8")
