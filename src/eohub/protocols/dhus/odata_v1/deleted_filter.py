"""``$filter`` and ``$orderby`` of ``DeletedProducts`` -> :mod:`eohub.query.deleted`.

A filter is a conjunction (``and``) of conditions on the deleted products table:
``Id eq '<uuid>'``; ``Name eq 'x'``, ``substringof('x',Name)``, ``startswith(Name,'x')``,
``endswith(Name,'x')`` (also ``contains``, ``tolower(Name)``/``toupper(Name)`` for a
case-insensitive match, and ``... eq true``); ``DeletionDate`` compared with ``eq gt ge lt le``.
Anything else that is valid OData is 501 (not implemented here); malformed input is 400.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.odata_v1.edm import DELETED_PRODUCT
from eohub.protocols.dhus.odata_v1.errors import ODataError, bad_request
from eohub.protocols.dhus.odata_v1.filter_parser import (
    Binary,
    Call,
    Expr,
    Literal,
    Member,
    parse_filter,
)
from eohub.query.deleted import DeletedFilter, NameMatch, NameMode
from eohub.query.query import SortKey

_US = timedelta(microseconds=1)
_NONE = DeletedFilter(ids=frozenset())
_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_FUNCTIONS = {
    "substringof": NameMode.CONTAINS,
    "contains": NameMode.CONTAINS,
    "startswith": NameMode.STARTS,
    "endswith": NameMode.ENDS,
}
_SORTABLE = {"DeletionDate": "deletion_date", "Name": "name"}
SUPPORTED = "Id eq, Name eq, substringof/startswith/endswith on Name, DeletionDate comparisons"


def _error(message: str) -> InvalidQuery:
    return InvalidQuery(f"invalid $filter: {message}", field="$filter")


def _unsupported(what: str) -> ODataError:
    return ODataError(
        501,
        f"{what} is not supported on DeletedProducts (supported, joined with 'and': {SUPPORTED})",
        cause="ODataNotImplementedException",
    )


def _check_property(name: str) -> None:
    if DELETED_PRODUCT.property(name) is None:
        valid = [p.name for p in DELETED_PRODUCT.properties]
        raise InvalidQuery(
            f"invalid $filter: unknown property '{name}' of DeletedProducts",
            field=name,
            choices=valid,
        )


def _name_target(expr: Expr) -> str | None:
    """How ``expr`` reads the name: "" as is, "lower"/"upper" case-folded; None: not the name."""
    if isinstance(expr, Member) and expr.name == "Name":
        return ""
    if isinstance(expr, Call) and expr.name.lower() in ("tolower", "toupper") and expr.args:
        if len(expr.args) == 1 and _name_target(expr.args[0]) == "":
            return expr.name.lower()[2:]
    return None


def _name_match(mode: NameMode, target: str, text: object) -> DeletedFilter:
    if not isinstance(text, str):
        raise _error(f"Name compares with a text literal, not {text!r}")
    if target and text != (text.lower() if target == "lower" else text.upper()):
        return _NONE  # tolower(Name) never equals a text with upper-case letters
    return DeletedFilter(names=(NameMatch(mode, text, ignore_case=bool(target)),))


def _function(call: Call) -> DeletedFilter:
    mode = _FUNCTIONS.get(call.name.lower())
    if mode is None:
        raise _unsupported(f"function '{call.name}' as a condition")
    if len(call.args) != 2:
        raise _error(f"function '{call.name}' takes two arguments")
    first, second = call.args
    target, needle = (second, first) if call.name.lower() == "substringof" else (first, second)
    how = _name_target(target)
    if how is None or not isinstance(needle, Literal):
        raise _unsupported(f"function '{call.name}' on anything but Name and a text literal")
    return _name_match(mode, how, needle.value)


def _date_window(op: str, value: object) -> DeletedFilter:
    if not isinstance(value, datetime):
        raise _error(f"DeletionDate compares with a datetime literal, not {value!r}")
    windows = {
        "eq": (value, value + _US),
        "gt": (value + _US, None),
        "ge": (value, None),
        "lt": (None, value),
        "le": (None, value + _US),
    }
    if op not in windows:
        raise _unsupported(f"DeletionDate {op}")
    low, high = windows[op]
    return DeletedFilter(deleted_from=low, deleted_until=high)


def _identifier(op: str, value: object) -> DeletedFilter:
    if op != "eq":
        raise _unsupported(f"Id {op}")
    if isinstance(value, uuid.UUID):
        return DeletedFilter(ids=frozenset([value]))
    if not isinstance(value, str):
        raise _error(f"Id compares with a text or guid literal, not {value!r}")
    try:
        return DeletedFilter(ids=frozenset([uuid.UUID(value)]))
    except ValueError:
        return _NONE  # no deleted product has an Id that is no UUID


def _compare(op: str, left: Expr, right: Expr) -> DeletedFilter:
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _FLIP[op]
    if not isinstance(right, Literal):
        raise _unsupported("a comparison without a literal value")
    if isinstance(left, Call) and _name_target(left) is None:
        if op not in ("eq", "ne") or right.value is not (op == "eq"):
            raise _unsupported(f"'{left.name}(...) {op} {right.value!r}'")
        return _function(left)
    how = _name_target(left)
    if how is not None:
        if op != "eq":
            raise _unsupported(f"Name {op}")
        return _name_match(NameMode.EQ, how, right.value)
    if not isinstance(left, Member):
        raise _unsupported("this comparison")
    _check_property(left.name)
    if left.name == "DeletionDate":
        return _date_window(op, right.value)
    if left.name == "Id":
        return _identifier(op, right.value)
    raise _unsupported(f"filtering on {left.name}")


def translate_deleted(expr: Expr) -> DeletedFilter:
    """The filter of a parsed ``$filter`` expression."""
    if isinstance(expr, Binary) and expr.op == "and":
        return translate_deleted(expr.left).narrow(translate_deleted(expr.right))
    if isinstance(expr, Binary) and expr.op in _FLIP:
        return _compare(expr.op, expr.left, expr.right)
    if isinstance(expr, Call):
        return _function(expr)
    if isinstance(expr, Literal) and isinstance(expr.value, bool):
        return DeletedFilter() if expr.value else _NONE
    if isinstance(expr, Member):
        _check_property(expr.name)
        raise _error(f"'{expr.name}' is not a condition (true or false)")
    kind = f"'{expr.op}'" if isinstance(expr, Binary) else "this expression"
    raise _unsupported(kind)


def parse_deleted_filter(text: str) -> DeletedFilter:
    """Parse and translate the ``$filter`` of a DeletedProducts request."""
    return translate_deleted(parse_filter(text))


def parse_deleted_orderby(raw: str) -> tuple[SortKey, ...]:
    """``DeletionDate|Name [asc|desc], ...`` -> sort keys of :class:`DeletedQuery`."""
    keys: list[SortKey] = []
    for item in raw.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_request(f"Invalid $orderby item '{item.strip()[:60]}'")
        field = _SORTABLE.get(words[0])
        if field is None:
            if DELETED_PRODUCT.property(words[0]) is None:
                raise bad_request(f"invalid $orderby: unknown property '{words[0][:60]}'")
            raise bad_request(f"Property {words[0]} cannot be used in $orderby on DeletedProducts "
                              "(DeletionDate and Name can)")  # fmt: skip
        if any(k.field == field for k in keys):
            raise bad_request(f"Property {words[0]} appears twice in $orderby")
        keys.append(SortKey(field, descending=len(words) == 2 and words[1] == "desc"))
    return tuple(keys)
