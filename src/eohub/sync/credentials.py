"""How a synchroniser (or a retrieval) authenticates to a remote hub, and its client of one.

- a user name and password: HTTP Basic (DHuS, another eohub), or, with a token URL, an OpenID
  Connect password grant at that endpoint (CDSE: its Keycloak), the access token sent as
  ``Bearer`` and renewed before it expires (with the refresh token, else a new grant);
- a token: sent as ``Bearer`` as it is (it is not renewed).

The OpenID Connect flow is httpx-auth's (token cache, expiry margin, refresh), not written
here.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from httpx_auth import OAuth2ResourceOwnerPasswordCredentials
from httpx_auth._errors import HttpxAuthException

from eohub.sync.cdse_remote import CdseHub
from eohub.sync.model import SourceLogin, SourceProtocol
from eohub.sync.remote import RemoteError, RemoteHub

CDSE_CLIENT = "cdse-public"  # the public client CDSE's scripts and tools use
CDSE_TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
EXPIRY_MARGIN_S = 30.0  # an access token this close to its expiry is renewed first
# OAuth 2 errors (RFC 6749 5.2) that the same request gets again: the credentials, the client.
_FINAL = ("invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type",
          "invalid_request", "invalid_scope")  # fmt: skip


class OidcPassword(OAuth2ResourceOwnerPasswordCredentials):  # type: ignore[misc]
    """httpx-auth's password grant, its failures raised as :class:`RemoteError` (refused
    credentials: not worth retrying; anything else: retried like a failed request)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The request with a current access token (fetched or renewed first if needed)."""
        try:
            yield from super().auth_flow(request)
        except HttpxAuthException as exc:
            text = str(exc).strip()[:300]
            raise RemoteError(
                f"the token endpoint {self.token_url} did not give a token: {text}",
                transient=not text.startswith(_FINAL),
            ) from None


def remote_auth(
    username: str | None,
    password: str | None,
    *,
    token_url: str | None = None,
    client_id: str = CDSE_CLIENT,
    timeout: float = 60.0,
) -> httpx.Auth | tuple[str, str] | None:
    """The ``auth`` of a remote hub's client for these credentials (None: anonymous or a
    token, which the client sends as a header)."""
    if not username:
        return None
    if token_url is None:
        return (username, password or "")
    auth: httpx.Auth = OidcPassword(
        token_url, username, password or "", client_id=client_id, timeout=int(timeout),
        early_expiry=EXPIRY_MARGIN_S,
    )  # fmt: skip
    return auth


def source_client(
    login: SourceLogin,
    protocol: SourceProtocol,
    *,
    client_id: str = CDSE_CLIENT,
    timeout: float = 60.0,
    connections: int = 8,
) -> RemoteHub:
    """A client of the source ``login.url``, signed in with ``login``, speaking ``protocol``
    (what synchronisers and retrievals read sources with)."""
    auth = remote_auth(login.username, login.password, token_url=login.token_url,
                       client_id=client_id, timeout=timeout)  # fmt: skip
    kind = CdseHub if protocol is SourceProtocol.CDSE else RemoteHub
    return kind(login.url, auth=auth, token=login.token, timeout=timeout, connections=connections)
