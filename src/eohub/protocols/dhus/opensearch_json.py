"""DHuS OpenSearch JSON: the Atom feed as DHuS's StAXON conversion writes it.

Quirks kept (clients such as sentinelsat expect them): every scalar is a string; an element
that appears once is an object, several times a list, never an empty list (no ``entry`` key
without results, ``"double": {...}`` for a single double); attributes are plain keys and text
next to attributes goes under ``content``; namespace declarations are ordinary keys.

The catalogue keeps each product's entry rendered (``ENTRY_DOCUMENT``), so a 100-entry page is
read and joined, not rendered (about 40 us an entry, 4-5 ms a page at 100 rows). The stored
entry holds ``BASE_MARK`` where the hub's URL goes (see ``eohub.model.documents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from eohub.model.documents import BASE_MARK, DocumentKind, with_base
from eohub.model.product import Product
from eohub.protocols.dhus.entry import Entry, build_entries
from eohub.protocols.dhus.opensearch import ATOM_NS, OPENSEARCH_NS, Feed


def _auto(items: Sequence[Any]) -> Any:
    """StAXON autoArray: one item alone, several as a list."""
    return items[0] if len(items) == 1 else list(items)


def _entry(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": entry.title,
        "link": [
            {"href": href} if rel is None else {"rel": rel, "href": href}
            for rel, href in entry.links
        ],  # fmt: skip
        "id": entry.id,
        "summary": entry.summary,
        "ondemand": entry.ondemand,
    }
    for group, items in entry.groups:
        if items:
            out[group] = _auto([{"name": name, "content": value} for name, value in items])
    return out


def _namespaces() -> dict[str, Any]:
    return {"xmlns:opensearch": OPENSEARCH_NS, "xmlns": ATOM_NS}


def feed_document(feed: Feed) -> dict[str, Any]:
    """The JSON document of a feed (plain data)."""
    body = _namespaces()
    body.update(
        {
            "title": feed.title,
            "subtitle": feed.subtitle,
            "updated": feed.updated,
            "author": {"name": feed.author},
            "id": feed.id,
            "opensearch:totalResults": str(feed.total),
            "opensearch:startIndex": str(feed.start),
            "opensearch:itemsPerPage": str(feed.rows),
            "opensearch:Query": {
                "role": "request",
                "searchTerms": feed.search_terms,
                "startPage": "1",
            },
            "link": _auto([{"rel": r, "type": t, "href": h} for r, t, h in feed.links]),
        }
    )
    if feed.entries:
        body["entry"] = _auto([_entry(e) for e in feed.entries])
    return {"feed": body}


def render_feed(feed: Feed) -> bytes:
    """The JSON body of a feed."""
    return orjson.dumps(feed_document(feed))


def entry_document(product: Product) -> bytes:
    """The stored JSON entry of a product, with ``BASE_MARK`` for the hub's URL."""
    return orjson.dumps(_entry(build_entries([product], BASE_MARK)[0]))


# Bump when ``_entry`` or the entry's content changes: older stored entries are then rendered
# afresh when read (see eohub.model.documents).
ENTRY_DOCUMENT = DocumentKind("dhus_json_entry", 1, entry_document, on_write=False)


def render_feed_of_entries(feed: Feed, entries: Sequence[bytes], base: str) -> bytes:
    """The JSON body of ``feed`` (its own entries ignored) with the stored ``entries``,
    their links put under ``base``; the same bytes as :func:`render_feed` would give."""
    body = feed_document(feed)
    if len(entries) == 1:
        body["feed"]["entry"] = orjson.Fragment(with_base(entries[0], base))
    elif entries:  # one list, its links put under ``base`` in one pass
        body["feed"]["entry"] = orjson.Fragment(with_base(b"[" + b",".join(entries) + b"]", base))
    else:
        body["feed"].pop("entry", None)
    return orjson.dumps(body)


def error_document(message: str, code: str = "400") -> dict[str, Any]:
    """DHuS's JSON error feed: ``{"feed": {..., "error": {"code", "message"}}}``."""
    body = _namespaces()
    body["error"] = {"code": code, "message": message}
    return {"feed": body}


def render_error(message: str, code: str = "400") -> bytes:
    """The JSON body of an error feed."""
    return orjson.dumps(error_document(message, code))
