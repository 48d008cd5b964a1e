"""Redirects of a source's downloads, followed with the synchroniser's credentials.

CDSE answers ``catalogue…/Products(<id>)/$value`` with a redirect to ``download.dataspace…``
(cdse.md: clients must carry the token across: curl's ``--location-trusted``). httpx, like
requests, drops ``Authorization`` on a redirect to another host, so these requests follow
their redirects here, each hop sent afresh through the client: its credentials (Basic, a
token, or a current OpenID Connect access token) go with it.

Credentials only go where the source's own operator answers: the same host (any port), or a
sibling host under the source host's parent domain (``catalogue.dataspace.copernicus.eu`` ->
``download.dataspace.copernicus.eu``; never a bare top-level parent such as ``eu``), and
never from https down to http. Any other redirect is refused with an error naming it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

MAX_REDIRECTS = 5


class RedirectRefused(Exception):
    """A redirect the credentials may not follow, or too many of them."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def trusted(source: httpx.URL, target: httpx.URL) -> bool:
    """Whether ``source``'s credentials may follow a redirect to ``target``."""
    if source.scheme == "https" and target.scheme != "https":
        return False
    here, there = source.host.lower(), target.host.lower()
    if here == there:
        return True
    if _is_ip(here) or _is_ip(there):
        return False
    parent = here.split(".", 1)[1] if "." in here else ""
    return parent.count(".") >= 1 and there.endswith("." + parent)


@contextmanager
def get_following(
    client: httpx.Client, url: str, headers: dict[str, str], what: str
) -> Iterator[httpx.Response]:
    """:func:`send_following` as a context manager: the response is closed on exit."""
    response = send_following(client, url, headers, what)
    try:
        yield response
    finally:
        response.close()


def send_following(
    client: httpx.Client, url: str, headers: dict[str, str], what: str
) -> httpx.Response:
    """A streaming GET of ``url`` whose trusted redirects are followed with the client's
    credentials: the final response, for the caller to close. RedirectRefused for a redirect
    elsewhere or too many of them; httpx's transport errors pass through."""
    current = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        request = client.build_request("GET", current, headers=headers)
        response = client.send(request, stream=True, follow_redirects=False)
        if not response.is_redirect:
            return response
        response.close()
        target = current.join(response.headers.get("Location", ""))
        if not trusted(current, target):
            raise RedirectRefused(
                f"{what}: the source redirected to {target.scheme}://{target.host}, where its "
                "credentials are not sent (not its host or a sibling host of its domain)"
            )
        current = target
    raise RedirectRefused(f"{what}: more than {MAX_REDIRECTS} redirects")
