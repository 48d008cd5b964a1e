"""DHuS OpenSearch ``/search``: request parameters -> Query, result page -> a neutral Feed.

Parameters (DHuS 2.x ``SearchController``): ``q`` (required, see :mod:`.lucene`), ``rows``
(default 10, at most 100; a non-integer is ignored), ``start`` (0-based offset), ``orderby``
(``beginposition asc,ingestiondate desc``...; absent or empty: ``ingestiondate desc``) and
``format`` (``json``, any case; anything else gives Atom XML).

What DHuS answers with an HTTP error page rather than an error feed raises
:class:`DhusHttpError`; every other bad query raises InvalidQuery, which the API renders as the
DHuS error feed (HTTP 200, ``{"feed": {"error": {"code": "400", "message": ...}}}``).
The feed layout follows ``opensearch_atom.xsl`` (see :func:`build_feed`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus, unquote_to_bytes

from eohub.errors import HubError, InvalidQuery
from eohub.model.product import Product
from eohub.protocols.dhus.entry import Entry, build_entries
from eohub.protocols.dhus.keywords import SORTABLE
from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.values import xpath_number
from eohub.query.query import DEFAULT_SORT, CountMode, Query, SortKey

MAX_ROWS = 100
DEFAULT_ROWS = 10
# DHuS's front ends refused queries longer than this once encoded as Java's URLEncoder does
# (sentinelsat measured it and warns at the same length).
MAX_ENCODED_QUERY = 3898
HUB_NAME = "eohub Data Hub"
ATOM_NS = "http://www.w3.org/2005/Atom"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"


class DhusHttpError(HubError):
    """A request DHuS refuses with an HTTP error page (not an error feed)."""

    code = "dhus_http_error"

    def __init__(self, message: str, *, status: int, cause: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause


@dataclass(frozen=True)
class SearchRequest:
    """A parsed OpenSearch request."""

    q: str
    query: Query
    rows: int
    start: int
    json: bool
    format: str | None  # the raw ``format`` parameter, echoed in the feed links


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # DHuS reads parameters as ISO-8859-1 (sentinelsat sends so)
        return raw.decode("latin-1")


def decode_params(raw: bytes) -> dict[str, str]:
    """Decode a query string or form body; each value as UTF-8, else Latin-1.

    Written by hand because ``urllib.parse.parse_qsl`` applies one charset to the whole
    string and replaces what it cannot decode, which mangles Latin-1 queries. The first
    occurrence of a parameter wins, as with the servlet API DHuS runs on.
    """
    params: dict[str, str] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        name = _decode(unquote_to_bytes(key.replace(b"+", b" ")))
        if name not in params:
            params[name] = _decode(unquote_to_bytes(value.replace(b"+", b" ")))
    return params


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:  # DHuS ignores a value that is not an integer
        return None


def encoded_length(q: str) -> int:
    """Length of ``q`` once encoded by Java's URLEncoder (what DHuS's limit counts)."""
    return len(quote_plus(q, safe="-_.*").replace("~", "%7E"))


def parse_sort(text: str | None) -> tuple[SortKey, ...]:
    """``orderby`` -> sort keys; absent or empty: newest ingestion first."""
    if text is None or not text.strip():
        return DEFAULT_SORT
    keys: list[SortKey] = []
    for part in text.lower().split(","):
        words = part.split()
        if not words:
            continue
        name, direction = words[0], words[1] if len(words) > 1 else "asc"
        if len(words) > 2 or direction not in ("asc", "desc"):
            raise InvalidQuery(
                f"Can't determine a Sort Order (asc or desc) in sort spec '{part.strip()}'",
                field="orderby",
            )
        if name not in SORTABLE:
            raise InvalidQuery(
                f"can not sort on field '{name}'", field="orderby", choices=sorted(SORTABLE)
            )
        keys.append(SortKey(SORTABLE[name], descending=direction == "desc"))
    return tuple(keys) or DEFAULT_SORT


def parse_request(params: Mapping[str, str], now: datetime) -> SearchRequest:
    """A SearchRequest from decoded parameters; ``now`` resolves ``NOW`` in date math."""
    q = params.get("q")
    if q is None:
        raise DhusHttpError("Required String parameter 'q' is not present", status=400)
    rows = _int_param(params, "rows")
    if rows is not None and rows > MAX_ROWS:
        raise DhusHttpError(
            f"Parameter `rows` exceeds the maximum value ({MAX_ROWS}) in search request",
            status=400,
        )
    length = encoded_length(q)
    if length > MAX_ENCODED_QUERY:
        raise DhusHttpError(
            "Request processing failed: Request Entity Too Large",
            status=500,
            cause=f"QueryTooLongException : Request Entity Too Large: the query is {length} "
            f"characters long once URL-encoded, at most {MAX_ENCODED_QUERY} are accepted",
        )
    rows = DEFAULT_ROWS if rows is None else rows
    start = _int_param(params, "start") or 0
    if rows < 0:
        raise InvalidQuery("'rows' parameter cannot be negative", field="rows")
    if start < 0:
        raise InvalidQuery("'start' parameter cannot be negative", field="start")
    fmt = params.get("format")
    query = Query(
        filter=parse_q(q, now),
        sort=parse_sort(params.get("orderby")),
        limit=rows,
        offset=start,
        count=CountMode.EXACT,
    )
    return SearchRequest(
        q=q,
        query=query,
        rows=rows,
        start=start,
        json=(fmt or "").strip().lower() == "json",
        format=fmt,
    )


@dataclass(frozen=True)
class Feed:
    """A result page in DHuS's feed layout, independent of Atom or JSON."""

    title: str
    subtitle: str
    updated: str
    author: str
    id: str
    total: int
    start: int
    rows: int
    search_terms: str
    links: tuple[tuple[str, str, str], ...]  # (rel, type, href)
    entries: tuple[Entry, ...]


def subtitle(total: int, start: int, rows: int, seconds: float) -> str:
    """DHuS's subtitle line, with its three wordings."""
    done = f"Request done in {xpath_number(seconds)} seconds."
    if total > rows and total - start > rows:
        return f"Displaying {start} to {start + rows - 1} of {total} total results. {done}"
    if total > rows and start > 0:
        return f"Displaying {start} to {total - 1} of {total} total results. {done}"
    return f"Displaying {total} results. {done}"


def _ratio(a: int, b: int) -> float:
    """``a div b`` in XPath: NaN for 0/0, infinity for x/0."""
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def paging_links(base: str, request: SearchRequest, total: int) -> tuple[tuple[str, str, str], ...]:
    """self, first, previous, next, last and search links, computed as DHuS's XSLT does.

    Quirks kept: the query is not escaped, ``orderby`` is not carried, ``previous`` needs
    ``start > rows``, ``last`` starts at ``total - 1``, and ``rows=0`` pages to ``NaN``.
    """
    kind = "application/json" if request.json else "application/xml"
    suffix = f"&format={request.format}" if request.format is not None else ""
    start, rows = request.start, request.rows

    def href(at: str) -> str:
        return f"{base}search?q={request.q}&start={at}&rows={rows}{suffix}"

    ratio = _ratio(start, rows)
    current = float(math.ceil(ratio)) if math.isfinite(ratio) else ratio
    links = [("self", kind, href(str(start))), ("first", kind, href("0"))]
    if start > rows:
        links.append(("previous", kind, href(xpath_number((current - 1) * rows))))
    if total > rows and total - start > rows:
        links.append(("next", kind, href(xpath_number((current + 1) * rows))))
    links.append(("last", kind, href(str(total - 1))))
    links.append(("search", "application/opensearchdescription+xml", "opensearch_description.xml"))
    return tuple(links)


def build_feed(
    request: SearchRequest,
    products: Iterable[Product],
    total: int,
    *,
    base: str,
    seconds: float,
    updated: str,
    hub_name: str = HUB_NAME,
) -> Feed:
    """The feed of one result page; ``base`` is the hub's URL prefix ending with ``/``."""
    return Feed(
        title=f"{hub_name} search results for: {request.q}",
        subtitle=subtitle(total, request.start, request.rows, seconds),
        updated=updated,
        author=hub_name,
        id=f"{base}search?q={request.q}",
        total=total,
        start=request.start,
        rows=request.rows,
        search_terms=request.q,
        links=paging_links(base, request, total),
        entries=tuple(build_entries(list(products), base)),
    )
