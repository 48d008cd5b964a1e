"""CDSE's error bodies, framework-free (reference: cdse.md sections 1.5 and 1.9).

CDSE runs on FastAPI: an invalid query option is a 422 whose ``detail`` is pydantic's list of
``{"type", "loc", "msg", "input", "ctx"}``; a missing entity is a 404 whose ``detail`` is
``{"message", "request_id"}``. This hub answers every invalid ``$filter`` (syntax, unknown
property or attribute, wrong value type, invalid WKT) with the same 422 list, ``loc``
``["query", "$filter"]`` and ``type`` ``value_error``, since that is how a pydantic validator
on the parameter would report it; other failures (401, 403, 429, 503) get the
``{"message", "request_id"}`` body.
"""

from __future__ import annotations

import uuid
from typing import Any

from eohub.errors import InvalidQuery

# InvalidQuery.field values raised below this package -> the query parameter they concern.
_PARAMETERS = {"cursor": "$skiptoken", "limit": "$top", "offset": "$skip", "sort": "$orderby"}


class OptionError(InvalidQuery):
    """An invalid query option, with pydantic's error ``type``, ``input`` and ``ctx``."""

    code = "invalid_option"

    def __init__(
        self,
        parameter: str,
        kind: str,
        message: str,
        value: object,
        ctx: dict[str, Any] | None = None,
        *,
        where: str = "query",
    ) -> None:
        super().__init__(message, field=parameter)
        self.parameter = parameter
        self.kind = kind
        self.value = value
        self.ctx = ctx
        self.where = where


def validation_detail(error: InvalidQuery, values: dict[str, str]) -> list[dict[str, Any]]:
    """pydantic's 422 ``detail`` list for an invalid option or filter; ``values`` are the
    request's query parameters (for ``input``)."""
    if isinstance(error, OptionError):
        item: dict[str, Any] = {
            "type": error.kind,
            "loc": [error.where, error.parameter],
            "msg": error.user_message,
            "input": error.value,
        }
        if error.ctx is not None:
            item["ctx"] = error.ctx
        return [item]
    field = error.field or "$filter"
    parameter = field if field.startswith("$") else _PARAMETERS.get(field, "$filter")
    message = f"Value error, {error.user_message}"
    return [
        {
            "type": "value_error",
            "loc": ["query", parameter],
            "msg": message,
            "input": values.get(parameter),
            "ctx": {"error": error.user_message},
        }
    ]


def message_detail(message: str) -> dict[str, Any]:
    """``{"detail": {"message", "request_id"}}`` with a fresh request id."""
    return {"detail": {"message": message, "request_id": str(uuid.uuid4())}}
