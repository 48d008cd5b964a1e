"""Product documents: a protocol's rendering of a product, kept beside the product.

A protocol that serves long pages of products in one fixed form (the CDSE OData entity that
mirrors and scripts harvest page after page) registers a :class:`DocumentKind` with the
catalogue at the composition root. The backend renders the document when the product is
written, in the same transaction, and a page of documents is then read, not rendered:
rendering a CDSE entity costs about 50 us a product (datetimes, WKT and GeoJSON of the
footprint), reading the stored bytes a few.

A backend that does not store a kind renders it when asked, so every backend answers the same
bytes. A stored document whose ``version`` differs from the kind's (the rendering changed in a
new release) is rendered afresh when read, never served stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from eohub.model.product import Product

_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")


@dataclass(frozen=True)
class DocumentKind:
    """A named, versioned rendering of a product as bytes."""

    name: str  # lower-case identifier: part of the backend's table name
    version: int  # bump when ``render`` changes its output
    render: Callable[[Product], bytes]

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"document kind name must match {_NAME.pattern}: {self.name!r}")
