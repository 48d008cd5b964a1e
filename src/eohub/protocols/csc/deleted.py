"""CDSE ``$filter`` of DeletedProducts -> :class:`eohub.query.deleted.DeletedFilter`.

Deleted products keep the columns of their own table, so the filter is a conjunction
(``and``) of: ``Id eq <uuid>``; ``Name`` (the file name, with or without its extension) and
``DeletionCause`` with ``eq``, ``contains``, ``startswith``, ``endswith``; ``Collection/Name
eq``; ``DeletionDate`` with ``eq gt ge lt le``; and conditions on the product as it was:
``ContentDate/Start`` and ``ContentDate/End`` with ``eq ne gt ge lt le`` and attribute lambdas
(``Attributes/OData.CSC.<Type>Attribute/any(...)``), read as Products reads them and joined
among themselves with ``and``, ``or``, ``not``. Anything else is a clear 422, never an empty
answer.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from eohub.errors import InvalidQuery
from eohub.protocols.csc.filter import translate_condition
from eohub.protocols.dhus.odata_v1.filter_parser import (
    Binary,
    Call,
    Expr,
    Lambda,
    Literal,
    Member,
    Unary,
)
from eohub.protocols.dhus.odata_v1.filter_parser import parse_filter as parse_expr
from eohub.query.deleted import DeletedFilter, NameMatch, NameMode

_US = timedelta(microseconds=1)
_FLIP = {"eq": "eq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_FUNCTIONS = {
    "contains": NameMode.CONTAINS,
    "startswith": NameMode.STARTS,
    "endswith": NameMode.ENDS,
}
# The catalogue keeps a deleted product's identifier without extension; CDSE names carry it.
_EXTENSION = re.compile(r"\.(SAFE|SEN3|nc|zip|SAFE\.zip|SEN3\.zip)$", re.IGNORECASE)
SUPPORTED = ("Id eq, Name and DeletionCause eq/contains/startswith/endswith, Collection/Name "
             "eq, DeletionDate eq/gt/ge/lt/le, ContentDate/Start and ContentDate/End "
             "eq/ne/gt/ge/lt/le, Attributes/OData.CSC.<Type>Attribute/any(...)")  # fmt: skip
_CONTENT_DATES = ("ContentDate/Start", "ContentDate/End")
_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")


def _error(message: str) -> InvalidQuery:
    return InvalidQuery(
        f"Invalid filter: {message} (DeletedProducts supports, joined with 'and': {SUPPORTED})",
        field="$filter",
    )


def parse_deleted_filter(text: str | None) -> DeletedFilter:
    """The deleted-products filter of a ``$filter`` (None: every deleted product)."""
    if text is None:
        return DeletedFilter()
    return _translate(parse_expr(text, csc=True))


def _on_product(expr: Expr) -> bool:
    """True for a condition on the product as it was (content dates, attribute lambdas, and
    and/or/not of those)."""
    if isinstance(expr, Lambda):
        return True
    if isinstance(expr, Unary) and expr.op == "not":
        return _on_product(expr.operand)
    if isinstance(expr, Binary) and expr.op in ("and", "or"):
        return _on_product(expr.left) and _on_product(expr.right)
    if isinstance(expr, Binary) and expr.op in _COMPARISONS:
        sides = (expr.left, expr.right)
        return any(isinstance(s, Member) and s.name in _CONTENT_DATES for s in sides)
    return False


def _translate(expr: Expr) -> DeletedFilter:
    if _on_product(expr):
        return DeletedFilter(product=translate_condition(expr))
    if isinstance(expr, Binary) and expr.op == "and":
        return _translate(expr.left).narrow(_translate(expr.right))
    if isinstance(expr, Binary) and expr.op in _FLIP:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal):
            left, right, op = right, left, _FLIP[op]
        if isinstance(left, Member) and isinstance(right, Literal):
            return _compare(left.name, op, right)
    if isinstance(expr, Call) and expr.name.lower() in _FUNCTIONS and len(expr.args) == 2:
        target, text = expr.args
        if (
            isinstance(target, Member)
            and target.name in ("Name", "DeletionCause")
            and isinstance(text, Literal)
            and isinstance(text.value, str)
        ):
            mode = _FUNCTIONS[expr.name.lower()]
            if target.name == "DeletionCause":
                return DeletedFilter(causes=(NameMatch(mode, text.value),))
            needle = _EXTENSION.sub("", text.value) if mode is NameMode.ENDS else text.value
            if not needle:
                return DeletedFilter()
            return DeletedFilter(names=(NameMatch(mode, needle),))
    raise _error("this condition is not supported")


def _compare(name: str, op: str, literal: Literal) -> DeletedFilter:
    value = literal.value
    if name == "Id" and op == "eq":
        try:
            return DeletedFilter(ids=frozenset({uuid.UUID(str(value))}))
        except ValueError:
            raise _error(f"Id expects a UUID, not {str(value)[:60]!r}") from None
    if name == "Name" and op == "eq" and isinstance(value, str):
        return DeletedFilter(names=(NameMatch(NameMode.EQ, _EXTENSION.sub("", value)),))
    if name == "DeletionCause" and op == "eq" and isinstance(value, str):
        return DeletedFilter(causes=(NameMatch(NameMode.EQ, value),))
    if name == "Collection/Name" and op == "eq" and isinstance(value, str):
        return DeletedFilter(collections=frozenset({value}))
    if name == "DeletionDate":
        if not isinstance(value, datetime):
            raise _error(f"DeletionDate expects a date and time, not {str(value)[:60]!r}")
        if op == "eq":
            return DeletedFilter(deleted_from=value, deleted_until=value + _US)
        if op in ("gt", "ge"):
            return DeletedFilter(deleted_from=value + _US if op == "gt" else value)
        return DeletedFilter(deleted_until=value + _US if op == "le" else value)
    raise _error(f"'{name[:60]} {op}' is not supported")
