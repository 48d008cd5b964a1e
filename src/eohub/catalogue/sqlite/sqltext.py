"""SQL fragments with their bound parameters, and the products columns of each field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eohub.catalogue.sqlite.codec import SqlValue
from eohub.catalogue.sqlite.schema import PRODUCT_COLUMNS
from eohub.errors import InvalidQuery
from eohub.query.fields import FIELDS, Field

_COLUMNS = frozenset(PRODUCT_COLUMNS) - {"pk", "boxes", "extra", "footprint_search"}


@dataclass
class Sql:
    """A fragment of SQL and its positional parameters, in order."""

    text: str
    params: list[SqlValue] = field(default_factory=list)


def column(field_name: str) -> tuple[str, Field]:
    """``p.<column>`` of a (non-attribute) field, and the field."""
    spec = FIELDS.get(field_name)
    name = "footprint_original" if spec.name == "footprint" else spec.name
    if name not in _COLUMNS:
        raise InvalidQuery(
            f"field '{field_name}' is not supported by the SQLite catalogue", field=field_name
        )
    return f"p.{name}", spec


@dataclass(frozen=True)
class Filter:
    """A compiled filter: WHERE fragment, how the plan is steered, fields known non-NULL."""

    sql: Sql
    rtree_driven: bool
    not_null: frozenset[str]


def marks(n: int) -> str:
    """``n`` comma-separated placeholders."""
    return ", ".join("?" * n)


def join(parts: Sequence[Sql], sep: str, *, wrap: bool = False) -> Sql:
    """Fragments joined by ``sep`` (parenthesised if ``wrap`` and more than one)."""
    if len(parts) == 1:
        return parts[0]
    params: list[SqlValue] = []
    for part in parts:
        params += part.params
    text = sep.join(p.text for p in parts)
    return Sql(f"({text})" if wrap else text, params)
