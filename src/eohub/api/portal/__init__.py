"""The web portal: server-rendered pages plus a little JavaScript, served by the hub itself.

Each module holds the routes of one part of the portal; ``install`` adds them, the static
files and the portal's error pages to the application.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from eohub.api.portal import (
    accounts,
    admin,
    apikeys,
    cart,
    hubs,
    login,
    mirroring,
    mirroring_edit,
    password,
    product,
    search,
    searches,
    signup,
)
from eohub.api.portal.pages import STATIC, render
from eohub.api.portal.session import CsrfRejected, LoginRequired, PageForbidden

ROUTERS = [
    login.router,
    search.router,
    product.router,
    signup.router,
    password.router,
    accounts.router,
    apikeys.router,
    admin.router,
    cart.router,
    searches.router,
    hubs.router,
    mirroring.router,
    mirroring_edit.router,  # after mirroring's: a policy named "edit" keeps its preview
]


def install(app: FastAPI) -> None:
    """Add the portal to ``app``."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={_quote(exc.next_url)}", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRejected)
        return render(request, "message.html", status=403, heading="Request refused",
                      text=exc.user_message)  # fmt: skip

    async def page_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        text = exc.user_message
        return render(request, "message.html", status=403, heading="Not allowed", text=text)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(PageForbidden, page_forbidden)


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="/")
