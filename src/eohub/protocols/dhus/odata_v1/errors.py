"""OData v1 errors as DHuS (Apache Olingo 2) reports them: a status, a message, a cause name.

DHuS answers every failure with an OData error document and the header
``cause-message: <ExceptionName> : <message>`` (clients such as sentinelsat read either).
"""

from __future__ import annotations

from eohub.errors import HubError


class ODataError(HubError):
    """An error with its OData status and the DHuS exception name used in ``cause-message``."""

    code = "odata_error"

    def __init__(self, status: int, message: str, *, cause: str = "ODataException") -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause

    @property
    def cause_message(self) -> str:
        """The value of the ``cause-message`` header."""
        return f"{self.cause} : {self.user_message}"


def invalid_key(key: str, entity_set: str) -> ODataError:
    """404 for a key that names nothing (DHuS ``InvalidKeyException``)."""
    return ODataError(
        404, f"Invalid key ({key}) to access {entity_set}", cause="InvalidKeyException"
    )


def bad_request(message: str, *, cause: str = "ODataBadRequestException") -> ODataError:
    """400 for a malformed request."""
    return ODataError(400, message, cause=cause)


def not_found(message: str, *, cause: str = "ODataNotFoundException") -> ODataError:
    """404 for a path that leads nowhere."""
    return ODataError(404, message, cause=cause)
