"""The product page ``/products/{id}``: metadata, quicklook, footprint, files, download.

Reached from a search result with the list context (``?from=<search>&i=<n>``), it links the
previous and next products of that list. Seeing it needs what searching needs (anonymous
search, or the SEARCH role); the download links appear for those who may download.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from eohub.api.portal.neighbours import Neighbours, neighbours
from eohub.api.portal.pages import render
from eohub.api.portal.product_files import ODATA, FileListing, list_files
from eohub.api.portal.product_view import human_size, metadata_groups, size_text
from eohub.api.portal.search import may_search
from eohub.api.portal.session import LoginRequired, hub_of, session_user
from eohub.errors import NotFound
from eohub.model.product import Product
from eohub.model.user import Role
from eohub.protocols.dhus.odata_v1.entities import is_online, product_path

router = APIRouter(include_in_schema=False)


def _product(request: Request, product_id: str) -> Product | None:
    try:
        pid = uuid.UUID(product_id)
    except ValueError:
        return None
    try:
        return hub_of(request).catalogue.get(pid)
    except NotFound:
        return None


def may_download(request: Request) -> bool:
    """Whether the visitor may download products (anonymous download, or DOWNLOAD role)."""
    if hub_of(request).settings.auth.anonymous_download:
        return True
    user = session_user(request)
    return user is not None and user.has(Role.DOWNLOAD)


def _download_note(request: Request, product: Product, allowed: bool) -> str | None:
    if not is_online(product):
        retrievals = hub_of(request).retrievals
        if allowed and retrievals is not None and retrievals.available():
            return ("This product is offline on this hub: downloading it asks for its retrieval "
                    "from an upstream hub, and you get a mail when it is online.")  # fmt: skip
        return "This product is offline on this hub: it cannot be downloaded now."
    if allowed:
        return None
    if session_user(request) is None:
        return "Log in to download this product."
    return "Your account may search but not download (it lacks the download role)."


def _retrieval(request: Request, product: Product) -> str | None:
    """The visitor's latest retrieval of the product, in words (None: never asked)."""
    user, retrievals = session_user(request), hub_of(request).retrievals
    if user is None or retrievals is None:
        return None
    status = retrievals.status(product.id, user.username)
    if status is None:
        return None
    when = f"{status.requested:%Y-%m-%d %H:%M} UTC"
    if status.state == "pending":
        return f"Retrieval pending (asked {when}): you get a mail when the product is online."
    if status.state == "done" and is_online(product):
        return f"Retrieved (asked {when}): the product is online again."
    if status.state == "failed":
        return f"Retrieval failed ({status.error}): download the product again to ask again."
    return None


@router.get("/products/{product_id}")
def product_page(request: Request, product_id: str) -> Response:
    """One product; ``from`` (a search's parameters) and ``i`` link its neighbours."""
    if not may_search(request):
        if session_user(request) is None:
            raise LoginRequired(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
        return render(request, "message.html", status=403, heading="Not allowed",
                      text="Your account may not search this hub.")  # fmt: skip
    product = _product(request, product_id)
    if product is None:
        return render(request, "message.html", status=404, heading="Product not found",
                      text="No product of this hub has this id. It may have been removed.",
                      link="/", link_text="Back to the search")  # fmt: skip
    hub = hub_of(request)
    context, index = request.query_params.get("from"), request.query_params.get("i", "")
    around: Neighbours | None = None
    if context is not None and index.isdigit() and len(index) <= 9:
        around = neighbours(hub.catalogue, product, context, int(index))
    allowed = may_download(request)
    files: FileListing = list_files(product, hub.store)
    base = f"{ODATA}/{product_path(product.id)}"
    fp = product.footprint
    return render(
        request,
        "product.html",
        product=product,
        groups=metadata_groups(product),
        size=size_text(product.size),
        checksums=[(c.algorithm, c.value) for c in product.checksums],
        online=is_online(product),
        download_url=f"{base}/$value" if allowed and is_online(product) else None,
        retrieval=_retrieval(request, product),
        download_note=_download_note(request, product, allowed),
        quicklook_url=f"{base}/Products('Quicklook')/$value" if product.quicklook_key else None,
        files=files,
        files_linked=allowed,
        human_size=human_size,
        around=around,
        map_data={
            "footprint": fp.geojson if fp else None,
            "tileUrl": hub.settings.portal.tile_url,
            "tileAttribution": hub.settings.portal.tile_attribution,
        },
    )
