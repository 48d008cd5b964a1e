"""Mail errors."""

from __future__ import annotations

from eohub.errors import HubError


class MailError(HubError):
    """A mail could not be sent (server down, refused address...)."""

    code = "mail_error"
