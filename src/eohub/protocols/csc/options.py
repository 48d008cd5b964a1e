"""CDSE query options (reference: cdse.md section 1.5), read from the request's parameters.

``$top`` 0..1000 (default 20); ``$skip`` from 0 with no depth cap; ``$count`` true/True/1/
false/False/0; ``$orderby`` on ContentDate/Start, ContentDate/End, PublicationDate,
ModificationDate (also OriginDate), ``asc`` or ``desc``, several keys allowed, the Id always
last; the default order is PublicationDate then Id, so pages never repeat nor skip a
product; ``$expand`` repeatable and comma-separated; ``$select`` a comma list or ``*``;
``$skiptoken`` the keyset cursor a ``@odata.nextLink`` carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eohub.errors import InvalidQuery
from eohub.protocols.csc.errors import OptionError
from eohub.query.normalize import MAX_OFFSET
from eohub.query.query import Cursor, SortKey

DEFAULT_TOP = 20
MAX_TOP = 1000
ORDERABLE = {
    "ContentDate/Start": "sensing_start",
    "ContentDate/End": "sensing_end",
    "PublicationDate": "publication_date",
    "ModificationDate": "modification_date",
    "OriginDate": "ingestion_date",
}
DELETED_ORDERABLE = {"DeletionDate": "deletion_date", "Name": "name"}
DEFAULT_ORDER = (SortKey("publication_date"),)
_TRUE, _FALSE = ("true", "True", "1"), ("false", "False", "0")
MAX_ORDER_KEYS = 4


@dataclass(frozen=True)
class Options:
    """The parsed options of one request; ``raw`` keeps them for the next link."""

    filter: str | None = None
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    orderby: tuple[SortKey, ...] = ()
    expand: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    skiptoken: Cursor | None = None
    raw: tuple[tuple[str, str], ...] = ()


def _integer(name: str, raw: str, low: int, high: int | None) -> int:
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 30:
        raise OptionError(
            name,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
        )
    value = int(text)
    if value < low:
        raise OptionError(
            name,
            "greater_than_equal",
            f"Input should be greater than or equal to {low}",
            raw,
            {"ge": low},
        )
    if high is not None and value > high:
        raise OptionError(
            name,
            "less_than_equal",
            f"Input should be less than or equal to {high}",
            raw,
            {"le": high},
        )
    return value


def _names(values: Iterable[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def parse_orderby(raw: str, keys: dict[str, str]) -> tuple[SortKey, ...]:
    """``ContentDate/Start desc[, PublicationDate]`` -> sort keys."""
    out: list[SortKey] = []
    for item in raw.split(","):
        words = item.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise OptionError(
                "$orderby",
                "value_error",
                f"Value error, Invalid $orderby '{raw[:100]}': use <property> [asc|desc]",
                raw,
            )
        field = keys.get(words[0])
        if field is None:
            shown = ", ".join(keys)
            raise OptionError(
                "$orderby",
                "value_error",
                f"Value error, Cannot order by '{words[0][:60]}' (orderable: {shown})",
                raw,
            )
        out.append(SortKey(field, len(words) == 2 and words[1].lower() == "desc"))
    if len(out) > MAX_ORDER_KEYS:
        raise OptionError(
            "$orderby", "value_error", f"Value error, At most {MAX_ORDER_KEYS} $orderby keys", raw
        )
    return tuple(out)


def parse_options(
    params: Sequence[tuple[str, str]],
    *,
    expandable: Sequence[str],
    selectable: Sequence[str],
    orderable: dict[str, str] = ORDERABLE,
) -> Options:
    """The options of a request's query parameters (unknown parameters are ignored)."""
    last: dict[str, str] = {}
    expands: list[str] = []
    for key, value in params:
        if key == "$expand":
            expands.append(value)
        last[key] = value
    top = DEFAULT_TOP if "$top" not in last else _integer("$top", last["$top"], 0, MAX_TOP)
    skip = 0 if "$skip" not in last else _integer("$skip", last["$skip"], 0, MAX_OFFSET)
    count = False
    if "$count" in last:
        if last["$count"].strip() not in _TRUE + _FALSE:
            raise OptionError(
                "$count",
                "bool_parsing",
                "Input should be a valid boolean, unable to interpret input",
                last["$count"],
            )
        count = last["$count"].strip() in _TRUE
    orderby = parse_orderby(last["$orderby"], orderable) if last.get("$orderby") else ()
    expand = tuple(dict.fromkeys(_names(expands)))
    for name in expand:
        if name not in expandable:
            raise OptionError(
                "$expand",
                "value_error",
                f"Value error, Cannot expand '{name[:60]}' (expandable: {', '.join(expandable)})",
                ",".join(expands),
            )
    select = tuple(_names([last["$select"]])) if last.get("$select") else ()
    for name in select:
        if name != "*" and name not in selectable:
            raise OptionError(
                "$select",
                "value_error",
                f"Value error, Cannot select "
                f"'{name[:60]}' (selectable: {', '.join(selectable)}, *)",
                last["$select"],
            )
    token = None
    if last.get("$skiptoken"):
        if "$skip" in last and skip:
            raise OptionError(
                "$skiptoken",
                "value_error",
                "Value error, Use either $skip or $skiptoken, not both",
                last["$skiptoken"],
            )
        try:
            token = Cursor.decode(last["$skiptoken"])
        except InvalidQuery:
            raise OptionError(
                "$skiptoken",
                "value_error",
                "Value error, Invalid $skiptoken: use the @odata.nextLink of the previous page",
                last["$skiptoken"],
            ) from None
    filter_text = last.get("$filter")
    return Options(
        filter_text if filter_text and filter_text.strip() else None,
        top,
        skip,
        count,
        orderby,
        expand,
        select,
        token,
        tuple(params),
    )
