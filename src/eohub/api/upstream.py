"""``$value`` of products a metadata-only mirror holds no bytes of: a 302 to the same product on
the synchroniser's best source, or its bytes streamed through this hub (the synchroniser's
``--serve-value``). Shared by the DHuS OData v1 and CDSE OData download routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import httpx
from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from eohub.api.sync_state import sync_service
from eohub.errors import NotFound
from eohub.sync.model import ValueServing
from eohub.wiring import Hub

# Headers of the upstream answer a client needs to resume and check what it receives.
_PASSED = ("content-length", "content-range", "content-type", "content-disposition", "etag",
           "last-modified", "accept-ranges", "content-md5")  # fmt: skip
CHUNK_SIZE = 1 << 19


def _find(request: Request, product_id: uuid.UUID) -> tuple[ValueServing, str, httpx.Client] | None:
    hub: Hub = request.app.state.hub
    try:
        product = hub.catalogue.get(product_id)
        service = sync_service(request.app)
    except (NotFound, TypeError):  # unknown product; an account store keeping no synchronisers
        return None
    return service.value_client(product)


async def upstream_value(request: Request, product_id: uuid.UUID | None) -> Response | None:
    """The redirect or the proxied bytes of a product served from upstream; None when no
    synchroniser serves this product's value (the usual offline answer then applies)."""
    if product_id is None:
        return None
    found = await anyio.to_thread.run_sync(_find, request, product_id)
    if found is None:
        return None
    mode, url, client = found
    if mode is ValueServing.REDIRECT:
        client.close()
        return RedirectResponse(url, status_code=302)
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("range", "if-range")}

    def start() -> httpx.Response:
        upstream = client.send(client.build_request("GET", url, headers=headers), stream=True)
        if upstream.status_code not in (200, 206, 416):
            upstream.close()
            client.close()
            raise NotFound(f"the upstream hub answered {upstream.status_code} for this product")
        return upstream

    upstream = await anyio.to_thread.run_sync(start)

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_raw(CHUNK_SIZE)
        finally:
            upstream.close()
            client.close()

    passed = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED}
    return StreamingResponse(body(), status_code=upstream.status_code, headers=passed)
