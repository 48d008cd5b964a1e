"""The OData v1 ``Synchronizers`` entity set in Atom: entries rendered from property values,
and Atom entry bodies read into property values (DHuS §3.4; its sync scripts send
``<entry><content><m:properties><d:Label>...</d:Label>...`` with ``m:null="true"`` for nulls).

Navigation links (DHuS's ``TargetCollection``) are refused: this hub has no such navigation.
Framework-free and store-free: which properties exist and what they mean is
:mod:`eohub.sync.views`' business; this module only moves them between XML and Python values.
Bodies are parsed without entity expansion, DTD loading or network access, and a document
that declares a DTD is refused (as defusedxml does), so a crafted body cannot expand or fetch
anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from eohub.protocols.dhus.odata_v1.atom import ATOM, RELATED, D, M
from eohub.protocols.dhus.odata_v1.edm import Edm, Entity, EntityTypeDef, Feed, Prop, PropertyDef
from eohub.protocols.dhus.odata_v1.errors import bad_request

_S, _I64, _I32, _B, _DT, _DBL = (Edm.STRING, Edm.INT64, Edm.INT32, Edm.BOOLEAN, Edm.DATETIME,
                                 Edm.DOUBLE)  # fmt: skip
SYNCHRONIZER = EntityTypeDef(
    "Synchronizer",
    "Synchronizers",
    "Id",
    (
        PropertyDef("Id", _I64, nullable=False),
        *(PropertyDef(name, kind) for name, kind in (
            ("Label", _S), ("CreationDate", _DT), ("ServiceUrl", _S), ("ServiceLogin", _S),
            ("ServicePassword", _S), ("Schedule", _S), ("PageSize", _I32),
            ("CopyProduct", _B), ("FilterParam", _S), ("GeoFilter", _S),
            ("SourceCollection", _S), ("LastCreationDate", _DT), ("Request", _S),
            ("Status", _S), ("StatusDate", _DT), ("StatusMessage", _S),
            # eohub's own
            ("Protocol", _S), ("TokenUrl", _S), ("ClientId", _S), ("FilterLanguage", _S),
            ("Sources", _S), ("SourceLogins", _S), ("ValueServing", _S),
            ("Products", _I64), ("Bytes", _I64), ("Deleted", _I64), ("Failures", _I64),
            ("SkippedProducts", _I64), ("MaxFailures", _I32), ("Verify", _S),
            ("FileChecksums", _B),
            ("LagSeconds", _DBL), ("Throughput", _DBL), ("LastSuccess", _DT),
            ("NextRun", _DT), ("CurrentSource", _S), ("SourceRollingWindow", _S),
        )),
    ),
)  # fmt: skip
"""The entity type (an administration set: in ``$metadata``, not in the service document)."""

LIST_PROPERTIES = frozenset({"Sources"})
"""Properties holding a list: comma-separated text in Atom, or ``<d:element>`` items."""


def synchronizer_path(sync_id: int) -> str:
    """``Synchronizers(<id>L)``, the Int64 key literal Olingo writes."""
    return f"Synchronizers({sync_id}L)"


def synchronizer_atom_entity(values: Mapping[str, Any]) -> Entity:
    """One synchroniser as an entity to render, from its property values (``Id`` and
    ``Label`` included; a list as comma-separated text)."""
    props: list[Prop] = []
    for prop in SYNCHRONIZER.properties:
        value = values.get(prop.name)
        if prop.name == "SourceLogins" and isinstance(value, list):
            value = [login["Url"] for login in value]  # the URLs with a login of their own
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value) or None
        props.append(Prop(prop.name, prop.type, value))
    title = str(values.get("Label") or "Synchronizer")
    return Entity(SYNCHRONIZER, synchronizer_path(int(values["Id"])), props, title=title)


def synchronizer_feed(entries: list[Entity]) -> Feed:
    """The ``Synchronizers`` feed."""
    return Feed("Synchronizers", "Synchronizers", entries, type=SYNCHRONIZER)


def _parse(body: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        raise bad_request("The request body is not well-formed XML (an Atom entry)") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise bad_request("The request body declares a DTD: send a plain Atom entry")
    return root


def _value(element: etree._Element) -> object:
    """A property element's value: None for ``m:null="true"``, a list for ``<d:element>``
    items, else its text ("" when empty)."""
    if element.get(f"{{{M}}}null") == "true":
        return None
    children = [c for c in element if isinstance(c.tag, str)]
    name = etree.QName(element).localname
    if not children:
        return element.text or ""
    if name in LIST_PROPERTIES and all(c.tag == f"{{{D}}}element" for c in children):
        return [c.text or "" for c in children]
    raise bad_request(f"{name} must be a simple value")


def parse_synchronizer_atom(body: bytes) -> dict[str, object]:
    """The properties of an Atom ``<entry>`` body (``m:properties`` under ``content``, or
    under the entry itself), by name; 400 for malformed XML or another document."""
    root = _parse(body)
    if root.tag != f"{{{ATOM}}}entry":
        raise bad_request("The request body is not an Atom entry (<entry> in the Atom namespace)")
    for link in root.iter(f"{{{ATOM}}}link"):
        rel = link.get("rel") or ""
        if rel.startswith(RELATED):  # DHuS's TargetCollection: no such navigation here
            raise bad_request(f"The navigation {rel.removeprefix(RELATED)[:60]} cannot be set "
                              "on a synchronizer of this hub")  # fmt: skip
    found = root.find(f"{{{ATOM}}}content/{{{M}}}properties")
    if found is None:
        found = root.find(f"{{{M}}}properties")
    if found is None:
        raise bad_request("The Atom entry has no m:properties")
    values: dict[str, object] = {}
    for element in found:
        if not isinstance(element.tag, str):
            continue  # a comment or a processing instruction
        qname = etree.QName(element)
        if qname.namespace != D:
            raise bad_request(f"Property {qname.localname[:60]} is not in the d: namespace ({D})")
        if qname.localname in values:
            raise bad_request(f"Property {qname.localname[:60]} is given twice")
        values[qname.localname] = _value(element)
    return values
