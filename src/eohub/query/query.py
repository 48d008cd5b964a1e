"""A search request in protocol-neutral form, its result page, and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from eohub.errors import InvalidQuery
from eohub.query.tree import MATCH_ALL, Node, Value

MAX_LIMIT = 10_000  # a single page; front-ends impose their own lower caps (DHuS 100, CDSE 1000)

T = TypeVar("T")


class CountMode(StrEnum):
    """Whether a search also counts every match."""

    NONE = "none"
    EXACT = "exact"


@dataclass(frozen=True)
class SortKey:
    """One sort key. NULL sorts after every value ascending, before every value descending."""

    field: str
    descending: bool = False


ID_TIEBREAK = SortKey("id")
DEFAULT_SORT: tuple[SortKey, ...] = (SortKey("ingestion_date", descending=True),)


@dataclass(frozen=True)
class Cursor:
    """Position after a row: the row's values of every sort key (the last key is ``id``)."""

    sort: tuple[SortKey, ...]
    values: tuple[Value | None, ...]

    def encode(self) -> str:
        """An opaque URL-safe token."""
        payload = {
            "s": [[k.field, int(k.descending)] for k in self.sort],
            "v": [_encode_value(v) for v in self.values],
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token made by :meth:`encode`; anything else is an InvalidQuery."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            sort = tuple(SortKey(str(f), bool(d)) for f, d in payload["s"])
            values = tuple(_decode_value(v) for v in payload["v"])
        except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
            raise InvalidQuery("invalid page token (cursor)", field="cursor") from None
        if len(sort) != len(values) or not sort:
            raise InvalidQuery("invalid page token (cursor)", field="cursor")
        return cls(sort, values)


def _encode_value(value: Value | None) -> Any:
    if isinstance(value, datetime):
        return {"t": value.astimezone(UTC).isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _decode_value(raw: Any) -> Value | None:
    if isinstance(raw, dict):
        if "t" in raw:
            return datetime.fromisoformat(raw["t"]).astimezone(UTC)
        if "u" in raw:
            return uuid.UUID(raw["u"])
        raise ValueError("bad cursor value")
    if raw is None or isinstance(raw, (str, int, float, bool)):
        return raw
    raise ValueError("bad cursor value")


@dataclass(frozen=True)
class Query:
    """Filter, sort, page window and count mode. Normalise before running (normalize.py)."""

    filter: Node = MATCH_ALL
    sort: tuple[SortKey, ...] = DEFAULT_SORT
    limit: int = 10
    offset: int = 0
    after: Cursor | None = None
    count: CountMode = CountMode.NONE


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results.

    ``total`` is the exact number of matches when the query asked for a count, else None.
    ``next`` is the cursor of the next page, or None on the last page.
    """

    items: Sequence[T]
    total: int | None = None
    next: Cursor | None = None
    sort: tuple[SortKey, ...] = field(default=())
