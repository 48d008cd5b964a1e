"""The cart: products put aside to download together, as Metalink, URL list or script."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.errors import plain_error, status_of
from eohub.api.portal.pages import render
from eohub.api.portal.posted import back, begin, wants_json
from eohub.api.portal.session import hub_of, require_user
from eohub.errors import HubError, NotFound
from eohub.model.user import User
from eohub.workspace import CartItem
from eohub.workspace.downloads import (
    ODATA_SERVICE,
    DownloadItem,
    curl_script,
    download_items,
    metalink,
    url_list,
    wget_script,
)

router = APIRouter(include_in_schema=False)

_UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")


def human_size(size: int) -> str:
    """``1234567`` -> ``1.2 MB`` (powers of 1000, as the DHuS portal shows sizes)."""
    value, unit = float(size), 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{size} bytes" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


@dataclass(frozen=True)
class Row:
    """One line of the cart page."""

    id: str
    name: str
    sensing: str
    size: str
    online: bool
    available: bool


def _row(item: CartItem) -> Row:
    product = item.product
    if product is None:
        return Row(str(item.product_id), str(item.product_id), "", "", False, False)
    return Row(
        str(product.id), product.name, f"{product.sensing.start:%Y-%m-%d %H:%M:%S} UTC",
        human_size(product.size), product.online and product.archive_key is not None, True,
    )  # fmt: skip


@router.get("/cart")
def cart_page(request: Request) -> Response:
    """The user's cart with its download files."""
    user = require_user(request)
    items = hub_of(request).workspace.cart(user.username)
    products = [i.product for i in items if i.product is not None]
    downloads = download_items(products)
    return render(
        request, "cart.html", rows=[_row(i) for i in items],
        total=human_size(sum(p.size for p in products)),
        downloadable=len(downloads), download_size=human_size(sum(d.size for d in downloads)),
    )  # fmt: skip


def _service(request: Request) -> str:
    public = hub_of(request).settings.server.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return base + ODATA_SERVICE


def _downloads(request: Request) -> tuple[User, list[DownloadItem]]:
    user = require_user(request)
    items = hub_of(request).workspace.cart(user.username)
    return user, download_items(i.product for i in items if i.product is not None)


def _file(body: str | bytes, kind: str, name: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # fmt: skip
    return Response(body, media_type=kind, headers=headers)


@router.get("/cart/download.meta4")
def cart_metalink(request: Request) -> Response:
    """The cart as Metalink 4 (each file's URL, size and MD5)."""
    _, items = _downloads(request)
    return _file(metalink(items, _service(request)), "application/metalink4+xml",
                 "eohub-cart.meta4")  # fmt: skip


@router.get("/cart/urls.txt")
def cart_urls(request: Request) -> Response:
    """The cart's download URLs, one per line."""
    _, items = _downloads(request)
    return _file(url_list(items, _service(request)), "text/plain; charset=utf-8",
                 "eohub-cart-urls.txt")  # fmt: skip


@router.get("/cart/download-wget.sh")
def cart_wget(request: Request) -> Response:
    """A bash script downloading the cart with wget (resume, MD5 check)."""
    user, items = _downloads(request)
    script = wget_script(items, _service(request), owner=user.username, made=datetime.now(UTC))
    return _file(script, "text/x-shellscript; charset=utf-8", "eohub-cart-wget.sh")


@router.get("/cart/download-curl.sh")
def cart_curl(request: Request) -> Response:
    """A bash script downloading the cart with curl (resume, MD5 check)."""
    user, items = _downloads(request)
    script = curl_script(items, _service(request), owner=user.username, made=datetime.now(UTC))
    return _file(script, "text/x-shellscript; charset=utf-8", "eohub-cart-curl.sh")


def _product_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise NotFound(f"Product {text[:80]!r} not found") from None


def _failure(request: Request, error: HubError) -> Response:
    if wants_json(request):
        return plain_error(error)
    return render(request, "message.html", status=status_of(error), heading="Cart not changed",
                  text=error.user_message, link="/cart", link_text="Back to the cart")  # fmt: skip


def _done(request: Request, posted: dict[str, str], count: int) -> Response:
    if wants_json(request):
        return JSONResponse({"count": count})
    return RedirectResponse(back(request, posted, "/cart"), status_code=303)


async def _begin(request: Request) -> tuple[dict[str, str], User] | Response:
    return await begin(request, "/cart", lambda error: _failure(request, error))


@router.post("/cart/items")
async def add_item(request: Request) -> Response:
    """Add a product (field ``product_id``); JSON ``{"count": n}`` or a redirect back."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    try:
        pid = _product_id(posted.get("product_id", ""))
        count = await run_in_threadpool(hub_of(request).workspace.add_to_cart, user.username, pid)
    except HubError as exc:
        return _failure(request, exc)
    return _done(request, posted, count)


@router.post("/cart/items/{product_id}/delete")
async def remove_item(request: Request, product_id: str) -> Response:
    """Remove one product from the cart (one not in it: no change)."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    try:
        pid = _product_id(product_id)
    except NotFound as exc:
        return _failure(request, exc)
    workspace = hub_of(request).workspace
    count = await run_in_threadpool(workspace.remove_from_cart, user.username, pid)
    return _done(request, posted, count)


@router.post("/cart/clear")
async def clear(request: Request) -> Response:
    """Empty the cart."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    await run_in_threadpool(hub_of(request).workspace.clear_cart, user.username)
    return _done(request, posted, 0)
