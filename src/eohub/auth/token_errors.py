"""Errors of tokens and API keys; nothing about HTTP (the API edge maps them)."""

from __future__ import annotations

from typing import Literal

from eohub.errors import HubError, Unauthenticated

GrantFailure = Literal["credentials", "request", "throttled"]


class InvalidToken(Unauthenticated):
    """A bearer token or API key that is malformed, forged, tampered, expired or revoked."""

    code = "invalid_token"


class GrantRejected(HubError):
    """A token request the token endpoint refuses, with its OAuth 2.0 ``error`` code.

    ``failure`` says why: wrong credentials or client, a bad request (unknown grant, used or
    expired refresh token), or a throttled account (``retry_after`` seconds).
    """

    code = "grant_rejected"

    def __init__(
        self,
        error: str,
        description: str,
        *,
        failure: GrantFailure = "request",
        retry_after: int = 0,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.failure = failure
        self.retry_after = retry_after
