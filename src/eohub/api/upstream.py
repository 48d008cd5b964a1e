"""``$value`` of products a metadata-only mirror holds no bytes of: a 302 to the same product on
the synchroniser's best source, or its bytes streamed through this hub (the synchroniser's
``--serve-value``). Shared by the DHuS OData v1 and CDSE OData download routes.

Proxied bytes pass this hub's download quotas as its own downloads do (count, volume, largest
file, concurrent flows, bandwidth): the user is admitted before the upstream is asked. A
redirected client downloads from the upstream hub under that hub's quotas."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import anyio
import httpx
from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from eohub.api import download
from eohub.api.sync_state import sync_service
from eohub.auth.quotas import Ticket
from eohub.errors import NotFound
from eohub.sync.model import ValueServing
from eohub.sync.redirects import RedirectRefused, send_following
from eohub.wiring import Hub

# Headers of the upstream answer a client needs to resume and check what it receives.
_PASSED = ("content-length", "content-range", "content-type", "content-disposition", "etag",
           "last-modified", "accept-ranges", "content-md5")  # fmt: skip
CHUNK_SIZE = 1 << 19


Admit = Callable[[int, int], Ticket]


def _find(
    request: Request, product_id: uuid.UUID
) -> tuple[ValueServing, str, httpx.Client, int] | None:
    hub: Hub = request.app.state.hub
    try:
        product = hub.catalogue.get(product_id)
        service = sync_service(request.app)
    except (NotFound, TypeError):  # unknown product; an account store keeping no synchronisers
        return None
    found = service.value_client(product)
    return None if found is None else (*found, product.size)


def _admitted(request: Request, size: int, admit: Admit | None) -> Ticket | None:
    """The quota ticket of the bytes asked for (the whole product, or its Range)."""
    if admit is None or request.method != "GET":
        return None
    start, length = 0, size
    header = request.headers.get("range")
    if header is not None:
        try:
            asked = download.parse_range(header, size)
            start, length = asked.start, asked.length
        except download.RangeError:
            pass  # the upstream answers it (416); counted as the whole product meanwhile
    return admit(start, length)


async def upstream_value(
    request: Request, product_id: uuid.UUID | None, admit: Admit | None = None
) -> Response | None:
    """The redirect or the proxied bytes of a product served from upstream; None when no
    synchroniser serves this product's value (the usual offline answer then applies).

    ``admit(offset, length)`` is the user's download-quota admission of proxied bytes."""
    if product_id is None:
        return None
    found = await anyio.to_thread.run_sync(_find, request, product_id)
    if found is None:
        return None
    mode, url, client, size = found
    if mode is ValueServing.REDIRECT:
        client.close()
        return RedirectResponse(url, status_code=302)
    try:
        ticket = await anyio.to_thread.run_sync(_admitted, request, size, admit)
    except BaseException:
        client.close()
        raise
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("range", "if-range")}

    def start() -> httpx.Response:
        # Redirects followed with the synchroniser's credentials (CDSE: to its download host).
        try:
            upstream = send_following(client, url, headers, "the upstream hub's product")
        except RedirectRefused as exc:
            raise NotFound(str(exc)) from None
        if upstream.status_code not in (200, 206, 416):
            upstream.close()
            raise NotFound(f"the upstream hub answered {upstream.status_code} for this product")
        return upstream

    try:
        upstream = await anyio.to_thread.run_sync(start)
    except BaseException:
        client.close()
        with anyio.CancelScope(shield=True):
            await download.close_ticket(ticket)
        raise

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_raw(CHUNK_SIZE)
        finally:
            upstream.close()
            client.close()

    passed = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED}
    # The download module's streaming applies the ticket's bandwidth limit and frees its slot.
    chunks = download.stream_chunks(body(), ticket)
    return StreamingResponse(chunks, status_code=upstream.status_code, headers=passed)
