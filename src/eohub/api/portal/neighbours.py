"""Previous and next product of a result list, for the product page.

The search page links each result as ``/products/<id>?from=<plain search parameters>&i=<n>``
(``n``: the result's position in the whole list, from 0). The product page runs that search
again with ``offset`` ``n-1`` and three results, and links the neighbours with the same
context; it also links back to the result page that holds the product.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

from eohub.catalogue.service import Catalogue
from eohub.errors import InvalidQuery
from eohub.model.product import Product
from eohub.protocols import plain

MAX_INDEX = 10_000_000
_PAGING = ("offset", "cursor", "count", "limit")
DEFAULT_PAGE = 25


@dataclass(frozen=True)
class Neighbour:
    """A linked product of the list."""

    name: str
    url: str


@dataclass(frozen=True)
class Neighbours:
    """Links around a product of a result list."""

    previous: Neighbour | None
    next: Neighbour | None
    back: str  # the search page showing the product's result page
    position: int  # 1-based, for "result 3"


def search_params(raw: str) -> dict[str, str]:
    """Plain search parameters from a query string (the last value of a repeated one wins)."""
    return dict(parse_qsl(raw, keep_blank_values=False, max_num_fields=100))


def product_url(product_id: uuid.UUID | str, context: str | None, index: int | None) -> str:
    """The product page, with the list context when there is one."""
    if context is None or index is None:
        return f"/products/{product_id}"
    return f"/products/{product_id}?from={quote(context, safe='')}&i={index}"


def results_url(params: Mapping[str, str], index: int) -> str:
    """The search page showing the page of the list that holds result ``index``."""
    try:
        limit = int(params.get("limit", DEFAULT_PAGE))
    except ValueError:
        limit = DEFAULT_PAGE
    limit = limit if 0 < limit <= plain.MAX_LIMIT else DEFAULT_PAGE
    kept = {k: v for k, v in params.items() if k not in _PAGING}
    kept["limit"] = str(limit)
    offset = (index // limit) * limit
    if offset:
        kept["offset"] = str(offset)
    return "/?" + urlencode(kept)


def neighbours(
    catalogue: Catalogue, product: Product, context: str, index: int
) -> Neighbours | None:
    """Previous/next of ``product`` at ``index`` of the search ``context`` (None: no context)."""
    if not 0 <= index <= MAX_INDEX:
        return None
    params = search_params(context)
    window = {k: v for k, v in params.items() if k not in _PAGING}
    window["offset"] = str(max(index - 1, 0))
    window["limit"] = "3" if index > 0 else "2"
    try:
        page = catalogue.search(plain.parse(window))
    except InvalidQuery:
        return None
    items = list(page.items)
    at = index - max(index - 1, 0)
    if at >= len(items) or items[at].id != product.id:
        # The list changed since it was shown: neighbours by position would be wrong.
        return Neighbours(None, None, results_url(params, index), index + 1)
    before = items[at - 1] if at > 0 else None
    after = items[at + 1] if at + 1 < len(items) else None
    return Neighbours(
        Neighbour(before.name, product_url(before.id, context, index - 1)) if before else None,
        Neighbour(after.name, product_url(after.id, context, index + 1)) if after else None,
        results_url(params, index),
        index + 1,
    )
