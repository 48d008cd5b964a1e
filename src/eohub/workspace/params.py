"""Saved-search parameters: a plain API query string, validated and kept in a canonical form."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from eohub.errors import InvalidQuery
from eohub.protocols import plain
from eohub.query.normalize import normalize_query
from eohub.query.query import Query

MAX_PARAMS = 20_000
"""Longest parameter string (a drawn area of a few hundred points fits)."""
MAX_FIELDS = 100
PAGING = frozenset({"limit", "offset", "cursor", "count"})
"""Parameters of one result page rather than of the search: not saved."""


def split_params(text: str) -> dict[str, str]:
    """``a=1&b=2`` (a leading ``?`` allowed) -> its parameters, paging ones and blanks left out;
    InvalidQuery when it is not a query string. A repeated name keeps its last value (as the
    API does)."""
    text = text.strip().removeprefix("?")
    if len(text) > MAX_PARAMS:
        raise InvalidQuery(
            f"The search is too long to save (at most {MAX_PARAMS:,} characters)", field="params"
        )
    try:
        pairs = parse_qsl(text, max_num_fields=MAX_FIELDS, strict_parsing=bool(text))
    except ValueError:
        raise InvalidQuery(
            "The search parameters are not a query string (name=value&...)", field="params"
        ) from None
    return {name: value for name, value in pairs if name not in PAGING and value.strip()}


def parse_params(text: str) -> Query:
    """The normalised query of a saved parameter string; InvalidQuery when it cannot run."""
    return normalize_query(plain.parse(split_params(text)))


def canonical_params(text: str) -> str:
    """``text`` checked (it must parse and normalise as a plain API query) and re-encoded."""
    params = split_params(text)
    normalize_query(plain.parse(params))
    return urlencode(list(params.items()))
