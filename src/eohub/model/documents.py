"""Product documents: a protocol's rendering of a product, kept beside the product.

A protocol that serves long pages of products in one fixed form (the CDSE OData entity that
mirrors and scripts harvest page after page) registers a :class:`DocumentKind` with the
catalogue at the composition root. The backend renders the document when the product is
written, in the same transaction, and a page of documents is then read, not rendered:
rendering a CDSE entity costs about 50 us a product (datetimes, WKT and GeoJSON of the
footprint), reading the stored bytes a few.

A kind with ``on_write`` False is not rendered when the product is written but when a page
first reads it; the SQLite catalogue then stores it for the next reads (PostGIS renders it on
each read), and ``eohub fsck --repair`` stores every missing one. A backend that does not
store a kind renders it when asked, so every backend answers the same bytes. A stored
document whose ``version`` differs from the kind's (the rendering changed in a new release)
is rendered afresh when read, never served stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from eohub.model.product import Product

_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")


@dataclass(frozen=True)
class DocumentKind:
    """A named, versioned rendering of a product as bytes."""

    name: str  # lower-case identifier: part of the backend's table name
    version: int  # bump when ``render`` changes its output
    render: Callable[[Product], bytes]
    # False: not rendered when the product is written (which would slow every write, e.g. a
    # metadata sync), but when first read; the SQLite catalogue then stores it.
    on_write: bool = True

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"document kind name must match {_NAME.pattern}: {self.name!r}")


# A document holding links (DHuS entries, STAC items) is stored with BASE_MARK where the hub's
# URL goes, since the URL depends on the request (its host, a proxy's public URL). The mark
# contains a NUL character, which no stored product value can hold (the catalogues refuse
# it), and it is replaced only where a JSON "href" string starts with it, so it cannot come
# from the data.
BASE_MARK = "\x00eohub-base\x00"
_HREF = b'"href":"'
_STORED_MARK = _HREF + orjson.dumps(BASE_MARK)[1:-1]


def with_base(document: bytes, base: str) -> bytes:
    """A stored JSON document with its links under ``base`` (as rendered with it)."""
    return document.replace(_STORED_MARK, _HREF + orjson.dumps(base)[1:-1])
