"""The HubError tree: a stable machine `code` and a safe `user_message`; nothing about HTTP.

The API edge maps each class to a status and to its protocol's own error envelope.
"""

from __future__ import annotations

from collections.abc import Sequence


class HubError(Exception):
    """Base of every error eohub raises on purpose."""

    code = "hub_error"

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message
        self.detail = detail or user_message


class InvalidQuery(HubError):
    """A query that cannot be run: syntax, unknown field, wrong type, bad geometry or limit."""

    code = "invalid_query"

    def __init__(
        self,
        user_message: str,
        *,
        field: str | None = None,
        choices: Sequence[str] = (),
        detail: str | None = None,
    ) -> None:
        if choices:
            shown = ", ".join(sorted(choices)[:60])
            more = "" if len(choices) <= 60 else f", ... ({len(choices)} in all)"
            user_message = f"{user_message} (valid choices: {shown}{more})"
        super().__init__(user_message, detail=detail)
        self.field = field
        self.choices = tuple(choices)


class InvalidGeometry(InvalidQuery):
    """A geometry that is not valid WGS84 lon/lat (syntax, ring, range, self-intersection)."""

    code = "invalid_geometry"


class NotFound(HubError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(HubError):
    """The request conflicts with what is stored (e.g. a duplicate)."""

    code = "conflict"


class CatalogueUnavailable(HubError):
    """The catalogue database cannot be reached or stays locked after retries."""

    code = "catalogue_unavailable"


class Unauthenticated(HubError):
    """No credentials, or credentials that do not match an active account."""

    code = "unauthenticated"


class Forbidden(HubError):
    """An authenticated user without the role the request needs."""

    code = "forbidden"


class QuotaExceeded(Forbidden):
    """A download quota of the user is used up (DHuS answers 403 with its message)."""

    code = "quota_exceeded"


class TooManyRequests(HubError):
    """Requests must wait ``retry_after`` seconds (e.g. after repeated failed logins)."""

    code = "too_many_requests"

    def __init__(self, user_message: str, *, retry_after: int) -> None:
        super().__init__(user_message)
        self.retry_after = retry_after
