"""``$metadata`` (EDMX), and the DHuS custom feed formats: CSV and Metalink 4.

CSV follows DHuS's ``CsvFormatter``: one header of property names (complex ones as
``ContentDate:Start``), CRLF line ends, dates ``yyyy-MM-ddTHH:mm:ss.SSS``, ``null`` for
missing values, quoting only where needed. Metalink lists each product's file name, size, MD5
and download URL (DHuS's ``MetalinkFormatter``; Products only).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lxml import etree

from eohub.protocols.dhus.odata_v1.atom import DECLARATION, clean, edm_datetime
from eohub.protocols.dhus.odata_v1.edm import (
    COMPLEX_TYPES,
    CONTAINER,
    ENTITY_TYPES,
    NAMESPACE,
    Entity,
    EntityTypeDef,
    Feed,
    Prop,
)

EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
EDM = "http://schemas.microsoft.com/ado/2008/09/edm"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
METALINK = "urn:ietf:params:xml:ns:metalink"
_EDM_NSMAP: dict[Any, str] = {None: EDM}
_METALINK_NSMAP: dict[Any, str] = {None: METALINK}


# -- $metadata ----------------------------------------------------------------------------------


def _association(type_def: EntityTypeDef, nav_name: str) -> str:
    return f"{type_def.name}_{nav_name}"


def metadata_document(extra: Sequence[EntityTypeDef] = ()) -> bytes:
    """The EDMX description of the model (OData 2, DataServiceVersion 2.0), with the
    ``extra`` entity types (the administration sets, Ingests and Synchronizers)."""
    types = {**ENTITY_TYPES, **{t.name: t for t in extra}}
    edmx = etree.Element(f"{{{EDMX}}}Edmx", nsmap={"edmx": EDMX}, Version="1.0")
    services = etree.SubElement(edmx, f"{{{EDMX}}}DataServices", nsmap={"m": M})
    services.set(f"{{{M}}}DataServiceVersion", "2.0")
    schema = etree.SubElement(services, f"{{{EDM}}}Schema", nsmap=_EDM_NSMAP,
                              Namespace=NAMESPACE)  # fmt: skip
    for type_def in types.values():
        entity = etree.SubElement(schema, f"{{{EDM}}}EntityType", Name=type_def.name)
        if type_def.has_stream:
            entity.set(f"{{{M}}}HasStream", "true")
        key = etree.SubElement(entity, f"{{{EDM}}}Key")
        etree.SubElement(key, f"{{{EDM}}}PropertyRef", Name=type_def.key)
        for prop in type_def.properties:
            etree.SubElement(entity, f"{{{EDM}}}Property", Name=prop.name, Type=str(prop.type),
                             Nullable="true" if prop.nullable else "false")  # fmt: skip
        for nav in type_def.navigations:
            name = _association(type_def, nav.name)
            etree.SubElement(entity, f"{{{EDM}}}NavigationProperty", Name=nav.name,
                             Relationship=f"{NAMESPACE}.{name}", FromRole=f"{name}_Source",
                             ToRole=f"{name}_Target")  # fmt: skip
    for complex_type, members in COMPLEX_TYPES.items():
        element = etree.SubElement(schema, f"{{{EDM}}}ComplexType",
                                   Name=str(complex_type).split(".", 1)[1])  # fmt: skip
        for prop in members:
            etree.SubElement(element, f"{{{EDM}}}Property", Name=prop.name, Type=str(prop.type))
    for type_def in types.values():
        for nav in type_def.navigations:
            name = _association(type_def, nav.name)
            assoc = etree.SubElement(schema, f"{{{EDM}}}Association", Name=name)
            etree.SubElement(assoc, f"{{{EDM}}}End", Type=f"{NAMESPACE}.{type_def.name}",
                             Multiplicity="*" if not nav.many else "0..1",
                             Role=f"{name}_Source")  # fmt: skip
            etree.SubElement(assoc, f"{{{EDM}}}End", Type=f"{NAMESPACE}.{nav.target}",
                             Multiplicity="*" if nav.many else "0..1",
                             Role=f"{name}_Target")  # fmt: skip
    container = etree.SubElement(schema, f"{{{EDM}}}EntityContainer", Name=CONTAINER)
    container.set(f"{{{M}}}IsDefaultEntityContainer", "true")
    for type_def in types.values():
        etree.SubElement(container, f"{{{EDM}}}EntitySet", Name=type_def.entity_set,
                         EntityType=f"{NAMESPACE}.{type_def.name}")  # fmt: skip
    for type_def in types.values():
        for nav in type_def.navigations:
            name = _association(type_def, nav.name)
            target = types[nav.target]
            assoc_set = etree.SubElement(container, f"{{{EDM}}}AssociationSet", Name=name,
                                         Association=f"{NAMESPACE}.{name}")  # fmt: skip
            etree.SubElement(assoc_set, f"{{{EDM}}}End", EntitySet=type_def.entity_set,
                             Role=f"{name}_Source")  # fmt: skip
            etree.SubElement(assoc_set, f"{{{EDM}}}End", EntitySet=target.entity_set,
                             Role=f"{name}_Target")  # fmt: skip
    return DECLARATION + etree.tostring(edmx, encoding="utf-8")


# -- CSV ----------------------------------------------------------------------------------------


def _csv_text(prop: Prop) -> str:
    value = prop.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return edm_datetime(value)
    return str(value)


def _columns(entity: Entity, select: tuple[str, ...]) -> list[tuple[str, str | None]]:
    wanted = [s for s in select if s != "*"] if select and "*" not in select else None
    names = wanted or [p.name for p in entity.type.properties]
    columns: list[tuple[str, str | None]] = []
    for name in names:
        prop_def = entity.type.property(name)
        if prop_def is None:
            continue
        members = COMPLEX_TYPES.get(prop_def.type)
        if members:
            columns += [(name, m.name) for m in members]
        else:
            columns.append((name, None))
    return columns


def csv_document(feed: Feed, select: tuple[str, ...] = ()) -> bytes:
    """The feed as CSV (header line, then one line per entity)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if not feed.entries:
        return b""
    columns = _columns(feed.entries[0], select)
    writer.writerow([name if member is None else f"{name}:{member}" for name, member in columns])
    for entity in feed.entries:
        row: list[str] = []
        for name, member in columns:
            prop = entity.get(name)
            if prop is not None and member is not None:
                prop = next((m for m in prop.value or () if m.name == member), None)  # type: ignore[attr-defined]
            row.append("null" if prop is None else _csv_text(prop))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


# -- Metalink -----------------------------------------------------------------------------------


def metalink_document(files: list[tuple[str, int, str | None, str]]) -> bytes:
    """Metalink 4 for ``(file name, size, md5, url)`` items."""
    root = etree.Element(f"{{{METALINK}}}metalink", nsmap=_METALINK_NSMAP)
    for name, size, md5, url in files:
        element = etree.SubElement(root, f"{{{METALINK}}}file", name=clean(name))
        if md5:
            etree.SubElement(element, f"{{{METALINK}}}hash", type="md5").text = md5.lower()
        etree.SubElement(element, f"{{{METALINK}}}size").text = str(size)
        etree.SubElement(element, f"{{{METALINK}}}url").text = url
    return DECLARATION + etree.tostring(root, encoding="utf-8")
